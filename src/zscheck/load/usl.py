"""The Universal Scalability Law fitted to a capacity search's steps, and Little's law as a cross-check.

Gunther's USL: X(N) = λN / (1 + σ(N−1) + κN(N−1)), with λ the throughput of one user alone, σ the share
of the work that is serialised (contention) and κ the cost of keeping N users coherent (crosstalk). With
κ > 0 throughput peaks at N* = sqrt((1−σ)/κ) users; with κ = 0 it only approaches λ/σ.

The fit is scipy's `curve_fit` (bounded least squares: λ > 0, 0 ≤ σ ≤ 1, κ ≥ 0), the approach of R's
`usl` package and usl4j. Confidence intervals (95 %) for σ and κ come from the fit's covariance and
Student's t with n − 3 degrees of freedom; those of N* and the peak throughput from 4,000 draws of the
parameters from that covariance (seeded: the same steps give the same report). A peak is only stated
when the data supports one: at least MIN_POINTS steps and κ's interval clear of 0. Otherwise the report
says "peak not predictable from these steps", and, when σ's interval is clear of 0, the ceiling λ/σ the
curve approaches.

Little's law (L = λW): in a closed loop with no think time the users in the system equal throughput ×
mean latency. A step where they disagree by more than LITTLE_TOLERANCE measured time outside the
operations (the generator busy between them, or operations not counted), so its numbers are suspect.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS = 4  # three parameters and at least one degree of freedom
CONFIDENCE = 0.95
LITTLE_TOLERANCE = 0.2  # relative disagreement between N and X·R that flags a step
_DRAWS = 4000
_SEED = 20260101


@dataclass(frozen=True)
class Estimate:
    """A fitted quantity and its 95 % confidence interval (low/high None: not bounded by the data)."""

    value: float
    low: float | None
    high: float | None

    def contains_zero(self) -> bool:
        return self.low is None or self.low <= 0


@dataclass(frozen=True)
class Residual:
    concurrency: float
    measured: float
    fitted: float

    @property
    def relative(self) -> float:
        return (self.measured - self.fitted) / self.fitted if self.fitted else math.inf


@dataclass(frozen=True)
class UslFit:
    points: int
    lam: Estimate | None  # λ: throughput of one user alone (ops/s)
    sigma: Estimate | None  # σ: contention
    kappa: Estimate | None  # κ: crosstalk (coherency)
    peak_concurrency: Estimate | None  # N*, None: not predictable
    peak_throughput: Estimate | None  # X(N*), None: not predictable
    ceiling: Estimate | None  # λ/σ when no peak is predictable but contention is clear
    residuals: tuple[Residual, ...]
    r_squared: float | None
    statement: str  # one line a person reads: the peak, or why there is none

    @property
    def predictable(self) -> bool:
        return self.peak_concurrency is not None


def usl(n: Any, lam: Any, sigma: Any, kappa: Any, /) -> Any:
    """X(N) = λN / (1 + σ(N−1) + κN(N−1)), on numbers or numpy arrays alike."""
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def _model(n: npt.NDArray[np.float64], /, *params: float) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = usl(n, *params)
    return result


def _unfit(points: int, why: str, residuals: tuple[Residual, ...] = ()) -> UslFit:
    return UslFit(points, None, None, None, None, None, None, residuals, None, why)


def fit(concurrency: list[float], throughput: list[float]) -> UslFit:
    """Fit X(N) to (N, X) pairs (one per run that met the correctness constraint)."""
    pairs = [(n, x) for n, x in zip(concurrency, throughput, strict=True) if n > 0 and x > 0]
    if len({n for n, _ in pairs}) < MIN_POINTS:
        return _unfit(
            len(pairs),
            f"peak not predictable from these steps: {len({n for n, _ in pairs})} distinct loads, the model needs "
            f"at least {MIN_POINTS} (add steps: a lower --step or a wider --start/--stop)",
        )
    n = np.array([p[0] for p in pairs], dtype=float)
    x = np.array([p[1] for p in pairs], dtype=float)
    # λ starts at the best per-user rate seen (the lightest load), σ and κ small: the usual USL start.
    lam0 = float(np.max(x / n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params, raw_cov = curve_fit(
                _model, n, x, p0=(lam0, 0.01, 0.0001), bounds=([1e-12, 0.0, 0.0], [np.inf, 1.0, np.inf]), maxfev=20000
            )
        except (RuntimeError, ValueError) as exc:
            return _unfit(len(pairs), f"peak not predictable from these steps: the fit did not converge ({exc})")
    lam, sigma, kappa = (float(v) for v in params)
    fitted = np.asarray(usl(n, lam, sigma, kappa))
    residuals = tuple(Residual(float(a), float(b), float(c)) for a, b, c in zip(n, x, fitted, strict=True))
    ss_res = float(np.sum((x - fitted) ** 2))
    ss_tot = float(np.sum((x - np.mean(x)) ** 2))
    r_squared = 1 - ss_res / ss_tot if ss_tot > 0 else None
    dof = len(pairs) - 3
    t = float(stats.t.ppf((1 + CONFIDENCE) / 2, dof))
    cov: npt.NDArray[np.float64] = np.asarray(raw_cov, dtype=np.float64)
    if not np.all(np.isfinite(cov)):
        cov = np.full((3, 3), np.inf, dtype=np.float64)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))

    def estimate(i: int, value: float, lower: float, upper: float | None) -> Estimate:
        if not math.isfinite(float(se[i])):
            return Estimate(value, None, None)
        low = max(lower, value - t * float(se[i]))
        high = value + t * float(se[i])
        return Estimate(value, low, high if upper is None else min(upper, high))

    lam_e, sigma_e, kappa_e = estimate(0, lam, 0.0, None), estimate(1, sigma, 0.0, 1.0), estimate(2, kappa, 0.0, None)
    if kappa <= 0 or kappa_e.contains_zero():
        ceiling = _ceiling(n, x, dof + 1)
        tail = (
            f"; throughput approaches a ceiling of {ceiling.value:.1f} ops/s"
            + (f" (95% CI {ceiling.low:.1f}-{ceiling.high:.1f})" if ceiling.low and ceiling.high else "")
            + " (contention: λ/σ with κ = 0)"
            if ceiling is not None
            else ""
        )
        return UslFit(
            len(pairs),
            lam_e,
            sigma_e,
            kappa_e,
            None,
            None,
            ceiling,
            residuals,
            r_squared,
            "peak not predictable from these steps: κ (crosstalk) is indistinguishable from 0" + tail,
        )
    n_star = math.sqrt((1 - sigma) / kappa)
    peak = float(usl(n_star, lam, sigma, kappa))
    n_star_e = _drawn(params, cov, dof, lambda la, s, k: np.sqrt((1 - s) / k), n_star)
    peak_e = _drawn(params, cov, dof, lambda la, s, k: usl(np.sqrt((1 - s) / k), la, s, k), peak)
    return UslFit(
        len(pairs),
        lam_e,
        sigma_e,
        kappa_e,
        n_star_e,
        peak_e,
        None,
        residuals,
        r_squared,
        f"peak {peak:.1f} ops/s at {n_star:.1f} users"
        + (
            f" (95% CI {peak_e.low:.1f}-{peak_e.high:.1f} ops/s, {n_star_e.low:.1f}-{n_star_e.high:.1f} users)"
            if peak_e.low is not None and peak_e.high is not None and n_star_e.low is not None
            else ""
        ),
    )


def _amdahl(n: npt.NDArray[np.float64], /, *params: float) -> npt.NDArray[np.float64]:
    a, b = params
    result: npt.NDArray[np.float64] = n / (a + b * n)
    return result


def _ceiling(n: npt.NDArray[np.float64], x: npt.NDArray[np.float64], dof: int) -> Estimate | None:
    """With κ = 0 the USL is Amdahl's law, X(N) = N / (a + bN) with a = (1−σ)/λ and b = σ/λ: its ceiling
    1/b = λ/σ is what flat steps determine, even where λ and σ apart are not (they trade off)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params, raw_cov = curve_fit(
                _amdahl,
                n,
                x,
                p0=(1 / float(np.max(x / n)), 1 / float(np.max(x))),
                bounds=([0, 1e-15], [np.inf, np.inf]),
            )
        except (RuntimeError, ValueError):
            return None
    b = float(params[1])
    se = float(np.sqrt(max(float(np.asarray(raw_cov)[1][1]), 0.0)))
    if not math.isfinite(se) or b <= 0:
        return None
    t = float(stats.t.ppf((1 + CONFIDENCE) / 2, dof))
    # σ = 0 (b = 0 inside the interval): throughput grows without a bound the steps can show
    if b - t * se <= 0:
        return None
    return Estimate(1 / b, 1 / (b + t * se), 1 / (b - t * se))


Derived = Callable[[Any, Any, Any], Any]


def _drawn(
    params: npt.NDArray[np.float64], cov: npt.NDArray[np.float64], dof: int, f: Derived, value: float
) -> Estimate:
    """The interval of f(λ, σ, κ) over parameters drawn from the fit's covariance (Student t, `dof`)."""
    if not np.all(np.isfinite(cov)):
        return Estimate(value, None, None)
    rng = np.random.default_rng(_SEED)
    try:
        normal = rng.multivariate_normal(np.zeros(3), cov, size=_DRAWS, method="eigh")
    except (ValueError, np.linalg.LinAlgError):
        return Estimate(value, None, None)
    scale = np.sqrt(dof / rng.chisquare(dof, size=_DRAWS))[:, None]  # multivariate t
    draws = params + normal * scale
    lam, sigma, kappa = draws[:, 0], np.clip(draws[:, 1], 0.0, 1.0), draws[:, 2]
    with np.errstate(all="ignore"):
        values: npt.NDArray[np.float64] = np.asarray(f(lam, sigma, kappa), dtype=np.float64)
    # draws outside the region where f is defined (κ < 0 for N*, σ = 0 for λ/σ) leave it unbounded
    values = values[np.isfinite(values) & (values > 0) & (lam > 0)]
    if values.size < _DRAWS * (1 - (1 - CONFIDENCE) / 2):
        return Estimate(value, None, None)
    half = (1 - CONFIDENCE) / 2
    return Estimate(value, float(np.quantile(values, half)), float(np.quantile(values, 1 - half)))


@dataclass(frozen=True)
class LittleCheck:
    """One step's users against throughput × mean latency (Little's law)."""

    concurrency: float  # users (closed loop) in the system
    implied: float  # throughput × mean latency
    closed_loop: bool

    @property
    def disagreement(self) -> float:
        return abs(self.implied - self.concurrency) / self.concurrency if self.concurrency else 0.0

    @property
    def agrees(self) -> bool:
        if self.closed_loop:
            return self.disagreement <= LITTLE_TOLERANCE
        # open model: the operations in flight can be fewer than the users, never more
        return self.implied <= self.concurrency * (1 + LITTLE_TOLERANCE)

    def line(self) -> str:
        how = "users" if self.closed_loop else "users available"
        verdict = "agree" if self.agrees else "DISAGREE"
        return f"Little's law: {self.concurrency:g} {how}, throughput x mean latency = {self.implied:.2f}: {verdict}"


def little(users: float, throughput: float, mean_latency: float, *, closed_loop: bool) -> LittleCheck:
    return LittleCheck(users, throughput * mean_latency, closed_loop)
