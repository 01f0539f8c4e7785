"""`zscheck compare`: two sides of stored runs (one run each, or several), finding by finding and metric by
metric.

The unit of replication is the run. The seconds of one load run are correlated (the machine moves whole
runs: other work, CPU frequency), so pooling them and testing the pool finds "differences" between two
runs of one build far more often than alpha (bench/compare_noise.py measured 24/45 at alpha 0.05). Each
run is one value per metric (`run_values`):
- `all` p50, p99 and ops/s: the geometric mean of the run's seconds (the user-level operations: every e2e,
  query and invalid call), the first and last second left out (ramp-up and a partial second);
- each operation's (put, job, e2e, query, invalid) p50 and p99, and the run's throughput.

Each metric's test (zscheck.history.stats.compare_runs): a permutation test over the runs when each side
has enough (4 against 4); else the stored A/A noise of that target and scenario (`zscheck noise`) as the
null; else none, and the verdict is `~` with the reason. A regression is significantly worse and by more
than `--max-regression`.

The gate (`--max-regression`) fails on any metric, so it is judged as a family (`Family`): the largest
worse change among the metrics, each in units of its own spread, must be beyond what the null gives as
the largest over all of them (zscheck.history.stats, the max-statistic test), or the per-metric verdicts
stand in the table and the gate holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zscheck.history.findings import Finding, FindingsDiff, diff
from zscheck.history.record import RunRecord
from zscheck.history.shape import differences, load_facts
from zscheck.history.stats import (
    Equivalence,
    Noise,
    RunComparison,
    compare_runs,
    effective_tests,
    equivalence_runs,
    max_worse_permutation_p,
    max_worse_rank_p,
)
from zscheck.report.documents import (
    NO_VERDICT_NOTE,
    CompareEquivalence,
    CompareFamily,
    CompareFinding,
    CompareFindings,
    CompareMetric,
    CompareSide,
    ComparisonReport,
    LoadResult,
    LoadSummary,
)
from zscheck.verdict import Verdict

COMPARE_SCHEMA = ComparisonReport.schema_tag()
MIN_RUNS = 4  # a permutation test of 4 against 4 runs can reach p < 0.05 (2/70); 3 against 3 never can
OPERATIONS = ("e2e", "put", "job", "query", "invalid")
# (operation, metric, unit, lower is better), in the order the report shows them
METRICS: tuple[tuple[str, str, str, bool], ...] = (
    ("all", "p50", "s", True),
    ("all", "p99", "s", True),
    ("all", "ops/s", "ops/s", False),
    *((op, m, "s", True) for op in OPERATIONS for m in ("p50", "p99")),
    ("all", "throughput", "ops/s", False),
)


def metric_key(operation: str, metric: str) -> str:
    return f"{operation} {metric}"


@dataclass(frozen=True)
class Side:
    label: str  # what the user named: a run id, a directory, a target with --last N
    records: tuple[RunRecord, ...]

    def _measured(self) -> list[tuple[RunRecord, LoadSummary, LoadResult]]:
        """Each load run of the side's records that measured something: its record, summary and result."""
        return [(r, s, s.result) for r in self.records for s in r.load_summaries() if s.result is not None]

    def loads(self) -> list[LoadResult]:
        return [result for _, _, result in self._measured()]

    def load_facts(self) -> list[dict[str, str]]:
        """What each of `loads()` put on its target (zscheck.history.shape.load_facts), in the same order."""
        return [load_facts(s, canary=r.is_canary) for r, s, _ in self._measured()]


def load_mismatch(base: Side, candidate: Side) -> str | None:
    """How the compared runs' loads differ, said as a person reads it, or None when they are of one load.
    A metric measured under another load (10 users wait longer than 5) is no verdict on the build; a fact
    only one run recorded (an older zscheck's summary) is no difference."""
    said = []
    facts = {"the base": base.load_facts(), "the candidate": candidate.load_facts()}
    for name, runs in facts.items():
        values: dict[str, list[str]] = {}
        for other in runs[1:]:
            for fact, first, value in differences(runs[0], other):
                values.setdefault(fact, [first]).append(value)
        if values:
            listed = ", ".join(f"{fact} {' and '.join(dict.fromkeys(v))}" for fact, v in values.items())
            said.append(f"{name}'s runs measured different loads ({listed})")
    b, c = facts["the base"], facts["the candidate"]
    across = differences(b[0], c[0]) if b and c else []
    if across:
        listed = ", ".join(f"{fact} {one} against {other}" for fact, one, other in across)
        said.append(f"the base and the candidate measured different loads ({listed})")
    return "; ".join(said) or None


@dataclass(frozen=True)
class Row:
    operation: str  # "all" for the user-level operations together
    metric: str
    unit: str  # "s" or "ops/s"
    base: list[float]  # one value per run
    candidate: list[float]
    comparison: RunComparison
    equivalence: Equivalence | None = None
    # The smallest change one run a side can tell from the stored A/A noise at alpha (None: no A/A runs
    # of this target and scenario are stored).
    noise_floor: float | None = None

    @property
    def verdict(self) -> str:
        return self.comparison.verdict

    @property
    def note(self) -> str:
        return self.comparison.reason


@dataclass(frozen=True)
class Family:
    """The gate's test over every tested metric at once: p of the largest worse change beyond the margin."""

    p: float
    metrics: int  # how many metrics the test held together
    how: str  # the test, for a note


@dataclass
class Result:
    base: Side
    candidate: Side
    alpha: float
    margin: float | None
    equivalence_mode: bool
    findings: FindingsDiff
    rows: list[Row] = field(default_factory=list)
    noise_source: str | None = None  # where the A/A noise came from, e.g. "6 A/A pairs of ... (toggle)"
    noise_hosts: tuple[Mapping[str, Any], ...] = ()  # the host facts of the A/A pairs' runs
    family: Family | None = None  # None: no metric was tested
    mismatch: str | None = None  # how the runs' loads differ (load_mismatch); None: one load

    @property
    def worse(self) -> list[Row]:
        """Rows significantly worse beyond the margin (any significant regression when no margin is set)."""
        margin = self.margin if self.margin is not None else 0.0
        return [r for r in self.rows if r.comparison.worse_beyond(margin)]

    @property
    def not_within(self) -> list[Row]:
        """Equivalence mode: rows whose "no regression beyond the margin" the runs could not show."""
        return [r for r in self.rows if r.equivalence is not None and not r.equivalence.no_regression]

    def generator_bound(self, side: Side) -> list[str]:
        """The runs of `side` whose load generator was the limit (their self-check)."""
        return [r.id for r in side.records if r.generator_bound]

    # A run whose generator was the limit measured upper bounds of its latencies and a lower bound of its
    # throughput. So a starved candidate's "worse" (or "not shown within the margin") may be the
    # generator's, and is no verdict, as a load gate broken then is none; its "within the margin" holds.
    # A starved base only reads slower: a candidate worse than it is worse still; "not worse" than it is
    # weaker than it reads, which a note says (not exit 2: closed loops against the embedded server starve
    # their generator every run, and `zscheck run --compare-to` must still answer there).

    @property
    def family_holds(self) -> bool:
        """The metrics read worse one by one, but not as the family the gate judges."""
        return self.family is not None and self.family.p >= self.alpha

    @property
    def regressions(self) -> list[Row]:
        """The rows worse beyond the margin that are a verdict on the target: measured under one load, and
        the family's test passed too."""
        if self.mismatch or self.generator_bound(self.candidate) or self.family_holds:
            return []
        return self.worse

    @property
    def unproven(self) -> list[Row]:
        """The rows not shown within the margin that are a verdict on the target (equivalence mode)."""
        return [] if self.mismatch or self.generator_bound(self.candidate) else self.not_within

    def no_verdict(self) -> str | None:
        """With a margin, why the comparison's gate could not judge (exit 2), or None; a ComparisonReport
        note starting with NO_VERDICT_NOTE."""
        if self.margin is None:
            return None
        missing = [] if self.rows else self.without_loads()  # a row is a metric both sides measured
        if missing:
            return (
                f"{NO_VERDICT_NOTE}--max-regression {self.margin * 100:g}% judges load metrics, but "
                f"{' and '.join(missing)}; do: compare runs that measured load (zscheck load, or zscheck run with "
                "its load phase)"
            )
        if self.rows and self.mismatch:
            return (
                f"{NO_VERDICT_NOTE}--max-regression {self.margin * 100:g}% judges the build, but {self.mismatch}: "
                "a metric that moved may be the load's; do: compare runs of one load (the same options; `zscheck "
                "trend` keeps each load a series of its own)"
            )
        if self.rows and len(self.untested) == len(self.rows):
            return (
                f"{NO_VERDICT_NOTE}--max-regression {self.margin * 100:g}% could test none of the {len(self.rows)} "
                f"metrics: {self.untested[0].note}"
            )
        do = "rerun it with more --processes, workers on other machines (--master), or a quieter machine"
        candidate = self.generator_bound(self.candidate)
        unsure = len({id(r) for r in (*self.worse, *self.not_within)})
        if candidate and unsure:
            said = (
                f"{len(self.worse)} metric(s) read worse than the margin allows"
                if self.worse
                else f"{len(self.not_within)} metric(s) were not shown within the margin"
            )
            return (
                f"{NO_VERDICT_NOTE}{said}, but the candidate's load "
                f"generator was the limit in run(s) {', '.join(candidate)} (their self-check): what it measured "
                f"may be the generator; do: {do}"
            )
        return None

    def without_loads(self) -> list[str]:
        """The sides that measured no load, as said: "the candidate has no load results (run X: COULD NOT RUN)"."""
        out = []
        for name, side in (("the base", self.base), ("the candidate", self.candidate)):
            if not side.loads():
                runs = ", ".join(f"{r.id}: {r.command} {r.verdict}" for r in side.records)
                out.append(f"{name} has no load results (run {runs})")
        return out

    def starved_base(self) -> str | None:
        """A note when the base's generator was the limit and the comparison passed."""
        base = self.generator_bound(self.base)
        if not base or self.failed() or self.no_verdict():
            return None
        return (
            f"the base's load generator was the limit in run(s) {', '.join(base)} (their self-check): its "
            "latencies are upper bounds, so not worse than them is weaker than it reads"
        )

    def verdict(self) -> Verdict:
        """VIOLATIONS when the gate fails (new findings stand whatever the generator did), COULD NOT RUN when
        it could not judge, PASS otherwise."""
        if self.failed():
            return Verdict.VIOLATIONS
        return Verdict.COULD_NOT_RUN if self.no_verdict() else Verdict.PASS

    def reason(self) -> str:
        """Why the verdict is what it is, for the text's last line and the page."""
        failed, unjudged = self.failed(), self.no_verdict()
        if failed:
            return "; ".join(failed)
        if unjudged:
            return unjudged
        margin = f", nothing worse by more than {self.margin * 100:g}%" if self.margin is not None else ""
        return f"no new finding{margin}"

    @property
    def untested(self) -> list[Row]:
        return [r for r in self.rows if r.comparison.test == "none"]

    def notes(self) -> list[str]:
        """What the reader must know to read the verdicts: metrics not tested, a margin inside the noise."""
        out = []
        if any(r.comparison.test == "aa-noise" for r in self.rows):
            out.extend(machine_state(self.noise_hosts, [*self.base.records, *self.candidate.records]))
        if self.untested:
            out.append(f"{len(self.untested)} metric(s) not tested: {self.untested[0].note}")
        if self.rows and self.mismatch and self.margin is None:  # with a margin, no_verdict says it
            out.append(f"{self.mismatch}: the metrics' verdicts may be the load's, not the build's")
        unjudged = self.no_verdict()
        if unjudged:
            out.append(unjudged)
        weaker = self.starved_base()
        if weaker:
            out.append(weaker)
        if self.margin is not None and self.worse and self.family is not None and self.family_holds:
            out.append(
                f"{len(self.worse)} metric(s) read worse by more than {self.margin * 100:g}% one by one, but not as "
                f"the family of {self.family.metrics} the gate judges ({self.family.how}: p = {self.family.p:.3g}, "
                f"alpha {self.alpha:g}): with that many metrics, some read worse by chance; the gate holds"
            )
        one_a_side = len(self.base.records) == 1 and len(self.candidate.records) == 1
        if self.margin is not None and one_a_side:  # the floor is one run a side's (more runs test over runs)
            inside = [r for r in self.rows if r.noise_floor is not None and r.noise_floor > self.margin]
            if inside:
                worst = max(inside, key=lambda r: r.noise_floor or 0.0)
                out.append(
                    f"--max-regression {self.margin * 100:g}% is inside the A/A noise of {len(inside)} metric(s) "
                    f"(e.g. {worst.operation} {worst.metric}: {worst.noise_floor or 0.0:.1%}): one run a side "
                    "cannot show a regression that small; give --last N per side"
                )
        return out

    def failed(self) -> list[str]:
        """Why the comparison fails its gate (empty: it passes): new findings; regressions beyond
        --max-regression; in equivalence mode, any metric not proven within it."""
        reasons = [f"{len(self.findings.new)} new finding(s)"] if self.findings.new else []
        if self.margin is not None and self.regressions:
            reasons.append(f"{len(self.regressions)} metric(s) worse by more than {self.margin * 100:g}%")
        if self.equivalence_mode and self.unproven:
            reasons.append(f"{len(self.unproven)} metric(s) not proven within {(self.margin or 0) * 100:g}%")
        return reasons

    def document(self) -> ComparisonReport:
        def finding(f: Finding) -> CompareFinding:
            return CompareFinding(key=f.key, check=f.check, rule=f.rule, operation=f.operation, example=f.example)

        def metric(r: Row) -> CompareMetric:
            c, e = r.comparison, r.equivalence
            return CompareMetric(
                operation=r.operation,
                metric=r.metric,
                unit="s" if r.unit == "s" else "ops/s",
                verdict=c.verdict,
                test=c.test,
                reason=c.reason,
                base=r.base,
                candidate=r.candidate,
                base_value=c.base,
                base_ci=(c.base_ci.low, c.base_ci.high),
                candidate_value=c.candidate,
                candidate_ci=(c.candidate_ci.low, c.candidate_ci.high),
                change=c.change,
                change_ci=None if c.change_ci is None else (c.change_ci.low, c.change_ci.high),
                p_value=c.p_value,
                noise_floor=r.noise_floor,
                equivalence=None
                if e is None
                else CompareEquivalence(
                    p_regression=e.p_regression,
                    p_improvement=e.p_improvement,
                    no_regression=e.no_regression,
                    equivalent=e.equivalent,
                    claim=e.claim(),
                ),
            )

        return ComparisonReport(
            base=CompareSide(label=self.base.label, runs=[r.id for r in self.base.records]),
            candidate=CompareSide(label=self.candidate.label, runs=[r.id for r in self.candidate.records]),
            alpha=self.alpha,
            max_regression=self.margin,
            equivalence=self.equivalence_mode,
            noise=self.noise_source,
            findings=CompareFindings(
                new=[finding(f) for f in self.findings.new],
                fixed=[finding(f) for f in self.findings.fixed],
                persisting=[finding(f) for f in self.findings.persisting],
            ),
            metrics=[metric(r) for r in self.rows],
            family=None
            if self.family is None
            else CompareFamily(p=self.family.p, metrics=self.family.metrics, how=self.family.how),
            notes=self.notes(),
            failed=self.failed(),
        )

    def to_json(self) -> dict[str, Any]:
        return self.document().to_json()


LOAD_SLACK = 0.5  # per CPU: half the machine busy (or idle) beyond anything the A/A pairs saw


def machine_state(pairs: Sequence[Mapping[str, Any]], runs: Sequence[RunRecord]) -> list[str]:
    """How the compared runs' machine differed from the one the stored A/A pairs measured (their host
    facts: name, CPUs, the 1-minute load average as each run ended). The A/A noise is a null only for runs
    made in the state it was measured in: on this machine, pairs recorded while the load rose called
    20/100 A/A comparisons at alpha 0.05 (bench/compare_noise.py), and a busier host reads slower for
    any build. A fact a record lacks (an older store, an imported run) is not held against it."""
    if not pairs or not runs:
        return []
    out = []
    fix = "record `zscheck noise` where and as these runs ran; until then read a verdict against it as the machine's"
    names = {str(h["name"]) for h in pairs if h.get("name")}
    away = sorted({str(r.host["name"]) for r in runs if r.host.get("name") and names and r.host["name"] not in names})
    if away:
        out.append(f"the compared runs ran on {', '.join(away)}, the A/A pairs on {', '.join(sorted(names))}: {fix}")
    cpus = {int(h["cpus"]) for h in pairs if h.get("cpus")}
    other = sorted({int(r.host["cpus"]) for r in runs if r.host.get("cpus") and cpus and r.host["cpus"] not in cpus})
    if other:
        out.append(f"the compared runs had {other} CPUs, the A/A pairs {sorted(cpus)}: {fix}")
    loads = [float(h["load1"]) for h in pairs if h.get("load1") is not None]
    if loads and not other:
        low, high = min(loads), max(loads)
        slack = LOAD_SLACK * (min(cpus) if cpus else 1)
        outside = [
            (r.id, float(r.host["load1"]))
            for r in runs
            if r.host.get("load1") is not None and not low - slack <= float(r.host["load1"]) <= high + slack
        ]
        if outside:
            shown = ", ".join(f"{load:.2f} ({run})" for run, load in outside[:3])
            out.append(
                f"load average as the compared runs ended {shown}{' ...' if len(outside) > 3 else ''}, outside the "
                f"A/A pairs' {low:.2f} to {high:.2f} by more than {slack:g}: the stored noise was measured in "
                f"another machine state; {fix}"
            )
    return out


def per_second(load: LoadResult, metric: str) -> list[float]:
    """One value per second of the run, the first and last second left out when it has more than 4."""
    seconds = [s for s in load.timeline if s.ops > 0]
    if len(seconds) > 4:
        seconds = seconds[1:-1]
    return [float(s.ops) if metric == "ops/s" else float(getattr(s, metric)) for s in seconds]


def _geomean(values: Sequence[float]) -> float | None:
    positive = [v for v in values if v > 0]
    if not positive or len(positive) < len(values):
        return None  # a second with a 0 latency (nothing measured in it) is no summary of the run
    return math.exp(sum(math.log(v) for v in positive) / len(positive))


def run_values(load: LoadResult) -> dict[str, float]:
    """The one value per metric that a run contributes (keyed `operation metric`; a metric the run did not
    measure, or measured as 0, is absent)."""
    out: dict[str, float] = {}
    for metric in ("p50", "p99", "ops/s"):
        value = _geomean(per_second(load, metric))
        if value is not None:
            out[metric_key("all", metric)] = value
    for operation in OPERATIONS:
        stats = load.operations.get(operation)
        if stats is None or not stats.count:
            continue
        for metric in ("p50", "p99"):
            value = float(getattr(stats, metric))
            if value > 0:
                out[metric_key(operation, metric)] = value
    if load.throughput > 0:
        out[metric_key("all", "throughput")] = float(load.throughput)
    return out


def run_compare(
    base: Side,
    candidate: Side,
    *,
    alpha: float = 0.05,
    margin: float | None = None,
    equivalence_mode: bool = False,
    noise: Mapping[str, Noise] | None = None,
    noise_source: str | None = None,
    noise_hosts: Sequence[Mapping[str, Any]] = (),
    seed: int = 0,
) -> Result:
    """Each metric of the two sides' runs compared (`noise`: the stored A/A noise of each metric, keyed
    `operation metric`, used when a side has too few runs for a test over runs)."""
    if equivalence_mode and margin is None:
        raise ValueError("equivalence needs a margin: give --max-regression, e.g. 5%")
    noise = dict(noise or {})
    result = Result(
        base,
        candidate,
        alpha,
        margin,
        equivalence_mode,
        diff(base.records, candidate.records),
        noise_source=noise_source if noise else None,
        noise_hosts=tuple(noise_hosts) if noise else (),
        mismatch=load_mismatch(base, candidate),
    )
    b = [run_values(load) for load in base.loads()]
    c = [run_values(load) for load in candidate.loads()]
    if not b or not c:
        return result  # findings only: a side without a load run has no metrics to compare
    for operation, metric, unit, low in METRICS:
        key = metric_key(operation, metric)
        xs, ys = [v[key] for v in b if key in v], [v[key] for v in c if key in v]
        if not xs or not ys:
            continue
        aa = noise.get(key)
        comparison = compare_runs(xs, ys, lower_is_better=low, alpha=alpha, noise=aa, seed=seed)
        tost = None
        if equivalence_mode and margin is not None:
            tost = equivalence_runs(xs, ys, margin=margin, lower_is_better=low, alpha=alpha, noise=aa, seed=seed)
        floor = aa.floor(alpha) if aa is not None and aa.pairs >= 2 else None
        result.rows.append(Row(operation, metric, unit, xs, ys, comparison, tost, floor))
    result.family = family_test(result.rows, len(b), len(c), noise, margin or 0.0, alpha=alpha, seed=seed)
    return result


def family_test(
    rows: Sequence[Row], n: int, m: int, noise: Mapping[str, Noise], margin: float, *, alpha: float, seed: int = 0
) -> Family | None:
    """The gate's test over the tested rows together (the module's docstring). The rows a gate may fail
    on are those whose change reads worse beyond the margin. Each row's own test decides the family's: a
    split of the runs when every row was tested by permutation over the same runs; the A/A pairs, pair by
    pair, when every row was ranked one run a side among the same pairs; else Bonferroni over the rows'
    p-values (a t-test against the noise can go as low as it needs), over as many tests as the metrics
    amount to by their correlation in the A/A pairs when every row has the same pairs."""
    tested = [r for r in rows if r.comparison.test != "none" and r.comparison.p_value is not None]
    if not tested:
        return None
    sign = np.array([1.0 if r.comparison.lower_is_better else -1.0 for r in tested])
    counted = np.array([_beyond(r.comparison, margin) for r in tested])
    runs_aligned = all(len(r.base) == n and len(r.candidate) == m for r in tested)
    if all(r.comparison.test == "permutation" for r in tested) and runs_aligned:
        base = np.log(np.array([r.base for r in tested], dtype=float).T)
        cand = np.log(np.array([r.candidate for r in tested], dtype=float).T)
        p = max_worse_permutation_p(base, cand, sign, counted, seed=seed)
        return Family(p, len(tested), f"the largest worse change over every split of the {n + m} runs")
    aa = [noise.get(metric_key(r.operation, r.metric)) for r in tested]
    sizes = {len(a.log_ratios) for a in aa if a is not None}
    # noise_of appends each pair's ratios in pair order: with as many for every metric, row k is pair k
    same_pairs = all(a is not None for a in aa) and len(sizes) == 1
    pairs = np.array([a.log_ratios for a in aa if a is not None], dtype=float).T if same_pairs else None
    one_a_side = n == m == 1 and runs_aligned
    if pairs is not None and one_a_side and all(a is not None and a.rank_test(alpha) for a in aa):
        change = sign * np.log(np.array([r.candidate[0] / r.base[0] for r in tested], dtype=float))
        p = max_worse_rank_p(change, pairs, counted)
        return Family(p, len(tested), f"the largest worse change ranked among {pairs.shape[0]} A/A pairs' largest")
    ps = [
        1.0 if r.comparison.p_value is None else r.comparison.p_value for r, c in zip(tested, counted, strict=True) if c
    ]
    tests = float(len(tested)) if pairs is None or pairs.shape[0] < 2 else effective_tests(pairs)
    p = min(1.0, tests * min(ps)) if ps else 1.0
    return Family(p, len(tested), f"Bonferroni over the {tests:.3g} independent tests they amount to")


def _beyond(c: RunComparison, margin: float) -> bool:
    """The change reads worse beyond the margin, significant or not."""
    return (c.change if c.lower_is_better else -c.change) > margin
