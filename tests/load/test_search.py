"""The capacity search's pure part: what a point says broke, and the knee the points give (the real
searches are in test_capacity.py and test_runner.py)."""

from __future__ import annotations

from typing import Any

import pytest

from zscheck import linearizability
from zscheck.load.runner import StepResult
from zscheck.load.search import CapacitySearch, Point, judge
from zscheck.slo import GateResult, parse_gate

GATE = parse_gate("e2e:p50<40ms")


def step(users: int, p50_ms: float, *, failures: list[dict[str, Any]] | None = None, linear: bool = True) -> StepResult:
    measured = p50_ms / 1000
    return StepResult(
        users=users,
        rate=None,
        duration=2.0,
        measured={None: {"rps": users * 10.0}, "e2e": {"p50": measured, "mean": measured}},
        gates=[GateResult(GATE, measured, measured < GATE.threshold)],
        failures=failures or [],
        linearizability=linearizability.Result(ok=linear, keys=1, operations=10),
    )


def point(users: int, *p50s_ms: float, **kwargs: Any) -> Point:
    runs = [step(users, p, **kwargs) for p in p50s_ms]
    return Point("search", float(users), users, None, runs, list(range(len(runs))))


@pytest.mark.parametrize(
    ("p50s", "expected"),
    [
        ((30.0,), ""),  # passed: nothing broke
        ((55.0,), "FAIL e2e:p50<40ms: measured 55.0ms"),
        # repeated: the worst run is the one quoted, the value the point's margin holds (it quoted the first)
        ((45.0, 70.0, 30.0), "FAIL e2e:p50<40ms: measured 70.0ms (the worst of 3 runs)"),
        ((70.0, 45.0), "FAIL e2e:p50<40ms: measured 70.0ms (the worst of 2 runs)"),
    ],
)
def test_a_point_says_what_broke_at_its_worst_run(p50s: tuple[float, ...], expected: str) -> None:
    p = point(20, *p50s)
    assert p.why() == expected
    if expected:
        assert p.margins()[0].measured == pytest.approx(max(p50s) / 1000)


def test_a_points_violations_are_counted_over_its_runs() -> None:
    failure = {"check": "error_code", "operation": "put", "code": "SYS.1000", "count": 2}
    p = point(5, 10.0, 12.0, failures=[failure], linear=False)
    assert p.why() == "error_code x4; linearizability violated"


def test_the_knee_statement_quotes_the_broken_points_worst_run() -> None:
    search = CapacitySearch(start=10, step=10, stop=30, step_duration=2.0, repeat=2)
    points = [point(10, 20.0, 22.0), point(20, 30.0, 35.0), point(30, 41.0, 90.0)]
    outcome = judge(points, search, levels=3)
    assert outcome.saturation == "found" and outcome.knee is points[1]
    assert "broken at 30 users: FAIL e2e:p50<40ms: measured 90.0ms (the worst of 2 runs)" in outcome.statement
    assert "margins e2e:p50<40ms: 35.0ms, 12.5% left" in outcome.statement  # the knee's worst run as well
