"""The statistics of `zscheck compare`, after Go's benchstat: a location (the median) with a bootstrap
confidence interval from the data, Mann-Whitney U as the significance test, and a verdict per metric of
better, worse or `~` (no significant change). Equivalence is two one-sided Mann-Whitney tests against the
base shifted by the margin (TOST), so "no regression larger than 5 %" is a claim with a stated confidence.

Pure functions of samples: the caller decides what a sample is (the seconds of a load run, or the runs of
a side). Resampling is seeded, so the same data always gives the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import mannwhitneyu

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
