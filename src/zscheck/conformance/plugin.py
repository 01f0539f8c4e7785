"""The pytest plugin behind `pytest contracts` and `zscheck contract`.

It adds the `--zs-*` options, provides the session-wide `zs` harness (target, clients, fixture images,
restore on exit), turns contract violations into structured failures, and writes the run's reports.
Contract failures (the target is wrong) and harness errors (we could not run) are told apart here, and
become exit codes 1 and 2.
"""

from __future__ import annotations

import ast
import contextvars
import dataclasses
import json
import random
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine

from zscheck import options
from zscheck._models import ApiResult
from zscheck.checks.setup import judge_setup
from zscheck.conformance.harness import CURRENT_TEST, ContractViolation, Harness, RawStep, Sent, ShrinkClock
from zscheck.conformance.plan import ContractPlan, Wiring
from zscheck.control import RunControl
from zscheck.errors import ConfigError, SetupFailed, ZscheckError
from zscheck.events import Event, SuiteProgress, VerdictReached, ViolationFound
from zscheck.report import DocumentError, Failure, RunReport
from zscheck.report.baseline import Baseline
from zscheck.report.documents import RawRequest
from zscheck.report.findings import operation, with_fingerprint
from zscheck.report.reproducer import Request, Where, script

_HARNESS = pytest.StashKey[Harness]()
_PLAN = pytest.StashKey[ContractPlan]()
_SHRINK = pytest.StashKey[ShrinkClock]()
WIRING = "zscheck-wiring"  # the name a session without `zscheck contract` registers its own `Wiring` under


@dataclass
class _Active:
    """The running session's plan, for suites that need it at import time (before any fixture exists), and
    its config, for the hooks pytest calls without one. One pytest session runs at a time in a process."""

    config: pytest.Config | None = None
    plan: ContractPlan | None = None


_active = _Active()


def run_options() -> ContractPlan:
    """The run's plan, for suites that need it at import time (before any fixture exists)."""
    assert _active.plan is not None, "the zscheck plugin is not configured"
    return _active.plan


def wiring(config: pytest.Config) -> Wiring:
    for found in config.pluginmanager.get_plugins():
        if isinstance(found, Wiring):
            return found
    own = Wiring(RunControl(), lambda event: _write_line(config, event))
    config.pluginmanager.register(own, WIRING)
    return own


def _write_line(config: pytest.Config, event: Event) -> None:
    writer = config.pluginmanager.get_plugin("terminalreporter")
    if writer is not None:
        writer.write_line(event.line())


def _emit(config: pytest.Config, event: Event) -> None:
    """An event to the run's handler, on a line of its own after pytest's own output."""
    writer = config.pluginmanager.get_plugin("terminalreporter")
    if writer is not None:
        if config.option.verbose < 0:
            writer.write("\n")  # -q leaves the cursor after a progress dot
        else:
            writer.ensure_newline()
        writer.flush()
    wiring(config).emit(event)


_REPORT = pytest.StashKey[RunReport]()


def require(zs: Harness, sent: Sent) -> Sent:
    """Fail the test (and let Hypothesis shrink) if the answer broke the contract."""
    zs.probes += 1
    zs.coverage[sent.probe.expected.rule] += 1
    if sent.violations:
        raise zs.violation(sent)  # recorded against the test this thread works for
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
            # In a copy of the context here too: what a part sets there (the calls a state machine keeps,
            # `Harness.keep_calls`) ends with it, never reaching the tests after it in this thread.
            contextvars.copy_context().run(part)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(parts))) as pool:
        # Each part in a copy of the caller's context: its violations are the caller's test's.
        futures = [pool.submit(contextvars.copy_context().run, part) for part in parts]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        if all(isinstance(e, Exception) for e in errors):
            raise ExceptionGroup(
                f"{len(errors)} of {len(parts)} parts failed", [e for e in errors if isinstance(e, Exception)]
            )
        raise BaseExceptionGroup(f"{len(errors)} of {len(parts)} parts failed", errors)


@dataclass
class _Beside:
    """A test started at the start of the session, in a thread of its own, and joined when pytest reaches it."""

    nodeid: str
    started: float  # monotonic
    thread: threading.Thread | None = None
    error: BaseException | None = None
    finished: float | None = None


_BESIDE_WORK = "_zscheck_beside"  # the attribute a `beside` test carries: (work, when)
_BESIDE = pytest.StashKey[dict[str, _Beside]]()
_SELECTED = pytest.StashKey[list[pytest.Item]]()


def beside(when: Callable[[Harness], bool]) -> Callable[[Callable[[Harness], None]], Callable[..., None]]:
    """Run a test beside the others: when the run's harness has started and `when(zs)` holds, its body
    starts in a thread of its own, and the test, when pytest reaches it, waits for it and fails with what
    it raised. For a suite that mostly waits on the target (the state machine's lanes each wait for their
    jobs in order) and touches only what is its own (`when` says it can have images of its own): its
    waits overlap the other suites' instead of adding to the run. The run's bound on requests in flight
    (`--workers`) holds for all of them together; violations are recorded against this test.
    Otherwise (`when` false, or the test run alone with its own harness) the body runs as any test's."""

    def wrap(work: Callable[[Harness], None]) -> Callable[..., None]:
        def test(zs: Harness, request: pytest.FixtureRequest) -> None:
            running = request.config.stash.get(_BESIDE, {}).get(request.node.nodeid)
            if running is None:
                work(zs)
                return
            if running.thread is not None:
                running.thread.join()
            if running.error is not None:
                raise running.error

        test.__name__, test.__qualname__ = work.__name__, work.__qualname__
        test.__module__, test.__doc__ = work.__module__, work.__doc__
        setattr(test, _BESIDE_WORK, (work, when))
        return test

    return wrap


def _start_beside(config: pytest.Config, harness: Harness) -> None:
    """Start every selected `beside` test whose condition holds, each in a daemon thread whose context names
    it (CURRENT_TEST), so that what it finds is its own."""
    running = config.stash.setdefault(_BESIDE, {})
    for item in config.stash.get(_SELECTED, []):
        found = getattr(getattr(item, "obj", None), _BESIDE_WORK, None)
        if found is None or item.nodeid in running:
            continue
        work, when = found
        if not when(harness):
            continue

        def body(entry: _Beside, work: Callable[[Harness], None] = work) -> None:
            CURRENT_TEST.set(entry.nodeid)
            try:
                work(harness)
            except BaseException as exc:  # raised again in the test, where pytest reports it
                entry.error = exc
            finally:
                entry.finished = time.monotonic()

        entry = running[item.nodeid] = _Beside(item.nodeid, started=time.monotonic())
        entry.thread = threading.Thread(
            target=contextvars.copy_context().run, args=(body, entry), name=f"zscheck-beside {item.nodeid}", daemon=True
        )
        entry.thread.start()


def _join_beside(config: pytest.Config) -> None:
    """Wait for every test still running beside: nothing is restored while one of them still sends."""
    for entry in config.stash.get(_BESIDE, {}).values():
        if entry.thread is not None:
            entry.thread.join()


def harness_of(config: pytest.Config) -> Harness | None:
    """The session's harness, once the `zs` fixture has started it."""
    return config.stash.get(_HARNESS, None)


def beside_times(config: pytest.Config) -> dict[str, tuple[float, float | None]]:
    """When each test that ran beside started and finished (monotonic), for tests and reports."""
    return {k: (v.started, v.finished) for k, v in config.stash.get(_BESIDE, {}).items()}


def part_seed(config: pytest.Config, part: int) -> int:
    """A seed for part `part` of a test split across threads, derived from the run's seed: a replay
    splits the same way and draws the same examples."""
    base = getattr(config.option, "hypothesis_seed", None) or 0
    return (int(base) * 7919 + part) % 2**32


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zscheck", "zscheck conformance (the options of `zscheck contract`, as --zs-*)")
    options.add_pytest_options(group)


def _plan(config: pytest.Config) -> ContractPlan:
    """The run's plan: the one `zscheck contract` wrote (`--zs-plan`), else built from the --zs-* options."""
    given = config.getoption("--zs-plan")
    if given:
        text = given
        if given.startswith("@"):
            try:
                text = Path(given[1:]).read_text()
            except OSError as exc:
                raise ConfigError(f"--zs-plan {given}: cannot read it ({exc.strerror})") from None
        return ContractPlan.from_json(text).validate()
    seed = getattr(config.option, "hypothesis_seed", None)
    plan = options.contract_plan(
        lambda dest: config.getoption(f"zs_{dest}", None), seed=None if seed is None else int(seed)
    )
    timing_seed = config.getoption("zs_timing_seed", None)
    return dataclasses.replace(plan, timing_seed=timing_seed).validate()


def hypothesis_phases(plan: ContractPlan) -> list[Phase]:
    """Hypothesis' phases for the plan: all of them, less the search for a shortest form with --no-shrink."""
    return [p for p in Phase if p is not Phase.shrink or plan.shrink]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        plan = _plan(config)
    except ZscheckError as exc:
        raise pytest.UsageError(str(exc)) from None
    # A seed is always chosen up front and reported, so any run can be replayed exactly.
    if hasattr(config.option, "hypothesis_seed"):
        if config.option.hypothesis_seed is None:
            config.option.hypothesis_seed = plan.seed if plan.seed is not None else random.randrange(2**32)
        plan = dataclasses.replace(plan, seed=int(config.option.hypothesis_seed))
    config.stash[_PLAN] = plan
    _active.config, _active.plan = config, plan
    wiring(config)
    settings.register_profile(
        "zscheck",
        max_examples=plan.max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
        database=None,  # replay comes from the seed, not from a local example database
        # Hypothesis loads its "ci" profile where CI is set, and a profile inherits it: derandomized, the
        # run's seed was ignored there and every state-machine lane drew the same examples (a nightly CI
        # run missed a lost update that the same seed caught elsewhere). The seed decides, everywhere.
        derandomize=False,
        # Shrinking replays a failure many times over to find its shortest form: against a broken server
        # it is most of the run (a state machine's shortest sequence of steps costs thousands of requests).
        phases=hypothesis_phases(plan),
    )
    settings.load_profile("zscheck")
    # Hypothesis has no setting for how long shrinking may take (its engine stops after 300 s). Against a
    # broken build a slow shrink is most of the run, so the budget is ours: the constant is read when
    # shrinking starts (as `perf_counter() + MAX_SHRINKING_SECONDS`), and the clock answers with what is
    # left of the run's budget then; a run that hit it says so (see pytest_runtest_makereport).
    config.stash[_SHRINK] = ShrinkClock(max(1.0, float(plan.shrink_budget)))
    engine.MAX_SHRINKING_SECONDS = config.stash[_SHRINK]  # type: ignore[assignment]
    config.stash[_REPORT] = RunReport(report_dir=plan.report_dir, seed=plan.seed, replay=plan.command_line())
    if plan.baseline is not None:
        try:
            config.stash[_REPORT].baseline = Baseline.read(Path(plan.baseline), missing_ok=plan.baseline_update)
        except DocumentError as exc:
            raise pytest.UsageError(f"--baseline {exc}") from None
    # Named from the start: a run that cannot even set up still says which target it could not run against.
    config.stash[_REPORT].target = plan.target.url or "embedded reference server"
    config.stash[_REPORT].dialect = plan.target.dialect
    # JUnit is ours, one testcase per finding (pytest's own has one per test, a Hypothesis retry's
    # traceback in each); a session started by `zscheck contract` keeps pytest's tracebacks out of the
    # terminal too: they go to tracebacks.txt, the findings to the terminal.
    config.stash[_REPORT].junit = Path(config.option.xmlpath) if getattr(config.option, "xmlpath", None) else None
    config.option.xmlpath = None
    if config.getoption("--zs-plan") and getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "no"


@pytest.fixture(scope="session")
def zs(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The run's harness: started once, restored and stopped at the end of the session."""
    config = request.config
    report = config.stash[_REPORT]
    plan = config.stash[_PLAN]
    report.target, report.dialect = plan.target.url or "embedded reference server", plan.target.dialect
    report.target_url, report.faults, report.timing = plan.target.url, plan.target.faults, plan.target.timing
    report.account = plan.target.account
    harness = Harness(plan, control=wiring(config).control, shrink=config.stash[_SHRINK])
    config.stash[_HARNESS] = harness
    try:
        harness.start()
    except SetupFailed as exc:
        # Setting up is judged too: a target that breaks the protocol while the harness logs in or creates
        # its fixtures (a 202 whose job does not poll, a malformed answer) has failed the contract (exit 1);
        # one that refuses with a proper ErrorCode could not be used (exit 2).
        # (A rule broken across calls, such as two logins answered with one session, comes found.)
        violations = getattr(exc, "violations", None) or judge_setup(exc)
        result = exc.result if isinstance(exc.result, ApiResult) else None
        for violation in violations:
            exchange = violation.exchange or (result.final if result is not None else None)
            first_request = result.exchanges[0].request if result is not None else None
            failure = Failure(
                test="setup",
                check=violation.check,
                message=f"while setting up the run: {violation.message}",
                expected=violation.expected,
                actual=violation.actual,
                rule="setup",
                curl=first_request.curl(harness.url or plan.target.url or "") if first_request is not None else "",
                response=f"HTTP {exchange.status} {exchange.text(300)}" if exchange is not None else "",
                operation=_operation(first_request) if first_request is not None else "",
            )
            report.failures.append(_finish(failure, plan, first_request))
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
    report.target = plan.target.label(harness.url)
    report.dialect = plan.target.dialect
    _start_beside(config, harness)
    yield harness
    _stop(config)


def _stop(config: pytest.Config) -> None:
    harness = config.stash.get(_HARNESS, None)
    if harness is None or getattr(harness, "_stopped", False):
        return
    harness._stopped = True  # type: ignore[attr-defined]
    _join_beside(config)
    report = config.stash[_REPORT]
    try:
        problems = harness.stop()
    except ZscheckError as exc:
        problems = [str(exc)]
    report.restore_problems.extend(problems)
    report.requests = harness.requests_sent
    report.probes = harness.probes
    report.coverage = dict(harness.coverage)
    report.not_covered = harness.not_covered()
    report.notes.extend(harness.notes)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    result: pytest.TestReport = outcome.get_result()
    report = item.config.stash[_REPORT]
    if result.when == "call" or (result.when == "setup" and result.skipped):  # each test once, for JUnit
        report.tests.append((item.nodeid, result.outcome))
    if result.when != "call" and not result.failed:
        return
    if result.failed and result.longreprtext:
        report.tracebacks.append((item.nodeid, result.longreprtext))
    if result.when == "call":
        report.count(result.outcome)
        harness = item.config.stash.get(_HARNESS, None)
        # The budget is the run's, not each test's: a broken build fails several tests, and each searching
        # for the whole budget would make the run cost a multiple of a clean one. A test that ran beside
        # the others searched until its thread finished, not until pytest reached it.
        ran = item.config.stash.get(_BESIDE, {}).get(item.nodeid)
        searched = harness.shrink.finish(item.nodeid, ran.finished if ran else None) if harness else None
        if searched is not None and result.failed and searched[0] >= searched[1]:
            report.notes.append(
                f"{item.nodeid}: the search for the shortest failing example stopped at the "
                f"{int(searched[1])} s left of the shrink budget; the failure shown may be longer than it needs to be"
            )
    harness = item.config.stash.get(_HARNESS, None)
    seen = list(harness.raised.get(item.nodeid, [])) if harness is not None else []
    if harness is not None and result.when == "call":
        harness.raised.pop(item.nodeid, None)
    if call.excinfo is None:
        return
    leaves = list(_leaves(call.excinfo.value))
    if any(isinstance(leaf, Flaky) for leaf in leaves):
        # Hypothesis replayed a failing example and the target answered differently (or, in a state
        # machine, the replay took another number of steps): what it saw the first time is still a
        # violation of the contract, not a harness error. Each distinct violation seen is reported, with a
        # note that it did not replay; so are the other parts' failures (parallel lanes fail as a group).
        unique = {str(v): v for v in seen}
        if unique:
            report.notes.append(f"{item.nodeid}: a failure did not reproduce when Hypothesis replayed it")
            others = [leaf for leaf in leaves if not isinstance(leaf, Flaky | ContractViolation)]
            for exc in [*unique.values(), *others]:
                _record(report, item.nodeid, exc, item.config.stash[_PLAN])
            return
    for exc in leaves:
        _record(report, item.nodeid, exc, item.config.stash[_PLAN])


_PROGRESS = pytest.StashKey[dict[str, float]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_PROGRESS] = {"total": len(session.items), "done": 0, "started": time.monotonic()}
    session.config.stash[_SELECTED] = list(session.items)  # the `beside` tests start only if selected


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """The test the main thread works for, named in its context (see CURRENT_TEST)."""
    token = CURRENT_TEST.set(item.nodeid)
    try:
        yield
    finally:
        CURRENT_TEST.reset(token)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A progress event after each suite: tests done, requests sent, failures so far, an estimate of the
    time left (as plain lines, they read the same in a terminal and in a CI log)."""
    if report.when != "teardown":
        return
    config = _active.config
    if config is None or _PROGRESS not in config.stash or _REPORT not in config.stash:
        return
    progress, run = config.stash[_PROGRESS], config.stash[_REPORT]
    progress["done"] += 1
    harness = config.stash.get(_HARNESS, None)
    sent = harness.requests_sent if harness is not None else 0
    elapsed = time.monotonic() - progress["started"]
    done, total = int(progress["done"]), int(progress["total"])
    if total:
        left = elapsed / done * (total - done) if done else 0.0
        _emit(config, SuiteProgress("contract", done, total, sent, len(run.failures), elapsed, left))


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """Hypothesis reports several distinct bugs as an exception group: each is a failure of its own."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _operation(request: Any) -> str:
    return operation(request.method, request.path)


def raw_requests(steps: Iterable[RawStep]) -> list[RawRequest]:
    """An exchange sequence as the report keeps it: each request with its secrets out."""
    out = []
    for step in steps:
        body = step.request.redacted_body()
        out.append(
            RawRequest(
                method=step.request.method,
                path=step.request.path,
                headers=step.request.redacted_headers(),
                body=None if body is None else body.decode("utf-8", errors="replace"),
                follow=step.follow,
                schema=step.schema,
            )
        )
    return out


def _finish(failure: Failure, plan: ContractPlan, request: Any | None) -> Failure:
    """The failure with its fingerprint and, when it came from a request, the script that reproduces it
    (the whole raw sequence when there is one)."""
    failure = with_fingerprint(failure)
    if request is not None:
        body = request.redacted_body()
        target = plan.target
        where = Where(target.url, target.faults, target.dialect, target.account, target.password_env, target.image_url)
        title = [
            f"zscheck finding {failure.fingerprint}: {failure.check}: {failure.message}",
            f"  expected {failure.expected}, got {failure.actual}",
        ]
        if failure.facets.get("image") in ("foreign", "tenants-own"):
            title.append("  (the run sent this as a normal account: set ZSTACK_ACCOUNT and the password to one)")
        steps = [Request(r.method, r.path, r.headers, r.body, r.follow, r.schema) for r in failure.raw]
        last = (
            steps.pop()
            if steps
            else Request(
                request.method,
                request.path,
                request.redacted_headers(),
                None if body is None else body.decode("utf-8", errors="replace"),
            )
        )
        failure.reproducer = script(last, where, image=failure.image, title=title, before=steps)
    return failure


def _record(report: RunReport, test: str, exc: BaseException, plan: ContractPlan) -> None:
    notes = "\n".join(getattr(exc, "__notes__", []))
    if isinstance(exc, ContractViolation):
        request = exc.sent.result.exchanges[0].request
        for violation in exc.sent.violations:
            exchange = violation.exchange or exc.sent.result.final
            report.failures.append(
                _finish(
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
                        operation=_operation(request),
                        image=exc.sent.probe.image_uuid if exc.sent.probe.image_uuid in request.path else "",
                        event=json.dumps(exc.sent.probe.event),
                        facets=dataclasses.asdict(exc.sent.facets),
                        raw=raw_requests(exc.sent.raw),
                    ),
                    plan,
                    request,
                )
            )
    elif isinstance(exc, AssertionError):
        report.failures.append(
            with_fingerprint(
                Failure(
                    test=test,
                    check="assertion",
                    message=str(exc).splitlines()[0][:300] if str(exc) else "assertion failed",
                    steps=notes,
                )
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
    if wiring(config).control.interrupted:  # violations already found stand; otherwise a cut-short run has no verdict
        report.harness_errors.append("interrupted by a signal before the run could finish")
    if report.failing():  # known findings (--baseline) are reported, not failing
        session.exitstatus = 1
    elif (
        report.harness_errors or report.restore_problems or exitstatus not in ((0, 1, 5) if report.failures else (0, 5))
    ):
        session.exitstatus = 2
    else:
        session.exitstatus = 0
    report.exit_code = int(session.exitstatus)
    if report.baseline is not None and config.stash[_PLAN].baseline_update:  # the verdict was the old file's
        written = report.baseline.updated(report.findings())
        written.write()
        report.notes.append(f"baseline {written.path} written: {len(written.entries)} finding(s) accepted")
    report.write()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None or config.option.collectonly:
        return
    for finding in report.findings():  # one per root cause, a few lines each; the rest is in the files
        known = f" - {finding.status.upper()} ({finding.reason})" if finding.status != "new" else ""
        text = (
            f"[{finding.id}] {finding.message} ({finding.count}x in {len(finding.tests)} test(s)){known}\n"
            f"  expected {finding.expected or '-'}, got {finding.actual or '-'}\n"
            f"  replay: {report.replay_finding(finding)}"
        )
        _emit(config, ViolationFound("contract", finding.check, text))
    event = VerdictReached(
        "contract",
        report.verdict,
        report.target or "no target",
        seed=report.seed,
        details=tuple(report.details()),
        report=str(report.report_dir),
        reason=report.harness_errors[0] if report.harness_errors else None,
    )
    _emit(config, event)
