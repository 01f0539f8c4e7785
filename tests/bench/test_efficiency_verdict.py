"""bench/efficiency_verdict.py: requests per generator CPU-second, and when a round or a run is not judged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "efficiency_verdict.py"
    spec = importlib.util.spec_from_file_location("efficiency_verdict", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("efficiency_verdict", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


ev = _load()


def sample(
    checked_share: float = 0.47,
    bare_share: float = 0.47,
    checked_requests: int = 19_000,
    bare_requests: int = 20_000,
    baseline: str = "stock",
    server: float = 0.5,
    core: float = 0.99,
    late: float = 0.01,
    seconds: float = 10.0,
) -> object:
    return ev.Sample(
        baseline,
        seconds,
        {"checked": checked_requests, "bare": bare_requests},
        {"checked": checked_share * seconds, "bare": bare_share * seconds, "server": server * seconds},
        core,
        late,
    )


def test_ratio_is_per_cpu_second_not_per_wall_second() -> None:
    # The case: the checked user got almost twice the CPU. Per wall-clock second it looks 1.8x as
    # efficient; per CPU-second it is 1.8 / (0.55 / 0.30) = 0.98.
    result = ev.judge_round(sample(checked_share=0.55, bare_share=0.30, checked_requests=18_000, bare_requests=10_000))
    assert result.per_s == {"checked": 1800.0, "bare": 1000.0}
    assert result.ratio == pytest.approx(1.8 / (0.55 / 0.30))
    assert result.shares["checked"] == pytest.approx(0.55)
    assert not result.judged
    assert "shares differ by 25 points" in result.refused[0]


def test_equal_shares_are_judged() -> None:
    result = ev.judge_round(sample(checked_share=0.46, bare_share=0.48))
    assert result.judged, result.refused
    assert result.per_cpu_s["checked"] == pytest.approx(19_000 / 4.6)
    assert result.ratio == pytest.approx((19_000 / 4.6) / (20_000 / 4.8))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"checked_share": 0.40, "bare_share": 0.44}, "shares differ by 4 points"),
        ({"core": 0.80}, "busy only 80%"),
        ({"checked_share": 0.15, "bare_share": 0.15}, "checked got only 1.50 CPU-s"),
        ({"server": 0.9}, "server-bound"),
        ({"late": 0.3}, "0.30 s late"),
    ],
)
def test_refused_rounds_say_why(kwargs: dict[str, float], reason: str) -> None:
    result = ev.judge_round(sample(**kwargs))  # type: ignore[arg-type]
    assert not result.judged
    assert any(reason in r for r in result.refused), result.refused


def test_verdict_is_the_median_of_judged_stock_rounds() -> None:
    rounds = [ev.judge_round(sample(checked_requests=n)) for n in (19_000, 17_000, 18_800)]
    rounds += [ev.judge_round(sample(checked_share=0.30, bare_share=0.55, checked_requests=1000))]  # not judged
    rounds += [ev.judge_round(sample(baseline="no-cookies", checked_requests=17_000)) for _ in range(4)]
    outcome = ev.verdict(rounds)
    assert outcome.exit_code == 0
    assert outcome.medians["stock"] == pytest.approx(0.94)
    assert outcome.medians["no-cookies"] == pytest.approx(0.85)
    assert outcome.judged == {"stock": 3, "no-cookies": 4}
    assert "3 of 4 rounds" in outcome.message and "holds" in outcome.message


def test_verdict_below_the_claim_exits_1() -> None:
    outcome = ev.verdict([ev.judge_round(sample(checked_requests=17_000)) for _ in range(2)])
    assert outcome.exit_code == 1
    assert "DOES NOT HOLD" in outcome.message


def test_no_verdict_without_a_majority_of_judged_stock_rounds() -> None:
    unequal = sample(checked_share=0.55, bare_share=0.30, checked_requests=18_000, bare_requests=10_000)
    rounds = [ev.judge_round(unequal), ev.judge_round(unequal), ev.judge_round(sample()), ev.judge_round(sample())]
    outcome = ev.verdict(rounds)
    assert outcome.exit_code == 2
    assert outcome.message.startswith("could not judge: 2 of 4 stock rounds judgeable (shares differ by 25 points")
    assert ev.verdict([]).exit_code == 2
