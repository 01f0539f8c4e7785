"""compare's statistics on synthetic samples whose answer is known: a table of cases, each able to fail."""

from __future__ import annotations

import numpy as np
import pytest

from zscheck.history.stats import bootstrap_change, bootstrap_median, compare, equivalence, mann_whitney


def lognormal(median: float, n: int, seed: int, sigma: float = 0.1) -> list[float]:
    """Latency-like: skewed, positive, with the given median."""
    return list(median * np.exp(np.random.default_rng(seed).normal(0.0, sigma, n)))


@pytest.mark.parametrize(
    ("base", "candidate", "lower_is_better", "verdict"),
    [
        (lognormal(10, 60, 1), lognormal(10, 60, 2), True, "~"),  # the same distribution
        (lognormal(10, 60, 1), lognormal(11, 60, 2), True, "worse"),  # 10% slower
        (lognormal(10, 60, 1), lognormal(9, 60, 2), True, "better"),  # 10% faster
        (lognormal(100, 60, 1), lognormal(90, 60, 2), False, "worse"),  # throughput down 10%
        (lognormal(100, 60, 1), lognormal(110, 60, 2), False, "better"),
        (lognormal(10, 5, 1), lognormal(10.5, 5, 2), True, "~"),  # 5% on five samples: not shown
        ([1.0] * 20, [1.0] * 20, True, "~"),  # nothing to rank
        ([1.0] * 30 + [2.0] * 10, [1.0] * 10 + [2.0] * 30, True, "worse"),  # tied medians (quantised): the ranks
    ],
)
def test_verdicts(base: list[float], candidate: list[float], lower_is_better: bool, verdict: str) -> None:
    assert compare(base, candidate, lower_is_better=lower_is_better).verdict == verdict


def test_the_numbers_of_a_ten_percent_regression() -> None:
    result = compare(lognormal(10, 200, 1), lognormal(11, 200, 2), lower_is_better=True)
    assert result.change == pytest.approx(0.10, abs=0.02)
    assert result.change_ci.low > 0 and 0.10 in result.change_ci  # the interval holds the true change
    assert 10 in result.base_ci and 11 in result.candidate_ci
    assert result.p_value < 1e-6 and (result.n_base, result.n_candidate) == (200, 200)
    assert result.worse_beyond(0.05) and not result.worse_beyond(0.20)


def test_a_better_metric_is_never_worse_beyond_a_margin() -> None:
    assert not compare(lognormal(10, 100, 1), lognormal(8, 100, 2), lower_is_better=True).worse_beyond(0.05)


@pytest.mark.parametrize(("n", "widest"), [(20, 0.2), (200, 0.06)])
def test_the_median_interval_narrows_with_data_and_covers_the_truth(n: int, widest: float) -> None:
    covered = 0
    for seed in range(40):
        ci = bootstrap_median(lognormal(10, n, seed), level=0.95, seed=seed)
        covered += 10 in ci
        assert (ci.high - ci.low) / 10 < widest
    assert covered >= 34  # about 95% of 40; the percentile bootstrap runs a little narrow on small samples


def test_the_bootstrap_is_seeded() -> None:
    sample = lognormal(10, 50, 3)
    assert bootstrap_median(sample, seed=4) == bootstrap_median(sample, seed=4)
    assert bootstrap_change(sample, sample, seed=4) == bootstrap_change(sample, sample, seed=4)


def test_mann_whitney_false_positive_rate_is_about_alpha() -> None:
    rejections = sum(mann_whitney(lognormal(10, 30, 2 * s), lognormal(10, 30, 2 * s + 1)) < 0.05 for s in range(400))
    assert 8 <= rejections <= 34  # 5% of 400 = 20; a binomial 99.9% band


@pytest.mark.parametrize(
    ("candidate_median", "lower_is_better", "no_regression", "equivalent"),
    [
        (10.0, True, True, True),  # the same: equivalent within 5%
        (10.2, True, True, True),  # 2% slower: inside the margin
        (11.0, True, False, False),  # 10% slower: a regression beyond 5% is not ruled out
        (9.0, True, True, False),  # 10% faster: no regression, but not equivalent
        (9.0, False, False, False),  # throughput 10% lower: a regression
        (11.0, False, True, False),  # throughput 10% higher
    ],
)
def test_tost(candidate_median: float, lower_is_better: bool, no_regression: bool, equivalent: bool) -> None:
    base, candidate = lognormal(10, 300, 1, 0.05), lognormal(candidate_median, 300, 2, 0.05)
    result = equivalence(base, candidate, margin=0.05, lower_is_better=lower_is_better)
    assert (result.no_regression, result.equivalent) == (no_regression, equivalent)
    assert ("no regression larger than 5%" in result.claim()) == (no_regression and not equivalent)


def test_tost_on_too_little_data_proves_nothing() -> None:
    result = equivalence(lognormal(10, 4, 1), lognormal(10, 4, 2), margin=0.05, lower_is_better=True)
    assert not result.no_regression and "cannot be ruled out at confidence 95%" in result.claim()


@pytest.mark.parametrize("bad", [[], [float("nan")], [1.0, float("inf")]])
def test_a_sample_must_be_numbers(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="non-empty list of finite numbers"):
        compare(bad, [1.0], lower_is_better=True)
