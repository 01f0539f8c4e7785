"""`zscheck trend`: change points in the stored nightly series of each metric, found by Apache Otava.

Otava (`otava.analysis.compute_change_points`, the successor of MongoDB's E-Divisive change-point work,
Fleming et al., ICPE 2023) splits the series into windows, finds candidate points with a t-test in each,
and merges them keeping those significant at `max_pvalue` (0.001, its default). zscheck adds what is its
own: which metrics make a series, how a change is worded (magnitude, the runs on either side, worse or
better), and the canary rule: a run against the embedded reference server on the same host is the
host's noise, so a change in a target's series that the canary's same metric also shows within
`CANARY_SLACK` of it is reported as the host's, and does not fail `--fail-on-change`; and each metric
divided by the canary's of the same night (`e2e p50 / canary`) is a series of its own, in which what the
host did to both cancels out.

A run whose own self-check found its load generator was the limit (zscheck.load.selfcheck) measured the
generator's latency and throughput, not the target's: it gives the target's series no latency or
throughput point (its findings and run time still count), and the trend names it. The canary keeps such
runs: what it measures is the host, generator included.

A series holds only comparable runs: those of one shape (`zscheck.history.shape`: the command and what the record holds
that changes its numbers: scenario, users, rate, duration, processes...). A contract run takes longer than
a 5 s load and finds other things; 10 users wait longer than 5: in one series either reads as a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from otava.analysis import compute_change_points

from zscheck.history.findings import findings_of
from zscheck.history.record import RunRecord
from zscheck.history.shape import Shape, by_shape
from zscheck.report.documents import TrendChange, TrendReport, TrendSeries
from zscheck.report.documents import Verdict as VerdictWord
from zscheck.verdict import Verdict

CANARY_SLACK = 12 * 3600.0  # a canary change this close in time to the target's is the same night's
RECENT = 10  # --fail-on-change: a change among the newest RECENT runs (Otava needs a few runs after one to see it)


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the position in the series of the first run after the change
    run: str  # that run's id
    before: str  # the id of the last run before it
    started: float  # when `run` started
    mean_before: float
    mean_after: float
    pvalue: float
    worse: bool
    host: bool = False  # the canary changed too: the host's, not the target's

    @property
    def change(self) -> float | None:
        """The relative change; None from 0 (findings 0 -> 2): no share of nothing is a number."""
        return self.mean_after / self.mean_before - 1 if self.mean_before else None

    @property
    def shown(self) -> str:
        """The change as a person reads it: `+12.5%`, or from 0 the absolute one (`+2`)."""
        change = self.change
        return f"{change:+.1%}" if change is not None else f"{self.mean_after - self.mean_before:+.4g}"


@dataclass
class Series:
    name: str  # e.g. "e2e p99", "throughput", "findings"
    lower_is_better: bool
    values: list[float] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    change_points: list[ChangePoint] = field(default_factory=list)
    canary: list[float] | None = None
    canary_started: list[float] = field(default_factory=list)  # when each canary value's run started
    shape: Shape = field(default_factory=lambda: Shape(""))  # the runs' shape: a series holds runs of one shape only


@dataclass
class Trend:
    label: str
    runs: int
    max_pvalue: float
    window: int
    series: list[Series]
    generator_bound: list[str] = field(default_factory=list)  # runs left out of the latency/throughput series
    could_not_run: list[str] = field(default_factory=list)  # runs whose verdict was COULD NOT RUN
    recent: list[str] = field(default_factory=list)  # the ids of the newest RECENT runs, oldest first
    shapes: list[Shape] = field(default_factory=list)  # the series' shapes, the one with the newest run first

    @property
    def recent_unmeasured(self) -> bool:
        """None of the newest RECENT runs measured the target: each had a load generator that was the
        limit, or could not run."""
        unmeasured = set(self.generator_bound) | set(self.could_not_run)
        return bool(self.recent) and set(self.recent) <= unmeasured

    def no_verdict(self) -> str | None:
        """Why `--fail-on-change` cannot judge the newest runs (exit 2), or None."""
        if not self.recent_unmeasured:
            return None
        n = len(self.recent)
        bound = [r for r in self.recent if r in self.generator_bound]
        failed = [r for r in self.recent if r in self.could_not_run and r not in bound]
        starved = (
            "give the nightly load run more --processes, workers on other machines (--master), or a quieter machine"
        )
        why = "see why in its report (`zscheck runs show ID`)"
        if not failed:
            return (
                f"the newest {n} run(s) all had a load generator that was the limit (their self-check): no latency "
                f"or throughput of theirs is the target's; do: {starved}"
            )
        if not bound:
            return f"the newest {n} run(s) all could not run (COULD NOT RUN: {', '.join(failed)}): do: {why}"
        return (
            f"none of the newest {n} run(s) measured the target: {len(bound)} had a load generator that was the limit "
            f"(their self-check), {len(failed)} could not run (COULD NOT RUN: {', '.join(failed)}); do: {why}, "
            f"and {starved}"
        )

    def failing(self) -> list[str]:
        """What `--fail-on-change` fails on: a change that made a series worse among its newest runs, and
        that the canary did not show."""
        out = []
        for s in self.series:
            recent = set(s.runs[-RECENT:])
            where = f" in {s.shape.label}" if len(self.shapes) > 1 else ""  # one shape: the header says it
            for cp in s.change_points:
                if cp.worse and not cp.host and cp.run in recent:
                    out.append(f"{s.name} {cp.shown} from run {cp.run}{where}")
        return out

    def verdict(self, *, gated: bool) -> Verdict:
        """The one verdict of the text, the page and the exit code. Without the gate (`--fail-on-change`)
        changes are reported, not judged: PASS."""
        if not gated:
            return Verdict.PASS
        if self.failing():
            return Verdict.VIOLATIONS
        return Verdict.COULD_NOT_RUN if self.no_verdict() else Verdict.PASS

    def ungated(self, *, gated: bool) -> str | None:
        """Without the gate, what it would have said (changes reported, not judged), or None."""
        failing, unjudged = self.failing(), self.no_verdict()
        if gated or not (failing or unjudged):
            return None
        said = "; ".join(failing) if failing else f"no verdict: {unjudged}"
        return f"not gated (give --fail-on-change to fail on them): {said}"

    def reason(self, *, gated: bool) -> str:
        """Why the verdict is what it is, for the text's last line and the page."""
        failing, unjudged = self.failing(), self.no_verdict()
        if gated and (failing or unjudged):
            return "; ".join(failing) if failing else unjudged or ""
        return self.ungated(gated=gated) or "no change made it worse"

    def document(self, *, gated: bool) -> TrendReport:
        verdict = self.verdict(gated=gated)
        return TrendReport(
            verdict=cast(VerdictWord, verdict.word),
            exit_code=verdict.exit_code,
            gated=gated,
            reason=self.reason(gated=gated),
            label=self.label,
            runs=self.runs,
            max_pvalue=self.max_pvalue,
            window=self.window,
            failed=self.failing(),
            generator_bound=list(self.generator_bound),
            could_not_run=list(self.could_not_run),
            shapes=[shape.to_json() for shape in self.shapes],
            series=[
                TrendSeries(
                    metric=s.name,
                    shape=s.shape.to_json(),
                    lower_is_better=s.lower_is_better,
                    values=list(s.values),
                    runs=list(s.runs),
                    change_points=[
                        TrendChange(
                            run=cp.run,
                            before=cp.before,
                            index=cp.index,
                            change=cp.change,
                            absolute=cp.mean_after - cp.mean_before,
                            mean_before=cp.mean_before,
                            mean_after=cp.mean_after,
                            pvalue=cp.pvalue,
                            worse=cp.worse,
                            whose="host" if cp.host else "target",
                        )
                        for cp in s.change_points
                    ],
                )
                for s in self.series
            ],
        )


# (name, lower is better) of every metric a series can have, in the order the report shows them
METRICS: tuple[tuple[str, bool], ...] = (
    *((f"{op} {m}", True) for op in ("e2e", "put", "job", "query") for m in ("p50", "p99")),
    ("throughput", False),
    ("knee", False),
    ("findings", True),
    ("run time", True),
)


GENERATORS_OWN = frozenset(name for name, _ in METRICS if name.endswith(("p50", "p99")) or name == "throughput")


def metrics_of(record: RunRecord) -> dict[str, float]:
    """The values one run contributes to the series (a metric it did not measure is absent)."""
    out: dict[str, float] = {}
    for load in record.load_summaries()[:1]:
        if load.result is None:
            continue
        for op in ("e2e", "put", "job", "query"):
            stats = load.result.operations.get(op)
            if stats is not None and stats.count:
                out[f"{op} p50"], out[f"{op} p99"] = stats.p50, stats.p99
        out["throughput"] = load.result.throughput
    capacity = record.capacity()
    if capacity is not None and capacity.knee is not None:
        out["knee"] = capacity.knee.throughput
    if record.verdict != "COULD NOT RUN":  # a run that could not run found nothing, which is not "no findings"
        out["findings"] = float(len(findings_of(record)))
    if record.duration_s is not None:
        out["run time"] = float(record.duration_s)
    return out


def detect(values: Sequence[float], *, max_pvalue: float, window: int) -> list[tuple[int, float, float, float]]:
    """(index, mean before, mean after, p-value) of each change point Otava finds."""
    if len(values) < 4:
        return []
    points, _ = compute_change_points(list(values), window_len=window, max_pvalue=max_pvalue)
    return [(int(p.index), float(p.stats.mean_1), float(p.stats.mean_2), float(p.stats.pvalue)) for p in points]


def _series(
    records: Sequence[RunRecord], *, max_pvalue: float, window: int, left_out: list[str] | None = None
) -> dict[str, Series]:
    """The series of `records`; given `left_out`, a generator-bound run gives no latency or throughput
    point and its id is appended there."""
    out = {name: Series(name, low) for name, low in METRICS}
    for record in records:
        bound = left_out is not None and record.generator_bound
        if bound and left_out is not None:
            left_out.append(record.id)
        for name, value in metrics_of(record).items():
            if bound and name in GENERATORS_OWN:
                continue
            s = out[name]
            s.values.append(value)
            s.runs.append(record.id)
            s.started.append(record.started)
    for s in out.values():
        for index, before, after, p in detect(s.values, max_pvalue=max_pvalue, window=window):
            worse = after > before if s.lower_is_better else after < before
            s.change_points.append(
                ChangePoint(index, s.runs[index], s.runs[index - 1], s.started[index], before, after, p, worse)
            )
    return out


def trend(
    records: Sequence[RunRecord],
    canary: Sequence[RunRecord] = (),
    *,
    label: str,
    max_pvalue: float = 0.001,
    window: int = 30,
) -> Trend:
    """The series of `records` (oldest first) with their change points, one set per shape (`Shape`);
    `canary` (the embedded server's runs on the same host, oldest first) marks the changes that are the
    host's: its runs of the same shape. A/A runs are left out."""
    # A/A runs (`zscheck noise`) are the harness measuring its own noise, several in a few minutes: as
    # nights they would be a burst of points that a change-point test reads as a level.
    ordered = sorted((r for r in records if not r.is_aa), key=lambda r: r.started)
    bound: list[str] = []
    own_canary = bool(ordered) and all(r.is_canary for r in ordered)  # `zscheck trend embedded`: keeps them all
    nights = by_shape(sorted((r for r in canary if not r.is_aa), key=lambda r: r.started))
    shown: list[Series] = []
    groups = by_shape(ordered)
    for shape, runs in groups.items():
        target = _series(runs, max_pvalue=max_pvalue, window=window, left_out=None if own_canary else bound)
        # The canary of this shape: the embedded server's runs of the same load; of several server settings
        # (its --timing), the one it ran most recently (dicts keep by_shape's order: newest first).
        same = [group for c, group in nights.items() if c.of_target() == shape]
        host = _series(same[0] if same else [], max_pvalue=max_pvalue, window=window)
        for name, s in target.items():
            s.shape = shape
            c = host[name]
            if c.values:
                s.canary, s.canary_started = c.values, c.started
            for i, cp in enumerate(s.change_points):
                if any(
                    abs(h.started - cp.started) <= CANARY_SLACK
                    and (h.mean_after > h.mean_before) == (cp.mean_after > cp.mean_before)
                    for h in c.change_points
                ):
                    s.change_points[i] = ChangePoint(**{**cp.__dict__, "host": True})
        ratios = [_ratio(s, host[name], max_pvalue=max_pvalue, window=window) for name, s in target.items()]
        shown += [s for s in target.values() if s.values] + [r for r in ratios if r is not None and r.values]
    position = {r.id: i for i, r in enumerate(ordered)}
    return Trend(
        label,
        len(ordered),
        max_pvalue,
        window,
        shown,
        generator_bound=sorted(bound, key=position.__getitem__),
        could_not_run=[r.id for r in ordered if r.verdict == "COULD NOT RUN"],
        recent=[r.id for r in ordered[-RECENT:]],
        shapes=list(groups),
    )


def _ratio(target: Series, canary: Series, *, max_pvalue: float, window: int) -> Series | None:
    """The target's metric divided by the canary's of the same night (the nearest canary run within
    CANARY_SLACK): what the host did to both cancels out, so a step the host's noise hides in the target's
    own series can show here. Its change points are the target's."""
    if not canary.values or target.name in ("findings", "run time"):
        return None
    out = Series(f"{target.name} / canary", target.lower_is_better, shape=target.shape)
    for value, run, started in zip(target.values, target.runs, target.started, strict=True):
        near = min(range(len(canary.started)), key=lambda j: abs(canary.started[j] - started))
        if abs(canary.started[near] - started) <= CANARY_SLACK and canary.values[near] > 0:
            out.values.append(value / canary.values[near])
            out.runs.append(run)
            out.started.append(started)
    for index, before, after, p in detect(out.values, max_pvalue=max_pvalue, window=window):
        worse = after > before if out.lower_is_better else after < before
        cp = ChangePoint(index, out.runs[index], out.runs[index - 1], out.started[index], before, after, p, worse)
        out.change_points.append(cp)
    return out
