"""The pytest plugin behind `pytest contracts` and `zscheck contract`.

It adds the `--zs-*` options, provides the session-wide `zs` harness (target, clients, fixture images,
restore on exit), turns contract violations into structured failures, and writes the run's reports.
Contract failures (the target is wrong) and harness errors (we could not run) are told apart here, and
become exit codes 1 and 2.
"""

from __future__ import annotations

import ast
import os
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine

from zscheck.checks import judge_call
from zscheck.conformance.harness import (
    DEFAULT_WORKERS,
    ContractConfig,
    ContractViolation,
    Harness,
    Sent,
    interrupted,
)
from zscheck.credentials import read_password
from zscheck.errors import ZscheckError
from zscheck.fixtures import SetupError
from zscheck.report import Failure, RunReport

_HARNESS = pytest.StashKey[Harness]()
DEFAULT_SHRINK_BUDGET = 30.0  # seconds; a failure is found well before, shrinking only shortens it


@dataclass(frozen=True)
class RunOptions:
    dialect: str = "rest"
    max_examples: int = 40


_options = RunOptions()


def run_options() -> RunOptions:
    """The run's options, for suites that need them at import time (before any fixture exists)."""
    return _options


_REPORT = pytest.StashKey[RunReport]()


def require(zs: Harness, sent: Sent) -> Sent:
    """Fail the test (and let Hypothesis shrink) if the answer broke the contract."""
    zs.probes += 1
    zs.coverage[sent.probe.expected.rule] += 1
    if sent.violations:
        if zs.first_failure is None:
            zs.first_failure = time.monotonic()
        violation = ContractViolation(sent, zs.url)
        zs.raised.append(violation)
        raise violation
    return sent


# CPython 3.11's parser keeps its recursion depth in shared state: two threads building an AST at once
# fail with "SystemError: AST constructor recursion depth mismatch". Hypothesis reads sources (inspect ->
# ast.parse) when a test starts, so the parts `in_parallel` runs must parse one at a time.
_AST_LOCK = threading.Lock()
_ast_parse = ast.parse


def _parse_one_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _AST_LOCK:
        return _ast_parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


def in_parallel(parts: list[Callable[[], None]], workers: int) -> None:
    """Run independent parts of one test `workers` at a time (Hypothesis runs are thread-safe since 6.136),
    so that against a target whose jobs take a while their waits overlap. Every part runs to its end;
    their failures are raised together, one leaf each for the report."""
    if workers <= 1 or len(parts) <= 1:
        for part in parts:
            part()
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(parts))) as pool:
        futures = [pool.submit(part) for part in parts]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        if all(isinstance(e, Exception) for e in errors):
            raise ExceptionGroup(
                f"{len(errors)} of {len(parts)} parts failed", [e for e in errors if isinstance(e, Exception)]
            )
        raise BaseExceptionGroup(f"{len(errors)} of {len(parts)} parts failed", errors)


def part_seed(config: pytest.Config, part: int) -> int:
    """A seed for part `part` of a test split across threads, derived from the run's seed: a replay
    splits the same way and draws the same examples."""
    base = getattr(config.option, "hypothesis_seed", None) or 0
    return (int(base) * 7919 + part) % 2**32


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zscheck", "zscheck conformance")
    group.addoption(
        "--zs-target",
        default=None,
        metavar="URL",
        help="ZStack management node, e.g. http://10.0.0.5:8080 (default: the embedded reference server)",
    )
    group.addoption("--zs-dialect", default="rest", choices=("rest", "documented"), help="dialect to check")
    group.addoption("--zs-account", default="admin", help="account to log in as (default: admin)")
    group.addoption(
        "--zs-password-env",
        default="ZSCHECK_PASSWORD",
        metavar="VAR",
        help="environment variable holding the password (default: ZSCHECK_PASSWORD)",
    )
    group.addoption("--zs-password-file", default=None, metavar="FILE", help="file holding the password")
    group.addoption(
        "--zs-tenant",
        default=None,
        metavar="NAME",
        help="a normal account, for the ownership checks; password from ZSCHECK_TENANT_PASSWORD",
    )
    group.addoption(
        "--zs-image",
        action="append",
        default=[],
        metavar="UUID",
        help="an existing image the run may change (repeatable); it is restored at the end",
    )
    group.addoption(
        "--zs-create-images",
        type=int,
        default=None,
        metavar="N",
        help="fixture images to create (default: --zs-workers)",
    )
    group.addoption("--zs-backup-storage", default=None, metavar="UUID", help="where to create fixture images")
    group.addoption(
        "--zs-image-url",
        default="http://127.0.0.1/zscheck-fixture.qcow2",
        metavar="URL",
        help="URL AddImage downloads fixture images from",
    )
    group.addoption(
        "--zs-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="embedded server only: start it with this fault mode (repeatable)",
    )
    group.addoption("--zs-report-dir", default=None, metavar="DIR", help="where reports go")
    group.addoption(
        "--zs-max-examples",
        type=int,
        default=40,
        metavar="N",
        help="Hypothesis examples per property (default: 40, the nightly profile)",
    )
    group.addoption(
        "--zs-poll-deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long an api-job may stay processing (default: 10, or 1 for the embedded server)",
    )
    group.addoption(
        "--zs-timeout", type=float, default=30.0, metavar="SECONDS", help="seconds any one request may take"
    )
    group.addoption(
        "--zs-no-shrink",
        action="store_true",
        help="report each failing example as found, without searching for the shortest one (a faster verdict)",
    )
    group.addoption(
        "--zs-shrink-budget",
        type=float,
        default=DEFAULT_SHRINK_BUDGET,
        metavar="SECONDS",
        help="time a failing test may spend searching for its shortest form (default: %(default)s)",
    )
    group.addoption(
        "--zs-workers",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help="independent probes in flight at once (default: %(default)s)",
    )
    group.addoption(
        "--zs-timing",
        default="instant",
        choices=("instant", "realistic"),
        help="embedded server only: its jobs finish at once, or after delays like a real node's",
    )
    group.addoption("--zs-timing-seed", type=int, default=0, metavar="N", help="seed of the realistic delays")
    group.addoption("--zs-ca-bundle", default=None, metavar="FILE", help="CA bundle for an HTTPS target")
    group.addoption("--zs-insecure", action="store_true", help="do not verify the HTTPS target's certificate")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _CONFIG["config"] = config
    # A seed is always chosen up front and reported, so any run can be replayed exactly.
    if getattr(config.option, "hypothesis_seed", None) is None and hasattr(config.option, "hypothesis_seed"):
        config.option.hypothesis_seed = random.randrange(2**32)
    settings.register_profile(
        "zscheck",
        max_examples=max(1, config.getoption("--zs-max-examples")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
        database=None,  # replay comes from the seed, not from a local example database
        # Shrinking replays a failure many times over to find its shortest form: against a broken server
        # it is most of the run (a state machine's shortest sequence of steps costs thousands of requests).
        phases=[p for p in Phase if p is not Phase.shrink or not config.getoption("--zs-no-shrink")],
    )
    settings.load_profile("zscheck")
    # Hypothesis has no setting for how long shrinking may take (its engine stops after 300 s). Against a
    # broken build a slow shrink is most of the run, so the budget is ours: the constant is read when
    # shrinking starts, and a run that hit it says so (see `require`).
    engine.MAX_SHRINKING_SECONDS = max(1, int(config.getoption("--zs-shrink-budget")))
    global _options
    _options = RunOptions(config.getoption("--zs-dialect"), max(1, config.getoption("--zs-max-examples")))
    report_dir = Path(
        config.getoption("--zs-report-dir") or f"reports/contract-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    )
    seed = getattr(config.option, "hypothesis_seed", None)
    config.stash[_REPORT] = RunReport(report_dir=report_dir, seed=int(seed) if seed is not None else None)


@pytest.fixture(scope="session")
def zs(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The run's harness: started once, restored and stopped at the end of the session."""
    config = request.config
    report = config.stash[_REPORT]
    verify: bool | str = config.getoption("--zs-ca-bundle") or not config.getoption("--zs-insecure")
    try:
        contract = ContractConfig(
            report_dir=report.report_dir,
            target=config.getoption("--zs-target"),
            dialect=config.getoption("--zs-dialect"),
            account=config.getoption("--zs-account"),
            password=read_password(config.getoption("--zs-password-env"), config.getoption("--zs-password-file")),
            tenant_account=config.getoption("--zs-tenant"),
            tenant_password=os.environ.get("ZSCHECK_TENANT_PASSWORD"),
            images=tuple(config.getoption("--zs-image")),
            create_images=config.getoption("--zs-create-images"),
            backup_storage=config.getoption("--zs-backup-storage"),
            image_url=config.getoption("--zs-image-url"),
            faults=tuple(config.getoption("--zs-fault")),
            poll_deadline=config.getoption("--zs-poll-deadline"),
            timeout=config.getoption("--zs-timeout"),
            verify=verify,
            workers=max(1, config.getoption("--zs-workers")),
            timing=config.getoption("--zs-timing"),
            timing_seed=config.getoption("--zs-timing-seed"),
        )
        harness = Harness(contract)
        config.stash[_HARNESS] = harness
        harness.start()
    except SetupError as exc:
        # Setting up is judged too: a target that breaks the protocol while the harness creates its fixtures
        # (a 202 whose job does not poll, a malformed answer) has failed the contract (exit 1); one that
        # refuses with a proper ErrorCode could not be used (exit 2).
        violations = judge_call(exc.result, "setup") if exc.result is not None else []
        for violation in violations:
            exchange = violation.exchange or (exc.result.final if exc.result is not None else None)
            report.failures.append(
                Failure(
                    test="setup",
                    check=violation.check,
                    message=f"while setting up the run: {violation.message}",
                    expected=violation.expected,
                    actual=violation.actual,
                    rule="setup",
                    curl=exc.result.exchanges[0].request.curl(harness.url) if exc.result is not None else "",
                    response=f"HTTP {exchange.status} {exchange.text(300)}" if exchange is not None else "",
                )
            )
        if not violations:
            report.harness_errors.append(str(exc))
        _stop(config)
        pytest.exit(
            f"zscheck: {'the target broke the contract during setup' if violations else 'could not run'}: {exc}",
            returncode=1 if violations else 2,
        )
    except ZscheckError as exc:
        report.harness_errors.append(str(exc))
        _stop(config)
        pytest.exit(f"zscheck: could not run: {exc}", returncode=2)
    report.target = harness.url if contract.target else f"embedded reference server ({harness.url})"
    report.dialect = contract.dialect
    yield harness
    _stop(config)


def _stop(config: pytest.Config) -> None:
    harness = config.stash.get(_HARNESS, None)
    if harness is None or getattr(harness, "_stopped", False):
        return
    harness._stopped = True  # type: ignore[attr-defined]
    report = config.stash[_REPORT]
    try:
        problems = harness.stop()
    except ZscheckError as exc:
        problems = [str(exc)]
    report.restore_problems.extend(problems)
    report.requests = harness.client.requests_sent if harness.client else 0
    report.probes = harness.probes
    report.coverage = dict(harness.coverage)
    report.not_covered = harness.not_covered()
    report.notes.extend(harness.notes)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    result: pytest.TestReport = outcome.get_result()
    report = item.config.stash[_REPORT]
    if result.when != "call" and not result.failed:
        return
    if result.when == "call":
        report.count(result.outcome)
        harness = item.config.stash.get(_HARNESS, None)
        if harness is not None and harness.first_failure is not None:
            budget = item.config.getoption("--zs-shrink-budget")
            searched = time.monotonic() - harness.first_failure
            if result.failed and searched >= budget:
                report.notes.append(
                    f"{item.nodeid}: the search for the shortest failing example stopped at the "
                    f"{budget:g} s shrink budget; the failure shown may be longer than it needs to be"
                )
            harness.first_failure = None
    harness = item.config.stash.get(_HARNESS, None)
    seen = list(harness.raised) if harness is not None else []
    if harness is not None and result.when == "call":
        harness.raised.clear()
    if call.excinfo is None:
        return
    if isinstance(call.excinfo.value, Flaky) and not isinstance(call.excinfo.value, BaseExceptionGroup):
        # Hypothesis replayed a failing example and the target answered differently: what it saw the first
        # time is still a violation of the contract (a correct server is deterministic here), not a harness
        # error. Each distinct violation seen is reported, with a note that it did not replay.
        unique = {str(v): v for v in seen}
        if unique:
            report.notes.append(f"{item.nodeid}: a failure did not reproduce when Hypothesis replayed it")
            for exc in unique.values():
                _record(report, item.nodeid, exc)
            return
    for exc in _leaves(call.excinfo.value):
        _record(report, item.nodeid, exc)


_PROGRESS = pytest.StashKey[dict[str, float]]()
_CONFIG: dict[str, pytest.Config] = {}  # logreport hooks get no config: the running session's, kept here


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_PROGRESS] = {"total": len(session.items), "done": 0, "started": time.monotonic()}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A progress line after each suite: tests done, requests sent, failures so far, an estimate of the time
    left (plain lines: they read the same in a terminal and in a CI log)."""
    if report.when != "teardown":
        return
    config = _CONFIG.get("config")
    if config is None or _PROGRESS not in config.stash or _REPORT not in config.stash:
        return
    progress, run = config.stash[_PROGRESS], config.stash[_REPORT]
    progress["done"] += 1
    harness = config.stash.get(_HARNESS, None)
    sent = harness.client.requests_sent if harness is not None and harness.client is not None else 0
    elapsed = time.monotonic() - progress["started"]
    done, total = int(progress["done"]), int(progress["total"])
    left = elapsed / done * (total - done) if done else 0.0
    writer = config.pluginmanager.get_plugin("terminalreporter")
    if writer is not None and total:
        if config.option.verbose < 0:
            writer.write("\n")  # -q leaves the cursor after a progress dot
        else:
            writer.ensure_newline()
        writer.write_line(
            f"contract: {done}/{total} suites, {sent} requests, {len(run.failures)} failures, "
            f"{elapsed:.0f} s elapsed, about {left:.0f} s left"
        )


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """Hypothesis reports several distinct bugs as an exception group: each is a failure of its own."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _record(report: RunReport, test: str, exc: BaseException) -> None:
    notes = "\n".join(getattr(exc, "__notes__", []))
    if isinstance(exc, ContractViolation):
        for violation in exc.sent.violations:
            exchange = violation.exchange or exc.sent.result.final
            report.failures.append(
                Failure(
                    test=test,
                    check=violation.check,
                    message=violation.message,
                    expected=violation.expected,
                    actual=violation.actual,
                    rule=exc.sent.probe.expected.rule,
                    curl=exc.sent.result.exchanges[0].request.curl(exc.base_url),
                    response=f"HTTP {exchange.status} {exchange.text(300)}"
                    if exchange.error is None
                    else exchange.error,
                    steps=notes,
                )
            )
    elif isinstance(exc, AssertionError):
        report.failures.append(
            Failure(
                test=test,
                check="assertion",
                message=str(exc).splitlines()[0][:300] if str(exc) else "assertion failed",
                steps=notes,
            )
        )
    elif not isinstance(exc, pytest.skip.Exception):
        report.harness_errors.append(f"{test}: {type(exc).__name__}: {exc}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    _stop(config)
    report = config.stash.get(_REPORT, None)
    if report is None or config.option.collectonly:
        return  # nothing ran: no verdict to write
    report.finish()
    if interrupted():  # violations already found stand; otherwise a cut-short run has no verdict
        report.harness_errors.append("interrupted by a signal before the run could finish")
    if report.failures:
        session.exitstatus = 1
    elif report.harness_errors or report.restore_problems or exitstatus not in (0, 5):
        session.exitstatus = 2
    else:
        session.exitstatus = 0
    report.exit_code = int(session.exitstatus)
    report.write()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None or config.option.collectonly:
        return
    for line in report.summary_lines():
        terminalreporter.write_line(line)
