"""`zscheck run`: the one command. Conformance, a short load run with default gates, and drift, into one
timestamped report directory with one `index.html`.

Each phase is the same code as its own command (`contract`, `load`, `drift`) writing into a
subdirectory; this module only sequences them, keeps going when one phase cannot run, and combines
their verdicts: any violation is exit 1; otherwise, any phase that could not run is exit 2; else 0.
Drift is reported, never a violation: the REST server departs from the published page by design.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

from zscheck import __version__, rundir
from zscheck.checks import CHECKS, ErrorTable
from zscheck.conformance.drift import run_drift
from zscheck.conformance.plan import NIGHTLY_MAX_EXAMPLES, ContractPlan
from zscheck.conformance.runner import run_contract
from zscheck.control import RunControl
from zscheck.errors import ConfigError, ZscheckError
from zscheck.events import Emit, Event, Note, PhaseFinished, PhaseStarted, VerdictReached, discard
from zscheck.load.runner import LoadRun, run_load
from zscheck.options import RUN_GATES, utc_stamp
from zscheck.report.documents import Phase as PhaseRecord
from zscheck.report.documents import RunSummary
from zscheck.report.documents import Verdict as VerdictWord
from zscheck.report.html import write_index
from zscheck.slo import parse_gate
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict

DEFAULT_GATES = RUN_GATES  # declared with the option, so `zscheck config run` shows what the run holds
PHASES = ("contract", "load", "drift")
PhaseName = Literal["contract", "load", "drift"]


@dataclass(frozen=True)
class RunAll:
    reports: Path = Path("reports")
    target: TargetOptions = field(default_factory=TargetOptions)
    seed: int | None = None
    max_examples: int = NIGHTLY_MAX_EXAMPLES
    scenario: str = "toggle"
    users: int = 10
    duration: float = 20.0
    rate: float | None = None
    slo: tuple[str, ...] = DEFAULT_GATES
    skip: tuple[str, ...] = ()  # phases to leave out: contract, load, drift
    baseline: str | None = None  # the contract and load phases' known findings (--baseline)
    baseline_update: bool = False

    def validate(self) -> RunAll:
        self.target.validate()
        for gate in self.slo:
            parse_gate(gate)  # a bad gate is a usage error now, not after the conformance phase
        unknown = set(self.skip) - set(PHASES)
        if unknown:
            raise ConfigError(f"--skip {', '.join(sorted(unknown))}: phases are {', '.join(PHASES)}")
        return self


@dataclass
class Phase:
    name: str
    exit_code: int
    seconds: float  # its report directory is the run's directory / name
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        return Verdict.of(self.exit_code)


@dataclass
class RunAllResult:
    directory: Path
    phases: list[Phase] = field(default_factory=list)
    compared: Verdict | None = None  # --compare-to with --max-regression: the comparison's gate

    @property
    def verdict(self) -> Verdict:
        """Drift departs from the page by design: it is reported, and only counts when it could not run."""
        counted = [p.verdict for p in self.phases if p.name != "drift" or p.verdict is Verdict.COULD_NOT_RUN]
        if not self.phases:
            return Verdict.COULD_NOT_RUN
        if self.compared in (Verdict.VIOLATIONS, Verdict.COULD_NOT_RUN):  # worse than the baseline beyond
            counted.append(self.compared)  # --max-regression, or only by a generator that was the limit
        return Verdict.combine(counted) if counted else Verdict.PASS

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


def run_all(
    run: RunAll,
    *,
    control: RunControl,
    emit: Emit = discard,
    last_resort: Callable[[str], NoReturn],
    compare: Callable[[Path], Verdict | None] | None = None,
) -> RunAllResult:
    """Every phase in turn, then (`compare`, for --compare-to) the run against its baseline, which writes
    comparison.json into the run's directory and says whether it fails the run, then summary.json and
    index.html."""
    run = run.validate()
    seed = run.seed if run.seed is not None else random.randrange(2**32)
    directory = rundir.claim(run.reports / utc_stamp(), given=False)  # two runs in one second: -2, -3, ...
    _point_latest(run.reports, directory)
    result = RunAllResult(directory)
    started = time.time()
    reasons: dict[str, str] = {}  # why a phase could not run, from its own verdict event

    def phase_emit(event: Event) -> None:
        if isinstance(event, VerdictReached) and event.verdict is Verdict.COULD_NOT_RUN and event.reason:
            reasons.setdefault(event.phase, event.reason)
        emit(event)

    steps: dict[str, Callable[[Path], Verdict]] = {
        "contract": lambda out: run_contract(
            ContractPlan(
                out,
                target=run.target,
                max_examples=run.max_examples,
                seed=seed,
                baseline=run.baseline,
                baseline_update=run.baseline_update,
            ),
            control=control,
            emit=phase_emit,
            last_resort=last_resort,
            quiet=True,
        ),
        "load": lambda out: run_load(
            LoadRun(
                out,
                target=run.target,
                scenario=run.scenario,
                users=run.users,
                duration=run.duration,
                rate=run.rate,
                slo=run.slo,
                seed=seed,
                baseline=run.baseline,  # one file for both phases: each matches and rewrites its own entries
                baseline_update=run.baseline_update,
            ),
            control=control,
            emit=phase_emit,
        ),
        # drift is informational in a run: its phase line says so; its own verdict line would say VIOLATIONS
        "drift": lambda out: run_drift(out, run.target, control=control).verdict,
    }
    todo = [name for name in PHASES if name not in run.skip]
    try:
        for number, name in enumerate(todo, 1):
            if control.interrupted:  # a signal between two phases: the next one is not started
                break
            emit(PhaseStarted(name, number, len(todo)))
            t0 = time.monotonic()
            error = None
            try:
                verdict = steps[name](directory / name)
            except ZscheckError as exc:
                verdict, error = Verdict.COULD_NOT_RUN, str(exc)
            except KeyboardInterrupt:  # the phase restored what it changed on the way out
                verdict, error = Verdict.COULD_NOT_RUN, "interrupted by a signal"
                control.interrupt()
            if verdict is Verdict.COULD_NOT_RUN and error is None:
                error = reasons.get(name)
            phase = Phase(name, verdict.exit_code, time.monotonic() - t0, error)
            result.phases.append(phase)
            emit(PhaseFinished(name, number, len(todo), verdict, phase.seconds, error))
            if control.interrupted:  # Ctrl-C or SIGTERM: the phase restored; stop here
                phase.exit_code, phase.error = 2, "interrupted by a signal"
                break
    except KeyboardInterrupt:  # the first signal landed between phases (no phase was running to restore)
        control.interrupt()
    if control.interrupted:
        emit(Note("run", "interrupted by a signal: the remaining phases were not run"))
    if compare is not None and result.phases and not control.interrupted:
        result.compared = compare(directory)
    label = run.target.url or "embedded reference server"
    RunSummary(
        verdict=cast(VerdictWord, result.verdict.word),
        exit_code=result.exit_code,
        target=label,
        dialect=run.target.dialect,
        seed=seed,
        harness_version=__version__,
        started=started,
        duration_s=round(time.time() - started, 1),
        gates=list(run.slo),
        phases=[
            PhaseRecord(name=cast(PhaseName, p.name), exit_code=p.exit_code, seconds=p.seconds, error=p.error)
            for p in result.phases
        ],
    ).write(directory / "summary.json")
    index = write_index(directory, error_table=_error_table(), checks=CHECKS)
    why = next((p.error for p in result.phases if p.verdict is Verdict.COULD_NOT_RUN and p.error), None)
    if control.interrupted:
        why = "interrupted by a signal"
    elif not result.phases:
        why = "every phase was skipped"
    emit(VerdictReached("run", result.verdict, label, seed=seed, report=str(index.resolve()), reason=why))
    return result


def _point_latest(reports: Path, directory: Path) -> None:
    """reports/latest -> the newest run (a relative link, so the tree can be copied or archived)."""
    link = reports / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(directory.name, target_is_directory=True)
    except OSError:
        pass  # a file system without links: the timestamped directory is still printed


def _error_table() -> list[dict[str, Any]]:
    """The error-code table as the report shows it: each rule, its input classes and its answers."""
    table = ErrorTable.load()
    rows = []
    for rule in table.rules:
        rows.append(
            {
                "rule": rule.name,
                "description": rule.description,
                "when": {facet: sorted(values) for facet, values in rule.when.items()},
                "answers": {
                    dialect: f"{e.stage} {e.status} {e.body}" + (f" {e.code}" if e.code else "")
                    for dialect, e in rule.answers.items()
                },
            }
        )
    return rows
