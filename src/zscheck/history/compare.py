"""`zscheck compare`: two sides of stored runs (one run each, or several), finding by finding and metric by
metric.

What a sample is, per metric:
- the user-level operations second by second (`all`: every e2e, query and invalid call of the run): each
  second's p50, p99 and operations are a sample, pooled over the side's runs, the first and last second
  of each run left out (ramp-up and a partial second). The seconds' latencies are kept in buckets about
  9 % apart (zscheck.metrics), which is the finest change one second can show; many seconds show less.
- each operation (put, job, e2e, query, ...) and the run's throughput: one value per run, so they are
  tested only when each side has at least `MIN_RUNS` runs (`--last N`); with fewer they are shown, not
  judged.

A change must be significant, beyond `--max-regression`, and (when the base has two runs or more) beyond
the base's own A/A noise floor to count as a regression: on a shared machine two runs of one build differ
by more than the seconds of either run show (bench/compare_noise.py measured it).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zscheck.history.findings import Finding, FindingsDiff, diff
from zscheck.history.record import RunRecord
from zscheck.history.stats import Comparison, Equivalence, compare, equivalence
from zscheck.report.documents import LoadResult

COMPARE_SCHEMA = "zscheck/compare/1"
MIN_RUNS = 4  # Mann-Whitney on 4 against 4 can reach p < 0.05 (0.029); on 3 against 3 it never can
TIMELINE_METRICS = (("p50", True), ("p99", True), ("ops/s", False))  # (metric, lower is better)
RUN_METRICS = (("p50", True), ("p99", True))
OPERATIONS = ("e2e", "put", "job", "query", "invalid")


@dataclass(frozen=True)
class Side:
    label: str  # what the user named: a run id, a directory, a target with --last N
    records: tuple[RunRecord, ...]

    def loads(self) -> list[LoadResult]:
        return [s.result for r in self.records for s in r.load_summaries() if s.result is not None]


@dataclass(frozen=True)
class Row:
    operation: str  # "all" for the user-level operations second by second
    metric: str
    unit: str  # "s" or "ops/s"
    sample: str  # "seconds" or "runs"
    base: list[float]
    candidate: list[float]
    comparison: Comparison | None  # None: too few runs to judge (see note)
    equivalence: Equivalence | None = None
    note: str = ""
    # The largest change between two of the base's own runs (A/A): what a change must exceed before it is
    # the build's rather than the machine's. None: the base has one run, so its noise is not known.
    noise_floor: float | None = None

    @property
    def verdict(self) -> str:
        return self.comparison.verdict if self.comparison is not None else "n/a"


@dataclass
class Result:
    base: Side
    candidate: Side
    alpha: float
    margin: float | None
    equivalence_mode: bool
    findings: FindingsDiff
    rows: list[Row] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        """Rows significantly worse beyond the margin (any significant regression when no margin is set)."""
        margin = self.margin if self.margin is not None else 0.0
        return [
            r
            for r in self.rows
            if r.comparison is not None and r.comparison.worse_beyond(max(margin, r.noise_floor or 0.0))
        ]

    @property
    def unproven(self) -> list[Row]:
        """Equivalence mode: rows whose "no regression beyond the margin" could not be shown."""
        return [r for r in self.rows if r.equivalence is not None and not r.equivalence.no_regression]

    def failed(self) -> list[str]:
        """Why the comparison fails its gate (empty: it passes): new findings; regressions beyond
        --max-regression; in equivalence mode, any metric not proven within it."""
        reasons = [f"{len(self.findings.new)} new finding(s)"] if self.findings.new else []
        if self.margin is not None and self.regressions:
            reasons.append(f"{len(self.regressions)} metric(s) worse by more than {self.margin * 100:g}%")
        if self.equivalence_mode and self.unproven:
            reasons.append(f"{len(self.unproven)} metric(s) not proven within {(self.margin or 0) * 100:g}%")
        return reasons

    def to_json(self) -> dict[str, Any]:
        def finding(f: Finding) -> dict[str, Any]:
            return {"key": f.key, "check": f.check, "rule": f.rule, "operation": f.operation, "example": f.example}

        def row(r: Row) -> dict[str, Any]:
            c, e = r.comparison, r.equivalence
            return {
                "operation": r.operation,
                "metric": r.metric,
                "unit": r.unit,
                "sample": r.sample,
                "verdict": r.verdict,
                "note": r.note,
                "base": None if c is None else {"median": c.base, "ci": [c.base_ci.low, c.base_ci.high], "n": c.n_base},
                "candidate": None
                if c is None
                else {"median": c.candidate, "ci": [c.candidate_ci.low, c.candidate_ci.high], "n": c.n_candidate},
                "change": None if c is None else c.change,
                "change_ci": None if c is None else [c.change_ci.low, c.change_ci.high],
                "p_value": None if c is None else c.p_value,
                "noise_floor": r.noise_floor,
                "equivalence": None
                if e is None
                else {
                    "p_regression": e.p_regression,
                    "p_improvement": e.p_improvement,
                    "no_regression": e.no_regression,
                    "equivalent": e.equivalent,
                    "claim": e.claim(),
                },
            }

        return {
            "schema": COMPARE_SCHEMA,
            "base": {"label": self.base.label, "runs": [r.id for r in self.base.records]},
            "candidate": {"label": self.candidate.label, "runs": [r.id for r in self.candidate.records]},
            "alpha": self.alpha,
            "max_regression": self.margin,
            "equivalence": self.equivalence_mode,
            "findings": {
                "new": [finding(f) for f in self.findings.new],
                "fixed": [finding(f) for f in self.findings.fixed],
                "persisting": [finding(f) for f in self.findings.persisting],
            },
            "metrics": [row(r) for r in self.rows],
            "failed": self.failed(),
        }


def per_second(loads: Sequence[LoadResult], metric: str) -> list[float]:
    """One value per second of each run, the first and last second left out when a run has more than 4."""
    out: list[float] = []
    for load in loads:
        seconds = [s for s in load.timeline if s.ops > 0]
        if len(seconds) > 4:
            seconds = seconds[1:-1]
        out.extend(float(s.ops) if metric == "ops/s" else getattr(s, metric) for s in seconds)
    return out


def noise_floor(loads: Sequence[LoadResult], metric: str) -> float | None:
    """The largest relative change of the per-second median between two runs of one side (A/A); None
    with fewer than two runs. A shared machine moves whole runs (other work, CPU frequency), which the
    seconds of one run cannot show: this is what a change between builds has to exceed."""
    medians = [statistics.median(values) for load in loads if (values := per_second([load], metric))]
    pairs = [(a, b) for i, a in enumerate(medians) for b in medians[i + 1 :] if a > 0 and b > 0]
    return max((max(a, b) / min(a, b) - 1 for a, b in pairs), default=None)


def per_run(loads: Sequence[LoadResult], operation: str, metric: str) -> list[float]:
    return [getattr(load.operations[operation], metric) for load in loads if operation in load.operations]


def run_compare(
    base: Side,
    candidate: Side,
    *,
    alpha: float = 0.05,
    margin: float | None = None,
    equivalence_mode: bool = False,
    seed: int = 0,
) -> Result:
    if equivalence_mode and margin is None:
        raise ValueError("equivalence needs a margin: give --max-regression, e.g. 5%")
    result = Result(base, candidate, alpha, margin, equivalence_mode, diff(base.records, candidate.records))
    b, c = base.loads(), candidate.loads()
    if not b or not c:
        return result  # findings only: a side without a load run has no metrics to compare

    def judged(operation: str, metric: str, unit: str, sample: str, xs: list[float], ys: list[float], low: bool) -> Row:
        comparison = compare(xs, ys, lower_is_better=low, alpha=alpha, seed=seed)
        tost = None
        if equivalence_mode and margin is not None:
            tost = equivalence(xs, ys, margin=margin, lower_is_better=low, alpha=alpha)
        return Row(operation, metric, unit, sample, xs, ys, comparison, tost)

    for metric, low in TIMELINE_METRICS:
        xs, ys = per_second(b, metric), per_second(c, metric)
        if xs and ys:
            row = judged("all", metric, "ops/s" if metric == "ops/s" else "s", "seconds", xs, ys, low)
            result.rows.append(dataclasses.replace(row, noise_floor=noise_floor(b, metric)))
    enough = len(b) >= MIN_RUNS and len(c) >= MIN_RUNS
    for operation in OPERATIONS:
        for metric, low in RUN_METRICS:
            xs, ys = per_run(b, operation, metric), per_run(c, operation, metric)
            if not xs or not ys:
                continue
            if enough:
                result.rows.append(judged(operation, metric, "s", "runs", xs, ys, low))
            else:
                note = f"{len(b)} against {len(c)} runs: judged from {MIN_RUNS} runs a side (--last {MIN_RUNS})"
                result.rows.append(Row(operation, metric, "s", "runs", xs, ys, None, note=note))
    xs, ys = [load.throughput for load in b], [load.throughput for load in c]
    if enough:
        result.rows.append(judged("all", "throughput", "ops/s", "runs", xs, ys, False))
    return result
