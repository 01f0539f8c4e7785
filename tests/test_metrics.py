"""Full-resolution percentiles, and metrics that survive the trip from a worker to the master."""

from __future__ import annotations

import base64
import gc
import json
import random
import tracemalloc
from collections import Counter

import pytest
from hdrh.histogram import HdrHistogram

from zscheck.metrics import _PENDING_MAX, SETTLE_AFTER, Metrics, Second, _floor


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


def test_reports_between_processes_leave_no_cyclic_garbage() -> None:
    """An HdrHistogram is a reference cycle that only a full garbage collection frees: a worker that made
    one per operation per report, and a master that decoded each, grew an hour's soak by tens of MB."""
    rng = random.Random(5)
    master = Metrics()
    gc.collect()
    gc.disable()
    try:
        for _ in range(30):  # 30 reports of a worker with three operations
            worker = Metrics()
            for _ in range(200):
                worker.record("e2e", rng.choice(("enable", "disable")), rng.expovariate(50), failed=False, code=None)
                worker.record("query", None, rng.expovariate(200), failed=False, code=None)
            master.absorb(json.loads(json.dumps(worker.drain())))
        garbage = gc.collect()
    finally:
        gc.enable()
    assert garbage < 30, f"{garbage} objects in cycles after 30 reports: something made per report is a cycle"
    assert master.measured(1.0)["e2e"]["count"] == 6000 and master.measured(1.0)["query"]["count"] == 6000


def test_the_master_holds_its_buckets_in_one_histogram_beyond_a_bound() -> None:
    master = Metrics()
    for part in range(10):
        worker = Metrics()
        for us in range(part * 1000 + 1, part * 1000 + 1001):  # 1000 new buckets a report
            worker.record("e2e", None, us / 1e6, failed=False, code=None)
        master.absorb(worker.drain())
        assert len(master.operations["e2e"].pending) <= _PENDING_MAX
    assert master.stats("e2e").count == 10_000
    assert master.measured(1.0)["e2e"]["max"] == pytest.approx(0.01, rel=0.002)


def test_raw_results_that_carry_an_encoded_histogram_still_read() -> None:
    """Raw results written before workers shipped buckets hold each operation as an encoded histogram."""
    h = HdrHistogram(1, 3_600_000_000, 3)
    for ms in range(1, 101):
        h.record_value(ms * 1000)
    m = Metrics()
    m.absorb({"operations": {"e2e": {"h": base64.b64encode(h.encode()).decode(), "f": 2}}})
    m.absorb({"operations": {"e2e": {"b": {"200000": 1}, "f": 0, "k": 0}}})
    s = m.measured(1.0)["e2e"]
    assert (s["count"], s["failures"]) == (101, 2)
    assert s["max"] == pytest.approx(0.2, rel=0.002) and s["p50"] == pytest.approx(0.051, rel=0.002)
    again = Metrics()
    again.absorb(json.loads(json.dumps(m.drain())))  # once a histogram was made, it is what is drained
    assert again.measured(1.0)["e2e"] == s


def test_settled_seconds_are_packed_and_read_the_same() -> None:
    """An 8-hour run keeps 28,800 seconds for its timeline: settled ones hold their buckets packed, and a
    late report for one still adds to it."""
    rng = random.Random(9)
    reports = []
    for t in range(1_000, 1_060):
        worker = Metrics()
        second = worker.timeline[t]
        for _ in range(300):
            second.count += 1
            second.live()[int(rng.lognormvariate(8.5, 0.6)) & ~0xFF | 0x100] += 1
        reports.append(json.loads(json.dumps(worker.drain())))
    late = reports.pop(10)  # second 1,010 arrives after second 1,059: long since settled
    packed, whole = Metrics(), Metrics()
    for report in [*reports, late]:
        packed.absorb(report)
    unsettled = [t for t, s in packed.timeline.items() if s.buckets is not None]
    assert len(unsettled) <= SETTLE_AFTER + 2, unsettled
    assert packed.timeline[1_010].packed is not None  # packed again after the late report was added
    for t, s in packed.timeline.items():  # the same as the seconds never packed
        whole.timeline[t] = Second(s.count, s.failures, s.codes.copy(), Counter(s.distribution()))
    assert packed.timeline_rows() == whole.timeline_rows()
    assert packed.timeline_rows()[10]["ops"] == 300 and packed.timeline_rows()[10]["p99"] > 0


def test_an_hour_of_timeline_at_full_rate_fits_in_a_few_megabytes() -> None:
    rng = random.Random(2)
    spread = [_floor(int(rng.lognormvariate(8.5, 0.6)), 4) for _ in range(2_500)]  # ~46 buckets a second
    tracemalloc.start()
    try:
        m = Metrics()
        for t in range(3_600):
            m._settle(t)  # what recording in second t does, without waiting an hour
            second = m.timeline[t]
            second.count = len(spread)
            second.live().update(spread)
        held = tracemalloc.get_traced_memory()[0] / 1e6
    finally:
        tracemalloc.stop()
    assert held < 4.0, f"an hour of seconds holds {held:.1f} MB (as dicts it was 14.5 MB)"
    assert m.timeline_rows()[0]["p50"] > 0
