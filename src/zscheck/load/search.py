"""`zscheck capacity`: an honest search for the load a target carries with every gate met.

The search raises the load level by level (users, or offered rates with `--by rate`); each level is
`--repeat` locust runs (a point, with a 95 % interval over its runs), and it stops at the first level that
breaks a gate or shows a violation. With `--refine` it then bisects between the last good and the first
bad level, so the knee is not an artefact of the step size; the bisection never runs more levels than the
plain search did (the search with `--refine` costs at most twice the plain one).

What it states is what was measured:
- the knee is the highest level with every gate met and no violation, below the lowest level that broke
  one, with its margin to each gate;
- when nothing broke, there is no knee: "no saturation up to N users / R ops/s", and the next range;
- when the first level broke, "the knee is below the first step".

The model (`usl.py`) is fitted to every run that met the correctness constraint (gates may break, no
contract or history violation), each point is cross-checked with Little's law.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from zscheck.cmdline import render, unless
from zscheck.control import RunControl
from zscheck.errors import ConfigError, ZscheckError
from zscheck.events import Emit, Note, VerdictReached, discard
from zscheck.load.runner import LoadRun, Session, StepResult, execute, images_needed, load_fingerprints, seeded
from zscheck.report.baseline import Baseline
from zscheck.report.documents import (
    CapacityPoint,
    CapacityReport,
    Fitted,
    GateMargin,
    Interval,
    Knee,
    LittleLaw,
    NextRange,
    UslModel,
    UslResidual,
)
from zscheck.report.documents import Verdict as VerdictWord
from zscheck.report.load_findings import load_findings
from zscheck.slo import Gate, GateResult
from zscheck.verdict import Verdict

if TYPE_CHECKING:  # numpy and scipy load when a search is judged, not with every command's start
    from zscheck.load import usl

CONFIDENCE = 0.95
Phase = Literal["search", "refine"]
Saturation = Literal["found", "none", "below-first-step", "generator-bound", "not-run"]


@dataclass(frozen=True)
class CapacitySearch:
    """How `zscheck capacity` raises the load: from `start` by `step` up to `stop`, users or arrival rates;
    each level `repeat` times; `refine`: bisect between the last good and the first bad level."""

    start: float = 5
    step: float = 5
    stop: float = 50
    step_duration: float = 10.0
    by_rate: bool = False
    refine: bool = False
    repeat: int = 1

    def levels(self) -> list[float]:
        if self.start <= 0 or self.step <= 0 or self.stop < self.start:
            raise ConfigError(
                f"steps from {self.start:g} by {self.step:g} up to {self.stop:g}: give --start > 0, --step > 0, "
                "--stop >= --start"
            )
        if self.repeat < 1:
            raise ConfigError(f"--repeat {self.repeat}: give 1 or more runs per step")
        count = math.floor((self.stop - self.start) / self.step + 1e-9) + 1
        levels = [self.start + i * self.step for i in range(count)]
        return [float(round(v)) for v in levels] if not self.by_rate else levels

    @property
    def resolution(self) -> float:
        """How close the bisection brings the last good and the first bad level: one user, or an eighth of
        a rate step (three halvings)."""
        return 1.0 if not self.by_rate else self.step / 8

    def next_range(self, reached: float, levels: int) -> NextRange:
        """Nothing broke up to `reached`: the same number of steps over the range twice as high."""
        stop = reached * 2
        step = max(self.step, (stop - reached) / max(levels - 1, 1))
        if not self.by_rate:
            step = float(math.ceil(step))
        return step_range(reached, step, stop)

    def asked(self) -> NextRange:
        return step_range(self.start, self.step, self.stop)

    def command_line(self, run: LoadRun) -> str:
        """The search again: `run`'s options (`LoadRun.given`) and the search's own."""
        plain = CapacitySearch()
        return render(
            "capacity",
            [
                *run.given("capacity"),
                ("--by", "rate" if self.by_rate else None),
                ("--start", self.start),
                ("--step", self.step),
                ("--stop", self.stop),
                ("--step-duration", unless(self.step_duration, plain.step_duration)),
                ("--refine", self.refine),
                ("--repeat", unless(self.repeat, plain.repeat)),
            ],
        )


def step_range(start: float, step: float, stop: float) -> NextRange:
    """A range of steps, with the options that search it."""
    return NextRange(start=start, step=step, stop=stop, arguments=f"--start {start:g} --step {step:g} --stop {stop:g}")


# ------------------------------------------------------------------------------------------ points


def interval(values: Sequence[float]) -> Interval:
    """Mean and 95 % interval (Student t) of repeated measurements."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    if n < 2:
        return Interval(mean=round(mean, 6), low=round(mean, 6), high=round(mean, 6), runs=n)
    from scipy import stats

    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean=round(mean, 6), low=round(mean - half, 6), high=round(mean + half, 6), runs=n)


def headroom(gate: Gate, measured: float | None) -> float | None:
    """The share of the gate's threshold left before it breaks (negative: broken)."""
    if measured is None or gate.threshold == 0:
        return None
    if gate.comparison in ("<", "<="):
        return (gate.threshold - measured) / gate.threshold
    return (measured - gate.threshold) / gate.threshold


def worst_run(results: Sequence[GateResult]) -> GateResult:
    """One gate over a point's runs, the run that decides: one that measured nothing, else the furthest
    from the threshold on the breaking side."""
    unmeasured = [r for r in results if r.measured is None]
    if unmeasured:
        return unmeasured[0]
    below = results[0].gate.comparison in ("<", "<=")  # a `<` gate breaks upwards
    return max(results, key=lambda r: cast(float, r.measured) * (1 if below else -1))


def margin(results: Sequence[GateResult]) -> GateMargin:
    """One gate over a point's runs: the worst run decides."""
    gate = results[0].gate
    worst = worst_run(results).measured
    room = headroom(gate, worst)
    if worst is None:
        shown = f"{gate.text}: nothing measured"
    else:
        word = "left" if room is not None and room >= 0 else "over"
        shown = f"{gate.text}: {gate.show(worst)}" + (f", {abs(room) * 100:.1f}% {word}" if room is not None else "")
    return GateMargin(
        gate=gate.text,
        measured=None if worst is None else round(worst, 6),
        threshold=gate.threshold,
        headroom=None if room is None else round(room, 4),
        shown=shown,
    )


@dataclass
class Point:
    """One load level and the runs that measured it."""

    phase: Phase
    level: float
    users: int
    rate: float | None
    runs: list[StepResult]
    indexes: list[int]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.runs)

    @property
    def generator_bound(self) -> str | None:
        """Why this point's broken gates are no verdict on the target (the generator was the limit)."""
        return next((r.unjudged_gates for r in self.runs if r.unjudged_gates), None)

    @property
    def correct(self) -> bool:
        """No failure and a linearizable history in any run, known findings of the --baseline apart."""
        return all(not r.new_failures and r.history_ok for r in self.runs)

    @property
    def throughput(self) -> Interval:
        return interval([r.throughput for r in self.runs])

    @property
    def latency(self) -> Interval:
        return interval([r.measured.get(None, {}).get("mean", 0.0) for r in self.runs])

    def margins(self) -> list[GateMargin]:
        if not self.runs or not self.runs[0].gates:
            return []
        return [margin([r.gates[i] for r in self.runs]) for i in range(len(self.runs[0].gates))]

    def little(self) -> usl.LittleCheck:
        from zscheck.load import usl

        return usl.little(self.users, self.throughput.mean, self.latency.mean, closed_loop=self.rate is None)

    def load(self) -> str:
        return f"{self.rate:g}/s" if self.rate is not None else f"{self.users} users"

    def why(self) -> str:
        """What broke, over every run of the point: each broken gate at its worst run (the value its
        margin holds, not the first run's), then the violations and the history."""
        if all(r.passed for r in self.runs):
            return ""
        of = f" (the worst of {len(self.runs)} runs)" if len(self.runs) > 1 else ""
        reasons = []
        for results in zip(*(r.gates for r in self.runs), strict=True):
            if not all(g.passed for g in results):  # then its worst run broke it
                reasons.append(worst_run(results).line() + of)
        counts: dict[str, int] = {}
        for run in self.runs:
            for f in run.new_failures:
                counts[f["check"]] = counts.get(f["check"], 0) + int(f["count"])
        reasons += [f"{check} x{count}" for check, count in list(counts.items())[:2]]
        if not all(r.history_ok for r in self.runs):
            reasons.append("linearizability violated")
        return "; ".join(reasons)

    def to_document(self) -> CapacityPoint:
        check = self.little()
        return CapacityPoint(
            phase=self.phase,
            users=self.users,
            rate=self.rate,
            passed=self.passed,
            correct=self.correct,
            throughput=self.throughput,
            latency_mean=self.latency,
            gates=self.margins(),
            little=LittleLaw(
                concurrency=check.concurrency, implied=round(check.implied, 3), agrees=check.agrees, shown=check.line()
            ),
            runs=list(self.indexes),
        )


@dataclass(frozen=True)
class Outcome:
    """What the points say: the knee (or none), the lowest broken point, and the sentence."""

    saturation: Saturation
    knee: Point | None
    broken: Point | None
    statement: str
    next_range: NextRange | None


def judge(points: list[Point], search: CapacitySearch, levels: int) -> Outcome:
    """The knee is the highest passing level below the lowest level that broke (a gate or a violation)."""
    if not points:
        return Outcome("not-run", None, None, "no step ran", None)
    broken = [p for p in points if not p.passed]
    lowest_broken = min(broken, key=lambda p: p.level) if broken else None
    if lowest_broken is not None and lowest_broken.correct and lowest_broken.generator_bound:
        good = [p for p in points if p.passed and p.level < lowest_broken.level]
        carried = f"; the target carried at least {max(good, key=lambda p: p.level).load()}" if good else ""
        return Outcome(
            "generator-bound",
            None,
            lowest_broken,
            f"no knee: at {lowest_broken.load()} {lowest_broken.generator_bound}{carried}",
            None,
        )
    below = [p for p in points if p.passed and (lowest_broken is None or p.level < lowest_broken.level)]
    if lowest_broken is None:
        top = max(points, key=lambda p: p.level)
        best = max(p.throughput.mean for p in points)
        nxt = search.next_range(top.level, levels)
        return Outcome(
            "none",
            None,
            None,
            f"no saturation up to {top.load()} / {best:.1f} ops/s: every step met every gate; "
            f"search higher with {nxt.arguments}"
            + (" (more users may need --processes or more workers)" if not search.by_rate else ""),
            nxt,
        )
    if not below:
        return Outcome(
            "below-first-step",
            None,
            lowest_broken,
            f"no step met every gate: the knee is below the first step ({lowest_broken.load()}: {lowest_broken.why()})",
            None,
        )
    knee = max(below, key=lambda p: p.level)
    tp = knee.throughput
    spread = f" (95% CI {tp.low:.1f}-{tp.high:.1f})" if tp.runs > 1 else ""
    margins = "; ".join(m.shown for m in knee.margins())
    return Outcome(
        "found",
        knee,
        lowest_broken,
        f"knee at {knee.load()}: {tp.mean:.1f} ops/s{spread}; margins {margins}; "
        f"broken at {lowest_broken.load()}: {lowest_broken.why()}",
        None,
    )


def bisection(good: float, bad: float, search: CapacitySearch) -> float | None:
    """The next level between the last good and the first bad one, None when they are close enough."""
    if bad - good <= search.resolution + 1e-9:
        return None
    middle = (good + bad) / 2
    if not search.by_rate:
        middle = float(math.floor(middle))
        if middle <= good:
            return None
    return middle


def model(points: list[Point]) -> usl.UslFit:
    """USL over every run of the points that met the correctness constraint; the concurrency is the users in
    a closed loop, and throughput x mean latency (Little) for an open model."""
    from zscheck.load import usl

    n: list[float] = []
    x: list[float] = []
    for point in points:
        if not point.correct:
            continue
        for run in point.runs:
            mean = run.measured.get(None, {}).get("mean", 0.0)
            n.append(float(point.users) if point.rate is None else run.throughput * mean)
            x.append(run.throughput)
    return usl.fit(n, x)


def _fitted(e: usl.Estimate | None) -> Fitted | None:
    if e is None:
        return None
    return Fitted(value=float(f"{e.value:.6g}"), low=_significant(e.low), high=_significant(e.high))


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


def model_document(fit: usl.UslFit) -> UslModel:
    return UslModel(
        points=fit.points,
        predictable=fit.predictable,
        lam=_fitted(fit.lam),
        sigma=_fitted(fit.sigma),
        kappa=_fitted(fit.kappa),
        peak_concurrency=_fitted(fit.peak_concurrency),
        peak_throughput=_fitted(fit.peak_throughput),
        ceiling=_fitted(fit.ceiling),
        r_squared=None if fit.r_squared is None else round(fit.r_squared, 4),
        residuals=[
            UslResidual(concurrency=r.concurrency, measured=round(r.measured, 3), fitted=round(r.fitted, 3))
            for r in fit.residuals
        ],
        statement=fit.statement,
    )


# ------------------------------------------------------------------------------------------ the run

Measure = Callable[[Phase, float], Point]  # (phase, level) -> the point, its runs done


def search_points(
    search: CapacitySearch, measure: Measure, levels: list[float], emit: Emit = discard
) -> tuple[list[Point], int]:
    """The plain search, then the bisection; returns the points in the order run and the plain count."""
    points: list[Point] = []
    for level in levels:
        point = measure("search", level)
        points.append(point)
        if not point.passed:
            break
    plain = len(points)
    last = points[-1]
    if search.refine and not last.passed and last.correct and not last.generator_bound and plain > 1:
        good: float = points[-2].level
        bad: float = points[-1].level
        budget = plain  # never more levels than the plain search ran: --refine costs at most twice as much
        while budget > 0:
            middle = bisection(good, bad, search)
            if middle is None:
                break
            level = middle
            point = measure("refine", level)
            points.append(point)
            budget -= 1
            if point.passed:
                good = level
            elif point.correct and not point.generator_bound:
                bad = level
            else:
                break  # a violation is not something to bisect around
        else:
            emit(Note("capacity", "refine: the bisection budget (the plain search's step count) ran out"))
    return points, plain


def run_capacity(run: LoadRun, search: CapacitySearch, *, control: RunControl, emit: Emit = discard) -> Verdict:
    """Raise the load until a gate breaks (refine, repeat); report the knee or the absence of one, the model,
    every point and every run."""
    gates = run.validate()
    if not gates:
        raise ConfigError("capacity needs at least one --slo gate to know when to stop, e.g. --slo 'p99<250ms'")
    baseline = run.known_findings()
    known = load_fingerprints(baseline)  # read once: every step counts the same findings apart
    levels = search.levels()
    run = seeded(run)
    run.report_dir.mkdir(parents=True, exist_ok=True)
    by_rate = search.by_rate
    max_users = run.users if by_rate else int(max(levels))
    steps: list[StepResult] = []
    points: list[Point] = []
    plain = 0
    error: str | None = None
    started, wall = time.monotonic(), time.time()
    session = Session(run, images_needed(run, max_users), emit)

    def measure(phase: Phase, level: float) -> Point:
        users = run.users if by_rate else int(level)
        rate = level if by_rate else run.rate
        point = Point(phase, level, users, rate, [], [])
        load = f"{level:g}/s" if by_rate else f"{users} users"
        for k in range(search.repeat):
            emit(
                Note(
                    "capacity",
                    f"{phase} {load}" + (f", run {k + 1}/{search.repeat}" if search.repeat > 1 else ""),
                )
            )
            result = execute(
                session,
                run,
                gates,
                control=control,
                users=users,
                rate=rate,
                duration=search.step_duration,
                out=run.report_dir / f"step-{len(steps) + 1:02d}",
                emit=emit,
                known=known,
            )
            point.indexes.append(len(steps))
            steps.append(result)
            point.runs.append(result)
        points.append(point)  # kept even if a later point raises
        emit(
            Note(
                "capacity",
                f"{load}: {point.throughput.mean:.1f} ops/s, "
                + ("all gates met" if point.passed else "BROKEN: " + point.why()),
            )
        )
        return point

    try:
        with session:
            _, plain = search_points(search, measure, levels, emit)
    except ZscheckError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        error = "interrupted by a signal before the search could finish"
    problems = session.close()
    seconds = time.monotonic() - started
    outcome = judge(points, search, len(levels))
    fit = model(points)
    violations = any(not p.correct for p in points)
    if error or problems or not steps:
        verdict = Verdict.COULD_NOT_RUN
    else:
        verdict = (
            Verdict.COULD_NOT_RUN
            if outcome.saturation == "generator-bound"
            else Verdict.VIOLATIONS
            if violations or outcome.saturation == "below-first-step"
            else Verdict.PASS
        )
    knee = outcome.knee
    report = CapacityReport(
        verdict=cast(VerdictWord, verdict.word),
        exit_code=verdict.exit_code,
        target=session.target.label,
        scenario=run.scenario,
        by="rate" if by_rate else "users",
        seed=run.seed,
        slo=list(run.slo),
        error=error,
        restore_problems=problems,
        knee=None
        if knee is None
        else Knee(
            users=knee.users,
            rate=knee.rate,
            throughput=round(knee.throughput.mean, 2),
            throughput_interval=knee.throughput,
            margins=knee.margins(),
            broken_users=None if outcome.broken is None else outcome.broken.users,
            broken_rate=None if outcome.broken is None else outcome.broken.rate,
        ),
        steps=[s.to_result() for s in steps],
        saturation=outcome.saturation,
        statement=outcome.statement,
        refine=search.refine,
        repeat=search.repeat,
        points=[p.to_document() for p in points],
        model=model_document(fit),
        next_range=outcome.next_range,
        started=wall,
        duration_s=round(seconds, 3),
        dialect=run.target.dialect,
        load=run.load_options(),
        users=run.users if by_rate else None,
        processes=run.workers,
        read_after_write=run.read_after_write,
        range=search.asked(),
        replay=search.command_line(run),
        timing=run.target.timing if run.target.embedded else None,
    )
    report.files = draw_capacity(report, run.report_dir, emit)
    report.write(run.report_dir / "capacity.json")
    if baseline is not None:
        emit(Note("capacity", _baseline_line(baseline, steps, run.baseline or "")))
    emit(
        VerdictReached(
            "capacity",
            verdict,
            session.target.label,
            seed=run.seed,
            details=tuple(_details(points, outcome, fit, error, problems, plain, seconds)),
            report=str(run.report_dir / "capacity.json"),
        )
    )
    return verdict


def _baseline_line(baseline: Baseline, steps: list[StepResult], path: str) -> str:
    """What the --baseline did to the search: its load findings seen at some step (known, so no step broke
    on them), new ones (they broke their steps), and the entries no step saw (fixed)."""
    findings = {f.id: f for s in steps for f in baseline.classify(load_findings(s.to_result()), command="load")}
    known = sorted(i for i, f in findings.items() if f.status == "known")
    new = sorted(i for i, f in findings.items() if f.status != "known")
    fixed = baseline.fixed(list(findings.values()), command="load")
    return (
        f"baseline {path}: {len(known)} known ({', '.join(known) or 'none'}: no step broke on them), "
        f"{len(new)} new or expired ({', '.join(new) or 'none'}), {len(fixed)} fixed ({', '.join(fixed) or 'none'})"
    )


def draw_capacity(report: CapacityReport, directory: Path, emit: Emit) -> dict[str, str]:
    """The charts as PNG and SVG beside capacity.json, and capacity.html with them; what -> file name."""
    from zscheck.report import capacity_page, plots

    try:
        figures = plots.capacity_figures(report)
        files = plots.write_figures(figures, directory)
        capacity_page.write(report, directory, {name: plots.svg_text(fig) for name, fig in figures.items()})
    except Exception as exc:  # a chart that cannot be drawn never costs the verdict
        emit(Note("capacity", f"charts not drawn: {type(exc).__name__}: {exc}"))
        return {}
    return {"html": "capacity.html", **files}


def _details(
    points: list[Point],
    outcome: Outcome,
    fit: usl.UslFit,
    error: str | None,
    problems: list[str],
    plain: int,
    seconds: float,
) -> list[str]:
    lines = ["point   phase   load        ops/s (95% CI)         mean ms   verdict"]
    for i, p in enumerate(points, 1):
        tp = p.throughput
        ci = f"({tp.low:.1f}-{tp.high:.1f})" if tp.runs > 1 else ""
        outcome_word = "ok" if p.passed else "broken: " + p.why()
        lines.append(
            f"{i:5d}   {p.phase:7} {p.load():10} {tp.mean:8.1f} {ci:15} {p.latency.mean * 1000:9.1f}   {outcome_word}"
        )
        check = p.little()
        if not check.agrees:
            lines.append(f"        {check.line()}: time outside the operations (a busy generator?)")
    if len(points) > plain:
        lines.append(f"refine: {len(points) - plain} bisection points after {plain} steps")
    if error is None or points:
        lines.append(outcome.statement)
    lines.append(f"model (USL): {fit.statement}")
    if error:
        lines.append(f"could not run: {error}")
    lines.extend(f"could not restore {p}" for p in problems)
    lines.append(f"search took {seconds:.1f} s")
    return lines
