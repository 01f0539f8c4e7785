"""Failures grouped so a flood stays one line; histories and groups merged across processes."""

from __future__ import annotations

import json
from pathlib import Path

from zscheck.linearizability import Operation
from zscheck.load.recorder import MAX_EXAMPLES, Recorder, RunResults


def test_a_flood_of_one_failure_is_one_group_with_a_few_examples() -> None:
    r = Recorder()
    for i in range(1000):
        r.failure("changeImageState enable", "status_code", "SYS.1000", {"message": f"m{i}"})
    r.failure("changeImageState enable", "status_code", None, {"message": "other"})
    groups = list(r.failures.values())
    assert [(g.code, g.count) for g in groups] == [("SYS.1000", 1000), ("-", 1)]
    assert len(groups[0].examples) == MAX_EXAMPLES


def test_workers_merge_into_the_master(tmp_path: Path) -> None:
    workers = [Recorder(), Recorder()]
    for n, w in enumerate(workers):
        w.operation(Operation("img", "write", "Disabled", 1.0 + n, 2.0 + n, f"w{n}"))
        w.operation(Operation("img", "write", "Enabled", 3.0 + n, None, f"w{n}"))
        w.failure("op", "envelope", None, {"message": f"from w{n}"})
        w.metrics.record("e2e", None, 0.01, failed=True, code=None)
    master = Recorder()
    for w in workers:
        master.absorb(json.loads(json.dumps(w.drain())))
    assert sorted(o.client for o in master.history) == ["w0", "w0", "w1", "w1"]
    assert any(o.complete is None for o in master.history)  # indeterminate stays indeterminate
    [group] = master.failures.values()
    assert group.count == 2 and len(group.examples) == 2
    RunResults.write(tmp_path / "raw.json", master, 100.0, 110.0)
    back = RunResults.read(tmp_path / "raw.json")
    assert back.duration == 10.0 and len(back.recorder.history) == 4
    assert back.recorder.metrics.operations["e2e"].failures == 2


def test_the_history_is_bounded() -> None:
    r = Recorder(history_limit=3)
    for i in range(5):
        r.operation(Operation("k", "read", "Enabled", float(i), float(i) + 1))
    assert len(r.history) == 3 and r.history_dropped == 2
