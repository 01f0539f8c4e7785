"""The USL fit on synthetic steps from known σ and κ, and Little's law, table-driven."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zscheck.load import usl


def synthetic(lam: float, sigma: float, kappa: float, loads: list[float], noise: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(usl.usl(n, lam, sigma, kappa)) * (1 + rng.normal(0, noise)) for n in loads]


LOADS = [float(n) for n in range(1, 41, 3)]


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"),
    [(100.0, 0.05, 0.002), (100.0, 0.02, 0.0005), (250.0, 0.3, 0.01), (50.0, 0.0, 0.001)],
)
def test_the_fit_recovers_known_parameters_and_their_peak_within_its_intervals(
    lam: float, sigma: float, kappa: float
) -> None:
    result = usl.fit(LOADS, synthetic(lam, sigma, kappa, LOADS, 0.01, seed=7))
    assert result.predictable, result.statement
    assert result.sigma is not None and result.kappa is not None and result.lam is not None
    n_star = math.sqrt((1 - sigma) / kappa)
    peak = float(usl.usl(n_star, lam, sigma, kappa))
    for estimate, truth in (
        (result.lam, lam),
        (result.sigma, sigma),
        (result.kappa, kappa),
        (result.peak_concurrency, n_star),
        (result.peak_throughput, peak),
    ):
        assert estimate is not None and estimate.low is not None and estimate.high is not None
        assert estimate.low <= truth <= estimate.high, (estimate, truth)
    assert result.peak_throughput is not None and result.peak_throughput.value == pytest.approx(peak, rel=0.03)
    assert f"at {result.peak_concurrency.value:.1f} users" in result.statement  # type: ignore[union-attr]
    assert len(result.residuals) == len(LOADS) and result.r_squared is not None and result.r_squared > 0.98
    assert all(abs(r.relative) < 0.05 for r in result.residuals)


def test_without_crosstalk_no_peak_is_claimed_but_the_contention_ceiling_is() -> None:
    result = usl.fit(LOADS, synthetic(200.0, 0.1, 0.0, LOADS, 0.01, seed=3))
    assert not result.predictable and result.peak_throughput is None
    assert "peak not predictable" in result.statement and "κ" in result.statement
    assert result.ceiling is not None and result.ceiling.low is not None and result.ceiling.high is not None
    assert result.ceiling.low <= 2000.0 <= result.ceiling.high


@pytest.mark.parametrize(
    ("loads", "throughput", "why"),
    [
        ([1.0, 2.0, 3.0], [10.0, 19.0, 27.0], "3 distinct loads"),
        ([4.0, 4.0, 8.0, 8.0], [10.0, 11.0, 19.0, 20.0], "2 distinct loads"),
        ([], [], "0 distinct loads"),
    ],
)
def test_too_few_loads_are_no_model(loads: list[float], throughput: list[float], why: str) -> None:
    result = usl.fit(loads, throughput)
    assert not result.predictable and result.lam is None
    assert result.statement.startswith("peak not predictable from these steps") and why in result.statement


def test_noise_that_hides_the_curve_gives_no_peak() -> None:
    # a flat line with 20 % noise over a short range: κ cannot be told from 0
    rng = np.random.default_rng(5)
    loads = [1.0, 2.0, 3.0, 4.0, 5.0]
    throughput = [100.0 * n * (1 + rng.normal(0, 0.2)) for n in loads]
    assert not usl.fit(loads, throughput).predictable


@pytest.mark.parametrize(
    ("users", "throughput", "latency", "closed", "agrees"),
    [
        (20, 248.7, 0.0801, True, True),  # measured on latency-under-load: 19.9 in the system
        (20, 248.7, 0.040, True, False),  # half the users' time outside the operations: the generator
        (64, 500.0, 0.010, False, True),  # open model: 5 in flight of 64 users
        (4, 500.0, 0.020, False, False),  # 10 in flight with 4 users: impossible, the numbers are wrong
    ],
)
def test_littles_law(users: int, throughput: float, latency: float, closed: bool, agrees: bool) -> None:
    check = usl.little(users, throughput, latency, closed_loop=closed)
    assert check.agrees is agrees
    assert ("agree" if agrees else "DISAGREE") in check.line()
