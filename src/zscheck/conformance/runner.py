"""`zscheck contract`: the conformance suites in `contracts/`, run by pytest in this process.

The command is a front for `pytest contracts --zs-...`: one code path, so a team folding the suites into
its own pytest run gets exactly what the command checks. Secrets never travel on pytest's command line:
the plugin reads the password from the environment variable or file it is told about.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from zscheck.conformance.harness import DEFAULT_WORKERS, ContractConfig, Harness, interrupted, request_interrupt
from zscheck.conformance.st_report import run_schemathesis
from zscheck.credentials import read_password
from zscheck.errors import ConfigError, ZscheckError
from zscheck.fixtures import restore_from

CONTRACTS_DIR = Path(__file__).resolve().parents[3] / "contracts"
NIGHTLY_MAX_EXAMPLES = 100


@dataclass(frozen=True)
class ContractRun:
    report_dir: Path
    target: str | None = None
    dialect: str = "rest"
    account: str = "admin"
    password_env: str = "ZSCHECK_PASSWORD"
    password_file: str | None = None
    tenant: str | None = None
    images: tuple[str, ...] = ()
    create_images: int | None = None  # None: as many as `workers`
    backup_storage: str | None = None
    image_url: str | None = None
    max_examples: int = NIGHTLY_MAX_EXAMPLES
    seed: int | None = None
    faults: tuple[str, ...] = ()
    poll_deadline: float | None = None
    timeout: float = 30.0
    ca_bundle: str | None = None
    insecure: bool = False
    quiet: bool = False
    shrink: bool = True  # search for the shortest failing example (Hypothesis' shrink phase)
    shrink_budget: float = 30.0  # seconds a failing test may spend on that search
    workers: int = DEFAULT_WORKERS  # independent probes in flight at once
    timing: str = "instant"  # embedded server only: instant, or realistic (delays like a real node's)
    timing_seed: int | None = None  # default: the run's seed, so a replay gets the same delays
    extra: tuple[str, ...] = field(default_factory=tuple)

    def pytest_args(self) -> list[str]:
        if not (CONTRACTS_DIR / "error_codes.toml").exists():
            raise ConfigError(
                f"the conformance suites were not found at {CONTRACTS_DIR}; zscheck runs them from a checkout "
                "(install it with `pip install -e .` from the repository)"
            )
        seed = self.seed if self.seed is not None else random.randrange(2**32)
        args = [
            str(CONTRACTS_DIR),
            f"--rootdir={CONTRACTS_DIR.parent}",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=1800",
            f"--junitxml={self.report_dir / 'junit.xml'}",
            f"--hypothesis-seed={seed}",
            f"--zs-report-dir={self.report_dir}",
            f"--zs-dialect={self.dialect}",
            f"--zs-account={self.account}",
            f"--zs-password-env={self.password_env}",
            f"--zs-max-examples={self.max_examples}",
            f"--zs-timeout={self.timeout}",
            f"--zs-shrink-budget={self.shrink_budget}",
            f"--zs-workers={self.workers}",
            f"--zs-timing={self.timing}",
            f"--zs-timing-seed={self.timing_seed if self.timing_seed is not None else seed}",
            "-q" if self.quiet else "-v",
            "--no-header",
        ]
        optional = {
            "--zs-target": self.target,
            "--zs-password-file": self.password_file,
            "--zs-tenant": self.tenant,
            "--zs-backup-storage": self.backup_storage,
            "--zs-image-url": self.image_url,
            "--zs-ca-bundle": self.ca_bundle,
            "--zs-poll-deadline": self.poll_deadline,
            "--zs-create-images": self.create_images,
        }
        args += [f"{flag}={value}" for flag, value in optional.items() if value is not None]
        args += [f"--zs-image={uuid}" for uuid in self.images]
        args += [f"--zs-fault={fault}" for fault in self.faults]
        if self.insecure:
            args.append("--zs-insecure")
        if not self.shrink:
            args.append("--zs-no-shrink")
        return args + list(self.extra)


def run_contract(run: ContractRun) -> int:
    """Run the suites; returns 0 conformant, 1 violations found, 2 could not run."""
    args = run.pytest_args()
    # SIGTERM (CI cancelling a job) must restore fixture images like Ctrl-C does: pytest tears the session
    # down, and with it the harness, on KeyboardInterrupt only. Both also set a flag the harness checks
    # before each request, because a KeyboardInterrupt raised inside a gc callback is silently dropped.
    _running[:] = [run]
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    try:
        # pytest's own unraisable-exception plugin would print our interrupt's traceback as a warning.
        code = int(pytest.main([*args, "-p", "no:unraisableexception"], plugins=[_SessionWindow()]))
    finally:
        sys.unraisablehook = previous_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _raise_on_signal.clear()
        for timer in _timers:  # the teardown finished: the last resort is not needed
            timer.cancel()
    if interrupted():  # cut short: violations found so far stand, anything else is "could not run"
        return 1 if code == 1 else 2
    if code in (0, 1):
        seed = int(next(a for a in args if a.startswith("--hypothesis-seed=")).split("=", 1)[1])
        _schemathesis_report(run, seed)
    return code if code in (0, 1, 2) else 2


_raise_on_signal: list[bool] = []  # non-empty while the tests run; pytest's own summary must not be torn


class _SessionWindow:
    """Raise KeyboardInterrupt on a signal only while tests run. Raised later, inside pytest's final
    hooks, it crashes pytest's reporting (exit 1 with a traceback); there the flag alone is enough, and
    the images are restored by the session's teardown all the same."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        _raise_on_signal.append(True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        _raise_on_signal.clear()


GRACE = 30.0  # seconds an interrupted run has to tear itself down before the last resort takes over
_running: list[ContractRun] = []  # the run a signal's last resort would restore
_timers: list[threading.Timer] = []


def _interrupt(signum: int, frame: object) -> None:
    if not interrupted() and _running:
        # Teardown restores the images. Should a KeyboardInterrupt be swallowed somewhere in the stack and
        # the run go on, this timer restores them from the journal and ends the process: a signal always
        # ends the run within GRACE seconds, with every image put back.
        timer = threading.Timer(GRACE, _restore_or_exit, args=(_running[0],))
        timer.daemon = True
        timer.start()
        _timers.append(timer)
    request_interrupt(signum)
    if _raise_on_signal:
        raise KeyboardInterrupt(f"signal {signum}")


def _unraisable(info: sys.UnraisableHookArgs) -> None:
    """A signal that lands in a gc or weakref callback raises KeyboardInterrupt where Python cannot raise:
    it is dropped, and Python prints its traceback. The flag set with it already stops the run, so our own
    interrupt is not news; anything else goes to the usual hook."""
    if isinstance(info.exc_value, KeyboardInterrupt) and interrupted():
        return
    sys.__unraisablehook__(info)


def _restore_or_exit(run: ContractRun) -> None:
    password = read_password(run.password_env, run.password_file) or ("password" if run.target is None else None)
    journal = run.report_dir / "journal.jsonl"
    message = "zscheck: the interrupted run did not stop in time"
    try:
        if password is not None and journal.exists():
            report = restore_from(
                journal, run.account, password, verify=run.ca_bundle or not run.insecure, timeout=run.timeout
            )
            message += f"; restored {len(report.restored)} images from {journal}"
            if report.failed:
                message += f"; could NOT restore {', '.join(report.failed)}: run `zscheck restore {journal}`"
    except ZscheckError as exc:
        message += f"; restore failed ({exc}): run `zscheck restore {journal}`"
    print(message, file=sys.stderr, flush=True)
    os._exit(2)


def _schemathesis_report(run: ContractRun, seed: int) -> None:
    """schemathesis' own JUnit and HAR, next to ours; informational, it never changes the exit code."""
    password = read_password(run.password_env, run.password_file)
    harness = Harness(
        ContractConfig(
            report_dir=run.report_dir / "schemathesis",
            target=run.target,
            dialect=run.dialect,  # type: ignore[arg-type]
            account=run.account,
            password=password,
            create_images=0,
            faults=run.faults,
            verify=run.ca_bundle or not run.insecure,
            timeout=run.timeout,
        )
    )
    try:
        harness.start()
        report = run_schemathesis(
            harness.main,
            CONTRACTS_DIR / f"openapi-{run.dialect}.yaml",
            run.report_dir,
            max_examples=min(run.max_examples, 50),
            seed=seed,
        )
        print(f"zscheck: schemathesis' own report in {report.report_dir} ({report.summary})")
    except ZscheckError as exc:
        print(f"zscheck: schemathesis' own report skipped: {exc}")
    finally:
        harness.stop()
