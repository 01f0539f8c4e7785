"""The statistics of `zscheck compare`, after Go's benchstat: a location with a bootstrap confidence
interval from the data, a significance test, and a verdict per metric of better, worse or `~` (no
significant change). Equivalence is two one-sided tests against the base shifted by the margin (TOST), so
"no regression larger than 5 %" is a claim with a stated confidence.

Two families. Over independent samples (`compare`, `equivalence`: medians, Mann-Whitney U). Over runs
(`compare_runs`, `equivalence_runs`), which is what compare uses: the seconds of one run are correlated,
so each run is one value, and the test is a permutation test over the runs, or with too few runs for that
the stored A/A noise of the metric (`Noise`) as the null, or no test and `~` with the reason.

Pure functions of samples. Resampling is seeded, so the same data always gives the same interval.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import mannwhitneyu
from scipy.stats import t as student_t

Direction = Literal["better", "worse", "~"]
RESAMPLES = 2000
Sample = Sequence[float] | NDArray[np.float64]
Array = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float  # e.g. 0.95

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Comparison:
    """One metric, base against candidate."""

    base: float  # the median of the base's sample
    candidate: float
    change: float  # candidate / base - 1 (0.10: ten percent higher)
    base_ci: Interval
    candidate_ci: Interval
    change_ci: Interval
    p_value: float  # Mann-Whitney U, two-sided
    n_base: int
    n_candidate: int
    lower_is_better: bool
    verdict: Direction

    def worse_beyond(self, margin: float) -> bool:
        """Significantly worse, and by more than `margin` (a fraction)."""
        signed = self.change if self.lower_is_better else -self.change
        return self.verdict == "worse" and signed > margin


@dataclass(frozen=True)
class Equivalence:
    """TOST at level alpha: each one-sided test's p-value, and what they prove together."""

    margin: float
    alpha: float
    p_regression: float  # H0: the candidate is worse by more than the margin
    p_improvement: float  # H0: the candidate is better by more than the margin
    no_regression: bool  # p_regression < alpha: "no regression larger than the margin"
    equivalent: bool  # both: "within the margin either way"

    def claim(self) -> str:
        confidence = f"{(1 - self.alpha) * 100:g}%"
        pct = f"{self.margin * 100:g}%"
        if self.equivalent:
            return f"equivalent within +/-{pct} at confidence {confidence}"
        if self.no_regression:
            return f"no regression larger than {pct} at confidence {confidence}"
        return f"a regression larger than {pct} cannot be ruled out at confidence {confidence}"


def _array(sample: Sample) -> Array:
    data = np.asarray(sample, dtype=float)
    if data.ndim != 1 or data.size == 0 or not np.all(np.isfinite(data)):
        raise ValueError(f"a sample must be a non-empty list of finite numbers, got {list(sample)[:5]}...")
    return data


def bootstrap_median(sample: Sample, *, level: float = 0.95, seed: int = 0) -> Interval:
    """The percentile bootstrap interval of the median."""
    data = _array(sample)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(data, size=(RESAMPLES, data.size), replace=True), axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return Interval(float(low), float(high), level)


def bootstrap_change(base: Sample, candidate: Sample, *, level: float = 0.95, seed: int = 0) -> Interval:
    """The percentile bootstrap interval of median(candidate) / median(base) - 1, each side resampled apart."""
    b, c = _array(base), _array(candidate)
    rng = np.random.default_rng(seed)
    mb = np.median(rng.choice(b, size=(RESAMPLES, b.size), replace=True), axis=1)
    mc = np.median(rng.choice(c, size=(RESAMPLES, c.size), replace=True), axis=1)
    ratios = np.divide(mc, mb, out=np.full_like(mc, np.nan), where=mb != 0) - 1
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return Interval(float("nan"), float("nan"), level)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Interval(float(low), float(high), level)


def mann_whitney(base: Sample, candidate: Sample) -> float:
    """Two-sided p-value; 1.0 when every value on both sides is the same (nothing to rank)."""
    b, c = _array(base), _array(candidate)
    if np.all(b == b[0]) and np.all(c == b[0]):
        return 1.0
    return float(mannwhitneyu(c, b, alternative="two-sided").pvalue)


def compare(
    base: Sample,
    candidate: Sample,
    *,
    lower_is_better: bool,
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """The two samples' medians, their intervals at 1-alpha, the change and its interval, and the verdict:
    `~` unless Mann-Whitney U rejects "same distribution" at alpha; then better or worse by the medians
    (by the mean ranks when the medians tie)."""
    b, c = _array(base), _array(candidate)
    level = 1 - alpha
    mb, mc = float(np.median(b)), float(np.median(c))
    p = mann_whitney(b, c)
    verdict: Direction = "~"
    if p < alpha:
        higher = mc > mb if mc != mb else _mean_rank_higher(b, c)
        verdict = "worse" if higher == lower_is_better else "better"
    return Comparison(
        base=mb,
        candidate=mc,
        change=(mc / mb - 1) if mb else float("nan"),
        base_ci=bootstrap_median(b, level=level, seed=seed),
        candidate_ci=bootstrap_median(c, level=level, seed=seed + 1),
        change_ci=bootstrap_change(b, c, level=level, seed=seed + 2),
        p_value=p,
        n_base=int(b.size),
        n_candidate=int(c.size),
        lower_is_better=lower_is_better,
        verdict=verdict,
    )


def _mean_rank_higher(b: Array, c: Array) -> bool:
    u = mannwhitneyu(c, b, alternative="two-sided").statistic
    return bool(u > b.size * c.size / 2)


def equivalence(
    base: Sample,
    candidate: Sample,
    *,
    margin: float,
    lower_is_better: bool,
    alpha: float = 0.05,
) -> Equivalence:
    """TOST with Mann-Whitney U: the candidate against the base scaled by 1 +/- margin (a multiplicative
    shift, as latencies move), one-sided each way. Rejecting the regression side at alpha proves "no
    regression larger than the margin" at confidence 1-alpha; rejecting both proves equivalence."""
    if not 0 < margin < 1:
        raise ValueError(f"the margin is a fraction between 0 and 1, got {margin}")
    b, c = _array(base), _array(candidate)
    above = float(mannwhitneyu(c, b * (1 + margin), alternative="less").pvalue)  # H0: c >= b (1 + m)
    below = float(mannwhitneyu(c, b * (1 - margin), alternative="greater").pvalue)  # H0: c <= b (1 - m)
    p_regression, p_improvement = (above, below) if lower_is_better else (below, above)
    return Equivalence(
        margin=margin,
        alpha=alpha,
        p_regression=p_regression,
        p_improvement=p_improvement,
        no_regression=p_regression < alpha,
        equivalent=max(p_regression, p_improvement) < alpha,
    )


# ------------------------------------------------------------------------------ across runs
#
# The seconds of one load run are not independent samples: the machine's state (other work, CPU
# frequency, the target's caches) moves whole runs, so two runs of one build differ by more than their
# seconds show, and a test over pooled seconds rejects "same build" far more often than alpha
# (bench/compare_noise.py measured 24/45 at alpha 0.05). The unit of replication is the run: each run
# becomes one value (its metric's summary, e.g. the geometric mean of its seconds), and a test is over
# those values, on the log scale (latencies move by factors).

Test = Literal["permutation", "aa-noise", "none"]
PERMUTATIONS = 20000  # exact enumeration up to this many splits (5 against 5 is 252), random beyond
ONE_RUN_A_SIDE = (
    "one run a side: run-to-run noise unknown; record A/A runs with `zscheck noise` or give --last N per side"
)


@dataclass(frozen=True)
class Noise:
    """One metric's run-to-run noise, from A/A pairs (two runs of one build, back to back): the log ratio
    of each pair. An A/A pair has no true change, so each log ratio is noise alone, with mean 0 and the
    variance of a difference of two runs; K pairs give that variance with K degrees of freedom.

    Run-to-run noise on a shared machine is not Gaussian: p99 and per-operation numbers have outlier
    runs, and a t-test on a few pairs called one of them a regression in 9 of 45 A/A comparisons
    (bench/compare_noise.py). With enough pairs (`rank_test`) one run a side is ranked among the pairs
    instead: under "no change" its log ratio is one more draw of the same noise, so p = (1 + the pairs at
    least as far from 0) / (pairs + 1) is exact whatever the noise's shape (a conformal p-value)."""

    log_ratios: tuple[float, ...]

    def rank_test(self, alpha: float) -> bool:
        """Enough pairs for the rank test to reach p < alpha: 1 / (pairs + 1) < alpha."""
        return self.pairs >= math.floor(1 / alpha) if alpha > 0 else False

    def rank_p(self, d: float) -> float:
        """The two-sided rank p of a log ratio `d` among the pairs' (exact under exchangeability)."""
        spread = np.abs(np.asarray(self.log_ratios, dtype=float))
        return float((1 + np.sum(spread >= abs(d) - 1e-12)) / (self.pairs + 1))

    def _rank_bound(self, alpha: float) -> float:
        """The smallest |log ratio| the rank test calls a change at alpha: beyond the pairs' `c`-th
        largest spread, where c + 1 < alpha (pairs + 1)."""
        spread = np.sort(np.abs(np.asarray(self.log_ratios, dtype=float)))[::-1]
        c = max(math.ceil(alpha * (self.pairs + 1) - 1) - 1, 0)
        return float(spread[min(c, spread.size - 1)])

    @property
    def pairs(self) -> int:
        return len(self.log_ratios)

    @property
    def sigma(self) -> float:
        """The standard deviation of one pair's log ratio (its mean known to be 0)."""
        return float(np.sqrt(np.mean(np.square(self.log_ratios)))) if self.log_ratios else float("nan")

    def floor(self, alpha: float) -> float:
        """The smallest change one run a side can show at alpha: the margin `--max-regression` must exceed
        for a regression of its size to be told from this noise."""
        if self.rank_test(alpha):
            return float(np.exp(self._rank_bound(alpha)) - 1)
        return float(np.exp(student_t.ppf(1 - alpha / 2, self.pairs) * self.sigma) - 1)

    def half_width(self, alpha: float, n: int, m: int) -> float:
        """Half the (1 - alpha) interval of a difference of mean logs of n and m runs under this noise."""
        scale = math.sqrt((1 / n + 1 / m) / 2)
        if self.rank_test(alpha) and n == m == 1:
            return self._rank_bound(alpha)
        return float(student_t.ppf(1 - alpha / 2, self.pairs)) * self.sigma * scale


@dataclass(frozen=True)
class RunComparison:
    """One metric across runs: each side's runs as one value each (e.g. each run's geometric mean of its
    seconds), the geometric means of the sides, and the verdict of a test over runs."""

    base: float  # the geometric mean of the base's run values
    candidate: float
    change: float  # candidate / base - 1
    base_ci: Interval  # bootstrap over the side's runs (a point with one run)
    candidate_ci: Interval
    change_ci: Interval | None  # None: no test, so no interval that means anything
    p_value: float | None  # None: no test could be made (see reason)
    n_base: int
    n_candidate: int
    lower_is_better: bool
    verdict: Direction
    test: Test  # permutation over runs, the stored A/A noise as the null, or none
    reason: str = ""  # why `~` without a test, or what the null was

    def worse_beyond(self, margin: float) -> bool:
        signed = self.change if self.lower_is_better else -self.change
        return self.verdict == "worse" and signed > margin


def _logs(sample: Sample) -> Array:
    data = _array(sample)
    if np.any(data <= 0):
        raise ValueError(f"run values must be positive to compare as ratios, got {sorted(data)[:3]}")
    return np.log(data)


def min_permutation_p(n: int, m: int) -> float:
    """The smallest two-sided p an exact permutation test of n against m values can give."""
    return (2 if n == m else 1) / math.comb(n + m, n)


def _splits(n: int, m: int, seed: int) -> tuple[NDArray[np.intp], int]:
    """The candidate's indices in each split of n + m pooled values (every split when there are at most
    PERMUTATIONS, else that many random ones), and how many splits there are in all."""
    total = math.comb(n + m, m)
    if total <= PERMUTATIONS:
        return np.array(list(itertools.combinations(range(n + m), m)), dtype=np.intp), total
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((PERMUTATIONS, n + m)), axis=1)[:, :m], total


def permutation_p(
    base: Sample,
    candidate: Sample,
    *,
    shift: float = 0.0,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    seed: int = 0,
) -> float:
    """The permutation test of mean(candidate) - shift - mean(base) (values as given: the caller passes
    logs). Every split of the pooled values into the two sides' sizes is equally likely under "same
    distribution"; p is the share of splits at least as extreme as the observed one. Exact up to
    PERMUTATIONS splits, else that many random ones (with the observed split counted)."""
    b, c = np.asarray(base, dtype=float), np.asarray(candidate, dtype=float) - shift
    n, m = b.size, c.size
    pooled = np.concatenate([b, c])
    chosen, total = _splits(n, m, seed)
    sums = pooled[chosen].sum(axis=1)
    stats = sums / m - (pooled.sum() - sums) / n
    observed = float(c.mean() - b.mean())
    eps = 1e-9 * max(1.0, abs(observed))  # the observed split itself must count despite rounding
    if alternative == "two-sided":
        hits = np.abs(stats) >= abs(observed) - eps
    elif alternative == "greater":
        hits = stats >= observed - eps
    else:
        hits = stats <= observed + eps
    if total <= PERMUTATIONS:
        return float(hits.mean())
    return float((hits.sum() + 1) / (PERMUTATIONS + 1))


def noise_p(
    base: Sample,
    candidate: Sample,
    noise: Noise,
    *,
    shift: float = 0.0,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    rank: bool = False,
) -> float:
    """The difference of the sides' mean logs against the A/A noise: with sigma the A/A pairs' spread, a
    difference of means of n and m runs has standard error sigma * sqrt((1/n + 1/m) / 2) (a pair is a
    difference of two runs); Student's t with as many degrees of freedom as pairs. With `rank` (one run a
    side and enough pairs: `Noise.rank_test`) the difference is ranked among the pairs' log ratios instead
    (`Noise.rank_p`; one-sided: half of it on the tested side, the noise being symmetric, an A/A pair's
    order arbitrary)."""
    b, c = np.asarray(base, dtype=float), np.asarray(candidate, dtype=float)
    d = float(c.mean() - b.mean()) - shift
    if rank:
        two_sided = noise.rank_p(d)
        if alternative == "two-sided":
            return two_sided
        on_side = d > 0 if alternative == "greater" else d < 0
        return two_sided / 2 if on_side else 1 - two_sided / 2
    se = noise.sigma * math.sqrt((1 / b.size + 1 / c.size) / 2)
    if se == 0:
        return 1.0 if d == 0 else 0.0
    t = d / se
    if alternative == "two-sided":
        return float(2 * student_t.sf(abs(t), noise.pairs))
    return float(student_t.sf(t, noise.pairs) if alternative == "greater" else student_t.cdf(t, noise.pairs))


# ------------------------------------------------------------------ the gate over a family of metrics
#
# A gate that fails when any of J metrics, each tested at alpha, reads worse has a false-alarm rate up to
# J x alpha (bench/compare_noise.py measured 17/100 A/A comparisons over 14 metrics at alpha 0.05, every
# metric alone at alpha). Bonferroni cannot mend it here: a rank among 20 A/A pairs never goes below
# p = 1/21, 4 against 4 runs never below 1/70. The max-statistic test (Westfall and Young) can: each
# metric's change in units of its own spread, the largest of them, against the largest in each draw of the
# null made of all the metrics at once (an A/A pair; a split of the runs), so their correlation is kept and
# the test is exact under the same exchangeability as each metric's.


def max_worse_permutation_p(
    base: Array, candidate: Array, worse_sign: Array, counted: Array, *, seed: int = 0
) -> float:
    """`base` (n x J) and `candidate` (m x J): each run's log values of J metrics. `worse_sign[j]` is +1
    where a higher value is worse (a latency), -1 where lower is (a throughput); `counted[j]` marks the
    metrics the gate may fail on. p of the largest counted worse change (each metric's mean difference
    over its pooled spread) among the largest over all metrics in every split of the runs."""
    b, c = np.asarray(base, dtype=float), np.asarray(candidate, dtype=float)
    n, m = b.shape[0], c.shape[0]
    pooled = np.concatenate([b, c])
    scale = pooled.std(axis=0, ddof=1)
    scale = np.where(scale > 0, scale, np.inf)  # a metric that never moved never counts
    sign, mask = np.asarray(worse_sign, dtype=float), np.asarray(counted, dtype=bool)
    z = sign * (c.mean(axis=0) - b.mean(axis=0)) / scale
    if not mask.any():
        return 1.0
    observed = float(z[mask].max())
    chosen, total = _splits(n, m, seed)
    sums = pooled[chosen].sum(axis=1)  # splits x J
    diffs = sums / m - (pooled.sum(axis=0) - sums) / n
    largest = (sign * diffs / scale).max(axis=1)
    hits = largest >= observed - 1e-9 * max(1.0, abs(observed))
    if total <= PERMUTATIONS:
        return float(hits.mean())
    return float((hits.sum() + 1) / (PERMUTATIONS + 1))


def max_worse_rank_p(change: Array, pairs: Array, counted: Array) -> float:
    """One run a side: `change` (J) the candidate's log ratio to the base per metric, signed so that
    positive is worse; `pairs` (K x J) the stored A/A pairs' log ratios of the same metrics, pair by pair.
    p of the largest counted change (over each metric's A/A spread) ranked among each pair's largest
    |log ratio| over all metrics (a pair's order is arbitrary: either side may read worse)."""
    d, r = np.asarray(change, dtype=float), np.asarray(pairs, dtype=float)
    mask = np.asarray(counted, dtype=bool)
    if not mask.any():
        return 1.0
    # Each metric's spread from the pairs and the candidate alike: so the candidate is one more draw,
    # treated as the pairs are, and the rank exact (a spread of the pairs alone shrinks toward their own).
    sigma = np.sqrt(np.mean(np.vstack([r, d]) ** 2, axis=0))
    sigma = np.where(sigma > 0, sigma, np.inf)
    observed = float((d / sigma)[mask].max())
    largest = (np.abs(r) / sigma).max(axis=1)
    return float((1 + np.sum(largest >= observed - 1e-12)) / (r.shape[0] + 1))


def effective_tests(pairs: Array) -> float:
    """How many independent tests J correlated metrics amount to (Li and Ji 2005, from the eigenvalues of
    the metrics' correlation over the A/A pairs `pairs`, K x J): J when they are independent, 1 when they
    move as one. Bonferroni over that many is the family's correction where no exact one applies (a t-test
    against a few A/A pairs): approximate, as any correlation estimated from a few pairs is. A metric whose
    pairs never moved is a test of its own."""
    r = np.asarray(pairs, dtype=float)
    moved = r.std(axis=0) > 0
    still = int(np.sum(~moved))
    if np.sum(moved) <= 1:
        return float(still + np.sum(moved))
    eigen = np.abs(np.linalg.eigvalsh(np.corrcoef(r[:, moved], rowvar=False)))
    return float(still + np.sum((eigen >= 1) + (eigen - np.floor(eigen))))


def bootstrap_geomean(sample: Sample, *, level: float = 0.95, seed: int = 0) -> Interval:
    """The percentile bootstrap interval of the geometric mean (a point for one value)."""
    logs = _logs(sample)
    rng = np.random.default_rng(seed)
    means = np.exp(np.mean(rng.choice(logs, size=(RESAMPLES, logs.size), replace=True), axis=1))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(low), float(high), level)


def compare_runs(
    base: Sample,
    candidate: Sample,
    *,
    lower_is_better: bool,
    alpha: float = 0.05,
    noise: Noise | None = None,
    seed: int = 0,
) -> RunComparison:
    """One value per run on each side. The test: a permutation test over the runs when each side has
    enough of them for it to reach p < alpha (4 against 4; 3 against 3 never can); else, given the
    stored A/A noise of this metric, that noise as the null; else none, and the verdict is `~` with the
    reason. better/worse by the sign of the change when p < alpha."""
    b, c = _logs(base), _logs(candidate)
    n, m = b.size, c.size
    level = 1 - alpha
    gb, gc = float(np.exp(b.mean())), float(np.exp(c.mean()))
    d = float(c.mean() - b.mean())
    p: float | None = None
    change_ci: Interval | None = None
    test: Test = "none"
    reason = ""
    if n >= 2 and m >= 2 and min_permutation_p(n, m) < alpha:
        test, p = "permutation", permutation_p(b, c, seed=seed)
        reason = f"permutation test over {n} against {m} runs"
        rng = np.random.default_rng(seed + 2)
        diffs = np.mean(rng.choice(c, (RESAMPLES, m)), axis=1) - np.mean(rng.choice(b, (RESAMPLES, n)), axis=1)
        tail = (1 - level) / 2 * 100
        lo, hi = np.percentile(np.exp(diffs) - 1, [tail, 100 - tail])
        change_ci = Interval(float(lo), float(hi), level)
    elif noise is not None and noise.pairs >= 2:
        # Ranked only one run a side: a mean of several runs is no draw of a pair's noise (bimodal run
        # noise put a 3-against-3 ranked test at a 23% A/A rate), so there the t-test stands.
        rank = noise.rank_test(alpha) and n == m == 1
        test, p = "aa-noise", noise_p(b, c, noise, rank=rank)
        enough = math.floor(1 / alpha)
        how = "ranked among them" if rank else "a t-test assuming Gaussian noise"
        if not rank and n == m == 1:
            how += f"; one run a side against {enough} pairs is ranked, distribution-free"
        reason = (
            f"against the stored A/A noise ({noise.pairs} pairs, {how}; a change under {noise.floor(alpha):.1%} "
            "is noise)"
        )
        half = noise.half_width(alpha, n, m)
        change_ci = Interval(float(np.exp(d - half) - 1), float(np.exp(d + half) - 1), level)
    elif n == 1 and m == 1:
        reason = ONE_RUN_A_SIDE
    else:
        reason = (
            f"{n} against {m} runs: a permutation test cannot reach p < {alpha:g} and run-to-run noise is "
            "unknown; record A/A runs with `zscheck noise` or give --last 4 per side"
        )
    verdict: Direction = "~"
    if p is not None and p < alpha and d != 0:
        verdict = "worse" if (d > 0) == lower_is_better else "better"
    return RunComparison(
        base=gb,
        candidate=gc,
        change=gc / gb - 1,
        base_ci=bootstrap_geomean(np.exp(b), level=level, seed=seed),
        candidate_ci=bootstrap_geomean(np.exp(c), level=level, seed=seed + 1),
        change_ci=change_ci,
        p_value=p,
        n_base=n,
        n_candidate=m,
        lower_is_better=lower_is_better,
        verdict=verdict,
        test=test,
        reason=reason,
    )


def equivalence_runs(
    base: Sample,
    candidate: Sample,
    *,
    margin: float,
    lower_is_better: bool,
    alpha: float = 0.05,
    noise: Noise | None = None,
    seed: int = 0,
) -> Equivalence:
    """TOST over runs: two one-sided tests of the log change against log(1 + margin) and log(1 - margin),
    by the test compare_runs would use (permutation over runs, or the A/A noise); with neither, nothing is
    proven (both p are 1)."""
    if not 0 < margin < 1:
        raise ValueError(f"the margin is a fraction between 0 and 1, got {margin}")
    b, c = _logs(base), _logs(candidate)
    up, down = math.log(1 + margin), math.log(1 - margin)
    if b.size >= 2 and c.size >= 2 and min_permutation_p(b.size, c.size) < alpha:
        above = permutation_p(b, c, shift=up, alternative="less", seed=seed)  # H0: the change >= +margin
        below = permutation_p(b, c, shift=down, alternative="greater", seed=seed)  # H0: the change <= -margin
    elif noise is not None and noise.pairs >= 2:
        rank = noise.rank_test(alpha) and b.size == c.size == 1  # as compare_runs
        above = noise_p(b, c, noise, shift=up, alternative="less", rank=rank)
        below = noise_p(b, c, noise, shift=down, alternative="greater", rank=rank)
    else:
        above = below = 1.0
    p_regression, p_improvement = (above, below) if lower_is_better else (below, above)
    return Equivalence(
        margin=margin,
        alpha=alpha,
        p_regression=p_regression,
        p_improvement=p_improvement,
        no_regression=p_regression < alpha,
        equivalent=max(p_regression, p_improvement) < alpha,
    )
