"""`zscheck contract`: the conformance suites in `contracts/`, run by pytest in this process.

The command is a front for `pytest contracts`: one code path, so a team folding the suites into its own
pytest run gets exactly what the command checks. The run's options travel as one `ContractPlan` document
(`--zs-plan`), and secrets never travel at all: the plan names the environment variable or file the
password is read from. Progress and the verdict go out as events; nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, cast
from xml.etree import ElementTree

import pytest
from _pytest._io import TerminalWriter

from zscheck.conformance.harness import Harness
from zscheck.conformance.plan import ContractPlan, Wiring
from zscheck.conformance.st_report import run_schemathesis
from zscheck.control import RunControl
from zscheck.errors import ConfigError, ZscheckError
from zscheck.events import Emit, Event, Note, VerdictReached, discard
from zscheck.report.documents import ContractSummary
from zscheck.report.documents import Verdict as VerdictWord
from zscheck.target import restore_journal
from zscheck.verdict import Verdict

CONTRACTS_DIR = Path(__file__).resolve().parents[3] / "contracts"
GRACE = 30.0  # seconds an interrupted run has to tear itself down before the last resort takes over


def pytest_args(plan: ContractPlan, *, quiet: bool = False) -> list[str]:
    if not (CONTRACTS_DIR / "error_codes.toml").exists():
        raise ConfigError(
            f"the conformance suites were not found at {CONTRACTS_DIR}; zscheck runs them from a checkout "
            "(install it with `pip install -e .` from the repository)"
        )
    assert plan.seed is not None, "the runner chooses the seed"
    return [
        str(CONTRACTS_DIR),
        f"--rootdir={CONTRACTS_DIR.parent}",
        # Not the checkout's own pytest configuration (its `timeout = 120` made a plain install, without
        # pytest-timeout, print "PytestConfigWarning: Unknown config option: timeout"; its addopts are the
        # harness's tests'): the suites need none, and nothing cuts a long contract run short.
        "-c",
        os.devnull,
        # Only the plugins the suites use. pytest would otherwise import every installed plugin (xdist,
        # timeout, anyio, locust's, which imports locust and lets gevent patch this process) and rewrite
        # the asserts of each plugin distribution's every module, the whole of schemathesis included:
        # half of a short run's CPU, spent again in every run (nothing caches it without bytecode files).
        "--disable-plugin-autoload",
        "-p",
        "_hypothesis_pytestplugin",  # --hypothesis-seed
        "-p",
        "schemathesis.pytest.plugin",  # as autoloaded before: test_schema.py draws schemathesis cases
        "-p",
        "no:cacheprovider",
        "-p",
        "no:unraisableexception",  # it would print our interrupt's traceback as a warning
        f"--junitxml={plan.report_dir / 'junit.xml'}",
        f"--hypothesis-seed={plan.seed}",
        f"--zs-plan={plan.to_json()}",
        *(["-q", "--tb=no"] if quiet else ["-v"]),  # quiet: the failures are in the verdict and failures.md
        # No short summary either way: the findings say each failure in a few lines, and pytest's line for
        # an exception group (parts that failed side by side) held every member's traceback.
        "-rN",
        "--no-header",
    ]


class _Silent:
    """`quiet`: pytest's own terminal output (dots, its summary, an exit's message) goes nowhere; what the
    run says comes from its events (the verdict, with why it could not run), and the files have the rest."""

    def __init__(self) -> None:
        self.sink = open(os.devnull, "w")  # noqa: SIM115 - open for the session, closed by close()

    @pytest.hookimpl(trylast=True)  # after pytest's terminal plugin made its writer
    def pytest_configure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter._tw = TerminalWriter(self.sink)

    def close(self) -> None:
        self.sink.close()


class _Interrupts:
    """Ctrl-C and SIGTERM during a contract run. SIGTERM (CI cancelling a job) must restore fixture images
    like Ctrl-C does: pytest tears the session down, and with it the harness, on KeyboardInterrupt only,
    so both raise it, but only while tests run: raised inside pytest's final hooks it tears pytest's own
    summary (exit 1 with a traceback); there the control's flag alone is enough. Should the interrupt be
    swallowed somewhere and the run go on, a timer restores the images from the journal after GRACE
    seconds and ends the process through `last_resort`: a signal always ends the run, images put back."""

    def __init__(self, plan: ContractPlan, control: RunControl, last_resort: Callable[[str], NoReturn]) -> None:
        self.plan, self.control, self.last_resort = plan, control, last_resort
        self.raising = False
        self.timer: threading.Timer | None = None

    def on_signal(self, signum: int) -> None:
        if self.timer is None:
            self.timer = threading.Timer(GRACE, self._restore_and_end)
            self.timer.daemon = True
            self.timer.start()
        if self.raising:
            raise KeyboardInterrupt(f"signal {signum}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        self.raising = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.raising = False

    def cancel(self) -> None:
        if self.timer is not None:  # the teardown finished: the last resort is not needed
            self.timer.cancel()

    def _restore_and_end(self) -> None:
        journal = self.plan.report_dir / "journal.jsonl"
        target = self.plan.target
        message = "the interrupted run did not stop in time"
        try:
            if journal.exists():
                password = None if not target.embedded else target.password()
                report = restore_journal(journal, target, password=password)
                message += f"; restored {len(report.restored)} images from {journal}"
                if report.failed:
                    message += f"; could NOT restore {', '.join(report.failed)}: run `zscheck restore {journal}`"
        except ZscheckError as exc:
            message += f"; restore failed ({exc}): run `zscheck restore {journal}`"
        self.last_resort(message)


def _unraisable(control: RunControl) -> Callable[[sys.UnraisableHookArgs], None]:
    """A signal that lands in a gc or weakref callback raises KeyboardInterrupt where Python cannot raise:
    it is dropped, and Python prints its traceback. The control's flag already stops the run, so our own
    interrupt is not news; anything else goes to the usual hook."""

    def hook(info: sys.UnraisableHookArgs) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt) and control.interrupted:
            return
        sys.__unraisablehook__(info)

    return hook


def run_contract(
    plan: ContractPlan,
    *,
    control: RunControl,
    emit: Emit = discard,
    last_resort: Callable[[str], NoReturn],
    quiet: bool = False,
) -> Verdict:
    """Run the suites: PASS conformant, VIOLATIONS found, COULD NOT RUN. `last_resort(message)` ends the
    process if an interrupted run does not stop within GRACE seconds (the CLI's: print it, exit 2)."""
    plan = plan.validate()
    if plan.seed is None:
        plan = dataclasses.replace(plan, seed=random.randrange(2**32))
    args = pytest_args(plan, quiet=quiet)
    interrupts = _Interrupts(plan, control, last_resort)
    held: list[Event] = []  # the suites' verdict, said last, after schemathesis' own report

    def hold_verdict(event: Event) -> None:
        held.append(event) if isinstance(event, VerdictReached) else emit(event)

    silent = _Silent() if quiet else None
    plugins: list[object] = [interrupts, Wiring(control, hold_verdict), *([silent] if silent else [])]
    previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable(control)
    try:
        with control.handling_signals(interrupts.on_signal):
            code = int(pytest.main(args, plugins=plugins))
    finally:
        sys.unraisablehook = previous_hook
        interrupts.cancel()
        if silent is not None:
            silent.close()
    verdict = Verdict.of(code)
    if plan.schemathesis_report and not control.interrupted and verdict is not Verdict.COULD_NOT_RUN:
        try:
            _schemathesis_report(plan, control, emit)
        except KeyboardInterrupt:  # the suites' report is written; schemathesis' (informational) is not
            control.interrupt()
            emit(Note("contract", "interrupted by a signal during schemathesis' own report; it was not written"))
            _interrupted_summary(plan.report_dir / "summary.json")
    if control.interrupted:  # cut short: violations found so far stand, anything else is "could not run"
        verdict = Verdict.interrupted(verdict)
        held = [
            dataclasses.replace(e, verdict=verdict, reason="interrupted by a signal")
            if isinstance(e, VerdictReached)
            else e
            for e in held
        ]
    for event in held:
        emit(event)
    return verdict


def _interrupted_summary(path: Path) -> None:
    """summary.json says what the exit code says: the run was cut short (its suites' results stay)."""
    with contextlib.suppress(ValueError, OSError):  # no summary to amend (DocumentError is a ValueError)
        summary = ContractSummary.read(path)
        verdict = Verdict.interrupted(Verdict.of(summary.exit_code))
        dataclasses.replace(
            summary,
            verdict=cast(VerdictWord, verdict.word),
            exit_code=verdict.exit_code,
            harness_errors=[*summary.harness_errors, "interrupted by a signal during schemathesis' own report"],
        ).write(path)


def informational_junit(directory: Path) -> int:
    """schemathesis' JUnit, made informational: it flags what ZStack does by design (a 202 without a
    Content-Type...), and a CI server that globs `reports/**/*.xml` went red on a conformant run. Each
    failure or error becomes a `skipped` testcase of type `informational` with its text kept, and the
    counts follow. zscheck's own verdict is `junit.xml` one level up. Returns the flags rewritten."""
    flagged = 0
    for path in sorted(directory.glob("junit*.xml")):
        tree = ElementTree.parse(path)
        root = tree.getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for suite in suites:
            moved = 0
            for case in suite.iter("testcase"):
                for outcome in [c for c in case if c.tag in ("failure", "error")]:
                    case.remove(outcome)
                    skipped = ElementTree.SubElement(case, "skipped")
                    skipped.set("type", "informational")
                    skipped.set(
                        "message",
                        f"schemathesis' own check {outcome.get('message', '')}: informational, never the verdict",
                    )
                    skipped.text = outcome.text
                    moved += 1
            suite.set("skipped", str(int(suite.get("skipped", "0") or 0) + moved))
            suite.set("failures", "0")
            suite.set("errors", "0")
            flagged += moved
        if root.tag == "testsuites":
            root.set("skipped", str(sum(int(s.get("skipped", "0")) for s in suites)))
            root.set("failures", "0")
            root.set("errors", "0")
        tree.write(path, encoding="utf-8", xml_declaration=True)
    return flagged


def _schemathesis_report(plan: ContractPlan, control: RunControl, emit: Emit) -> None:
    """schemathesis' own JUnit and HAR, next to ours; informational, it never changes the verdict."""
    harness = Harness(
        ContractPlan(report_dir=plan.report_dir / "schemathesis", target=plan.target, create_images=0),
        control=control,
    )
    try:
        harness.start()
        report = run_schemathesis(
            harness.main,
            CONTRACTS_DIR / f"openapi-{plan.target.dialect}.yaml",
            plan.report_dir,
            max_examples=min(plan.max_examples, 50),
            seed=plan.seed or 0,
        )
        flagged = informational_junit(report.report_dir)
        emit(
            Note(
                "contract",
                f"schemathesis' own report in {report.report_dir} (informational: {flagged} of its flags, marked "
                "skipped in its JUnit so that CI reads zscheck's verdict only)",
            )
        )
    except ZscheckError as exc:
        emit(Note("contract", f"schemathesis' own report skipped: {exc}"))
    finally:
        harness.stop()
