"""compare's statistics on synthetic samples whose answer is known: a table of cases, each able to fail."""

from __future__ import annotations

import numpy as np
import pytest

from zscheck.history.stats import (
    ONE_RUN_A_SIDE,
    Noise,
    bootstrap_change,
    bootstrap_median,
    compare,
    compare_runs,
    effective_tests,
    equivalence,
    equivalence_runs,
    mann_whitney,
    max_worse_permutation_p,
    max_worse_rank_p,
    min_permutation_p,
    permutation_p,
)


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


# ------------------------------------------------------------------------------ across runs


def runs(median: float, n: int, seed: int, sigma: float = 0.1) -> list[float]:
    """n runs' values of one metric: each run its own draw (the run-to-run noise)."""
    return lognormal(median, n, seed, sigma)


def test_a_permutation_test_over_runs_says_same_for_one_distribution_and_worse_for_a_shift() -> None:
    same = compare_runs(runs(10, 5, 1), runs(10, 5, 2), lower_is_better=True)
    assert same.verdict == "~" and same.test == "permutation" and same.p_value is not None and same.p_value > 0.05
    shifted = compare_runs(runs(10, 5, 1), runs(14, 5, 2), lower_is_better=True)
    assert shifted.verdict == "worse" and shifted.p_value is not None and shifted.p_value < 0.05
    assert shifted.change == pytest.approx(0.4, abs=0.15) and shifted.change_ci is not None
    assert shifted.change_ci.low > 0 and shifted.worse_beyond(0.05)
    faster_throughput = compare_runs(runs(100, 5, 1), runs(140, 5, 2), lower_is_better=False)
    assert faster_throughput.verdict == "better"


def test_the_permutation_test_is_exact_for_small_sides() -> None:
    # 4 against 4, completely separated: 2 of the 70 splits are as extreme (the observed and its mirror)
    assert permutation_p(np.log([1.0, 1.1, 1.2, 1.3]), np.log([2.0, 2.1, 2.2, 2.3])) == pytest.approx(2 / 70)
    assert min_permutation_p(4, 4) == pytest.approx(2 / 70) and min_permutation_p(3, 3) == pytest.approx(0.1)


def test_the_permutation_false_positive_rate_is_at_most_alpha() -> None:
    """The property compare needs: over many A/A splits of one distribution, 5 runs a side, the test rejects
    at most about alpha of them (a 99.9% binomial band above 5% of 300)."""
    rejections = sum(
        compare_runs(runs(10, 5, 2 * s, 0.3), runs(10, 5, 2 * s + 1, 0.3), lower_is_better=True).verdict != "~"
        for s in range(300)
    )
    assert rejections <= 27


def test_too_few_runs_a_side_without_noise_is_not_tested_and_says_why() -> None:
    one = compare_runs([10.0], [15.0], lower_is_better=True)
    assert (one.verdict, one.test, one.p_value, one.change_ci) == ("~", "none", None, None)
    assert one.reason == ONE_RUN_A_SIDE and "zscheck noise" in one.reason and "--last N" in one.reason
    assert one.change == pytest.approx(0.5)
    three = compare_runs(runs(10, 3, 1), runs(30, 3, 2), lower_is_better=True)  # 3v3 can never reach 0.05
    assert three.verdict == "~" and "3 against 3 runs" in three.reason and "--last 4" in three.reason


def test_one_run_a_side_against_stored_aa_noise() -> None:
    """A/A pairs whose log ratios spread by about 5%: a 30% change is beyond that noise, a 3% one is not."""
    noise = Noise(tuple(np.random.default_rng(5).normal(0, 0.05, 12)))
    assert noise.pairs == 12 and 0.03 < noise.sigma < 0.08
    assert 0.05 < noise.floor(0.05) < 0.2  # the smallest change one run a side can show
    worse = compare_runs([10.0], [13.0], lower_is_better=True, noise=noise)
    assert worse.verdict == "worse" and worse.test == "aa-noise" and "12 pairs" in worse.reason
    assert worse.change_ci is not None and worse.change_ci.low > 0
    small = compare_runs([10.0], [10.3], lower_is_better=True, noise=noise)
    assert small.verdict == "~" and small.test == "aa-noise" and small.p_value is not None and small.p_value > 0.05


def test_the_aa_noise_null_keeps_its_false_positive_rate() -> None:
    """One run a side, both from the noise the pairs measured: rejected about alpha of the time."""
    rng = np.random.default_rng(9)
    run_sigma = 0.1
    rejections = 0
    for _ in range(400):
        pairs = Noise(tuple(rng.normal(0, run_sigma, 8) - rng.normal(0, run_sigma, 8)))
        a, b = np.exp(rng.normal(0, run_sigma, 2))
        rejections += compare_runs([a], [b], lower_is_better=True, noise=pairs).verdict != "~"
    assert 6 <= rejections <= 36  # 5% of 400 = 20; a binomial 99.9% band


def _outlier_runs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Log run values as a shared machine gives them for p99 and per-operation numbers: mostly a 5%
    spread, and one run in ten an outlier several times further out."""
    return np.where(rng.random(n) < 0.1, rng.normal(0, 0.5, n), rng.normal(0, 0.05, n))


def test_with_enough_pairs_the_aa_null_ranks_and_keeps_alpha_with_outlier_runs() -> None:
    """The t-test on the pairs' spread assumes Gaussian noise; outlier runs break it (a real bench saw 9 of
    45 A/A comparisons called a regression). Ranked among 20 pairs or more, one run a side keeps alpha
    whatever the noise's shape; with 8 pairs the same runs are over it."""
    rng = np.random.default_rng(11)
    ranked = tested = 0
    trials = 600
    for _ in range(trials):
        few = Noise(tuple(_outlier_runs(rng, 8) - _outlier_runs(rng, 8)))
        many = Noise(tuple(_outlier_runs(rng, 24) - _outlier_runs(rng, 24)))
        a, b = np.exp(_outlier_runs(rng, 2))
        result = compare_runs([a], [b], lower_is_better=True, noise=many)
        assert result.test == "aa-noise" and "ranked among them" in result.reason
        ranked += result.verdict != "~"
        gaussian = compare_runs([a], [b], lower_is_better=True, noise=few)
        assert "a t-test assuming Gaussian noise; one run a side against 20 pairs is ranked" in gaussian.reason
        tested += gaussian.verdict != "~"
    assert ranked <= 45  # 5% of 600 = 30; a binomial 99.5% band's top
    # several runs a side: their mean is no draw of a pair's noise, so the t-test, whatever the pairs
    several = compare_runs([1.0, 1.1, 0.9], [1.0, 1.05, 0.95], lower_is_better=True, noise=many)
    assert several.test == "aa-noise" and several.reason.startswith("against the stored A/A noise (24 pairs, a t-test")
    assert tested > 45, tested  # what the rank test is for: the t-test on few pairs is over alpha here


@pytest.mark.parametrize(
    ("spread", "d", "p"),
    [
        ([0.1] * 20, 0.2, 1 / 21),  # beyond every pair: the smallest p 20 pairs give
        ([0.1] * 20, 0.1, 1.0),  # as far as every pair
        ([0.01 * k for k in range(1, 21)], 0.21, 1 / 21),
        ([0.01 * k for k in range(1, 21)], -0.21, 1 / 21),  # two-sided: either direction
        ([0.01 * k for k in range(1, 21)], 0.185, 3 / 21),  # two pairs further out (0.19, 0.20): (1 + 2) / 21
        ([-0.01 * k for k in range(1, 21)], 0.185, 3 / 21),  # a pair's order is arbitrary: its sign is no evidence
    ],
)
def test_the_rank_p_of_one_run_a_side(spread: list[float], d: float, p: float) -> None:
    noise = Noise(tuple(spread))
    assert noise.rank_test(0.05) and not Noise(tuple(spread[:19])).rank_test(0.05)
    assert noise.rank_p(d) == pytest.approx(p)


def test_the_rank_floor_is_the_change_the_rank_test_starts_calling() -> None:
    noise = Noise(tuple(np.random.default_rng(2).normal(0, 0.05, 30)))
    floor = noise.floor(0.05)
    assert floor == pytest.approx(np.exp(np.sort(np.abs(noise.log_ratios))[-1]) - 1)  # 30 pairs: beyond the widest
    assert compare_runs([10.0], [10.0 * (1 + floor) * 1.001], lower_is_better=True, noise=noise).verdict == "worse"
    assert compare_runs([10.0], [10.0 * (1 + floor) * 0.999], lower_is_better=True, noise=noise).verdict == "~"
    assert compare_runs([10.0], [10.0 / ((1 + floor) * 1.001)], lower_is_better=True, noise=noise).verdict == "better"
    tost = equivalence_runs([10.0], [10.0], margin=floor * 1.5, lower_is_better=True, noise=noise)
    assert tost.no_regression  # no change at all, the margin beyond the noise: proven
    assert not equivalence_runs([10.0], [10.0], margin=floor * 0.5, lower_is_better=True, noise=noise).no_regression


@pytest.mark.parametrize(
    ("candidate", "no_regression"),
    [
        ([10.0, 10.1, 9.9, 10.05, 9.95], True),  # the same: no regression beyond 10%
        ([13.0, 13.1, 12.9, 13.05, 12.95], False),  # 30% slower
    ],
)
def test_tost_over_runs(candidate: list[float], no_regression: bool) -> None:
    base = [10.0, 10.05, 9.95, 10.1, 9.9]
    result = equivalence_runs(base, candidate, margin=0.10, lower_is_better=True)
    assert result.no_regression == no_regression
    nothing = equivalence_runs([10.0], [10.0], margin=0.10, lower_is_better=True)
    assert not nothing.no_regression and nothing.p_regression == 1.0


# ------------------------------------------------------------------ the gate over a family of metrics

J = 14  # the metrics compare gates on
ALL = np.ones(J, dtype=bool)
LATENCY = np.ones(J)  # every metric a latency: higher is worse


def test_the_family_gate_keeps_alpha_where_any_metric_at_alpha_does_not() -> None:
    """One run a side against 20 A/A pairs of 14 independent metrics, 400 A/A draws: failing when any metric
    ranks beyond alpha alone is a family-wise rate near 1 - 0.95^14; the max-statistic test stays within a
    99.9% band around alpha (0.05 +- 3.3 binomial standard errors)."""
    rng = np.random.default_rng(11)
    family = any_metric = 0
    for _ in range(400):
        pairs = rng.normal(0, 0.1, (20, J))
        change = rng.normal(0, 0.1, J)
        family += max_worse_rank_p(change, pairs, change > 0) < 0.05
        any_metric += any(Noise(tuple(pairs[:, j])).rank_p(change[j]) < 0.05 and change[j] > 0 for j in range(J))
    assert any_metric / 400 > 0.2
    assert family / 400 <= 0.05 + 3.3 * np.sqrt(0.05 * 0.95 / 400)


def test_the_family_gate_finds_one_metric_far_beyond_its_noise() -> None:
    """10% slower where a pair of runs differs by 2% (this machine's realistic-timing runs: cv 0.015):
    41 of 50 (the price of an exact test over 14 metrics with 20 pairs; more pairs, more power)."""
    rng = np.random.default_rng(12)
    found = 0
    for _ in range(50):
        pairs = rng.normal(0, 0.02, (20, J))
        change = rng.normal(0, 0.02, J)
        change[3] += np.log(1.10)  # 10% slower where runs vary by 2%
        found += max_worse_rank_p(change, pairs, change > np.log(1.05)) < 0.05
    assert found >= 38


def test_the_family_permutation_gate_keeps_alpha_and_finds_a_shift() -> None:
    """5 against 5 runs of 14 correlated metrics: the largest standardised change over all 252 splits."""
    rng = np.random.default_rng(13)
    mix = rng.normal(0, 1, (J, J)) * 0.3 + np.eye(J)
    false_alarms = found = 0
    for _ in range(300):
        runs = rng.normal(0, 0.05, (10, J)) @ mix
        base, cand = runs[:5], runs[5:]
        false_alarms += max_worse_permutation_p(base, cand, LATENCY, ALL) < 0.05
        shifted = cand.copy()
        shifted[:, 0] += 0.5  # far beyond the runs' spread
        found += max_worse_permutation_p(base, shifted, LATENCY, ALL) < 0.05
    assert false_alarms / 300 <= 0.05 + 3.3 * np.sqrt(0.05 * 0.95 / 300)
    assert found / 300 >= 0.95


def test_a_throughput_reads_worse_when_it_falls() -> None:
    base = np.log(np.full((5, 1), 100.0)) + np.random.default_rng(14).normal(0, 0.01, (5, 1))
    fell = base - 0.5
    assert max_worse_permutation_p(base, fell, -np.ones(1), np.ones(1, dtype=bool)) < 0.05
    assert max_worse_permutation_p(base, fell, np.ones(1), np.ones(1, dtype=bool)) > 0.5


@pytest.mark.parametrize(
    ("columns", "low", "high"),
    [
        ("independent", 9.0, 14.0),  # 14 independent metrics over 40 pairs: about 14 (the estimate is noisy)
        ("one", 1.0, 1.0),  # 14 copies of one metric: one test
        ("one-and-still", 2.0, 2.0),  # 13 copies and a metric whose pairs never moved
    ],
)
def test_the_effective_number_of_tests(columns: str, low: float, high: float) -> None:
    rng = np.random.default_rng(15)
    if columns == "independent":
        pairs = rng.normal(0, 1, (40, J))
    else:
        pairs = np.repeat(rng.normal(0, 1, (40, 1)), J, axis=1)
        if columns == "one-and-still":
            pairs[:, -1] = 0.0
    assert low - 1e-9 <= effective_tests(pairs) <= high + 1e-9
