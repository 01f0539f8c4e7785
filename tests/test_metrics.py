"""Full-resolution percentiles, and metrics that survive the trip from a worker to the master."""

from __future__ import annotations

import json
import random

import pytest

from zscheck.metrics import Metrics


def test_percentiles_come_from_every_sample() -> None:
    m = Metrics()
    for ms in range(1, 1001):  # 1..1000 ms, one each
        m.record("e2e", "enable", ms / 1000, failed=ms > 990, code=None)
    s = m.measured(10.0)["e2e"]
    assert s["p50"] == pytest.approx(0.5, rel=0.002)
    assert s["p99"] == pytest.approx(0.99, rel=0.002)
    assert s["p99.9"] == pytest.approx(0.999, rel=0.002)
    assert s["max"] == pytest.approx(1.0, rel=0.002)
    assert s["error_rate"] == pytest.approx(0.01)
    assert s["rps"] == pytest.approx(100.0)
    assert m.measured(10.0)["e2e.enable"]["count"] == 1000


def test_an_operation_is_the_sum_of_its_details_recorded_once() -> None:
    m = Metrics()
    for ms in range(1, 101):
        m.record("e2e", "enable" if ms % 2 else "disable", ms / 1000, failed=ms == 100, code=None)
    m.record("query", None, 0.004, failed=False, code=None)
    assert sorted(m.operations) == ["e2e.disable", "e2e.enable", "query"]  # each sample under one name
    assert m.names() == ["e2e", "e2e.disable", "e2e.enable", "query"]
    measured = m.measured(1.0)
    assert measured["e2e"]["count"] == 100 and measured["e2e"]["failures"] == 1
    assert measured["e2e.disable"]["count"] == measured["e2e.enable"]["count"] == 50
    assert measured["e2e"]["max"] == pytest.approx(0.1, rel=0.002)
    assert measured["e2e.enable"]["max"] == pytest.approx(0.099, rel=0.002)
    assert m.distribution("e2e")[-1][1] == pytest.approx(0.1, rel=0.002)
    assert m.stats("invalid").count == 0 and m.distribution("invalid") == []


def test_the_overall_entry_counts_user_level_operations_only() -> None:
    m = Metrics()
    m.record("put", "enable", 0.001, failed=False, code=None)  # part of an e2e: not counted twice
    m.record("e2e", "enable", 0.002, failed=False, code=None)
    m.record("query", None, 0.001, failed=True, code=None)
    overall = m.measured(1.0)[None]
    assert overall["count"] == 2 and overall["error_rate"] == 0.5


def test_drained_metrics_merge_into_the_same_percentiles() -> None:
    rng = random.Random(3)
    samples = [rng.expovariate(1 / 0.02) for _ in range(20_000)]
    whole, parts, master = Metrics(), [Metrics(), Metrics(), Metrics()], Metrics()
    for i, seconds in enumerate(samples):
        whole.record("e2e", None, seconds, failed=i % 100 == 0, code="SYS.1007" if i % 50 == 0 else None)
        parts[i % 3].record("e2e", None, seconds, failed=i % 100 == 0, code="SYS.1007" if i % 50 == 0 else None)
    for part in parts:
        master.absorb(json.loads(json.dumps(part.drain())))  # as msgpack/JSON would carry it
        assert not part.operations  # drained: the next report carries only what is new
    assert master.measured(1.0)["e2e"] == whole.measured(1.0)["e2e"]
    assert sum(s.codes["SYS.1007"] for s in master.timeline.values()) == 400


def test_arrival_counters_merge() -> None:
    a, b = Metrics(), Metrics()
    a.scheduled, a.late, b.scheduled, b.late = 10, 2, 5, 1
    a.absorb(b.drain())
    assert (a.scheduled, a.late) == (15, 3)


def test_known_failures_are_counted_apart_from_the_rate_a_gate_holds_on_every_path() -> None:
    """A --baseline's known finding is reported, and does not fail the run: not through error_rate either.
    Counted in the details, their sum, the overall entry, and across the trip from a worker."""
    worker, master = Metrics(), Metrics()
    for i in range(100):
        worker.record("e2e", "enable" if i % 2 else "disable", 0.01, failed=i < 10, code=None, known=i < 6)
    worker.record("query", None, 0.001, failed=True, code=None, known=False)
    master.absorb(json.loads(json.dumps(worker.drain())))
    for m in (master.measured(1.0)["e2e"], master.measured(1.0)["e2e.disable"]):
        assert m["error_rate"] == pytest.approx((m["failures"] - m["known_failures"]) / m["count"])
    e2e, overall = master.measured(1.0)["e2e"], master.measured(1.0)[None]
    assert (e2e["failures"], e2e["known_failures"], e2e["error_rate"]) == (10, 6, pytest.approx(0.04))
    assert (overall["failures"], overall["known_failures"], overall["error_rate"]) == (11, 6, pytest.approx(5 / 101))
    assert sum(s.failures for s in master.timeline.values()) == 11  # the run's chart shows every failure
