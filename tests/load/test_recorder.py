"""Failures grouped so a flood stays one line; histories and groups merged across processes."""

from __future__ import annotations

import json
from pathlib import Path

from zscheck import linearizability
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


# ---------------------------------------------------------------- the history on disk (issue 14)


def test_the_history_goes_to_disk_as_it_is_made_and_the_results_keep_only_the_summary(tmp_path: Path) -> None:
    r = Recorder(history=tmp_path, name="w0")
    for i in range(100):
        token = r.begin(float(i))
        r.operation(Operation(f"img-{i % 3}", "write", "Disabled" if i % 2 else "Enabled", float(i), i + 0.5, "w0u0"))
        r.end(token)
        r.metrics.record("e2e", None, 0.01, failed=False, code=None)
    r.flush()
    assert r.history == []  # nothing held in memory
    RunResults.write(tmp_path / "raw.json", r, 0.0, 100.0)
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert raw["history"] == [] and raw["metrics"]["operations"]["e2e"]
    back = list(linearizability.read_files(tmp_path))
    assert [(o.key, o.value, o.invoke, o.complete) for o in back] == [
        (f"img-{i % 3}", "Disabled" if i % 2 else "Enabled", float(i), i + 0.5) for i in range(100)
    ]
    size = (tmp_path / "history-w0.jsonl").stat().st_size
    assert size < 100 * 60  # compact: names once, then numbers


def test_a_torn_last_line_is_ignored_and_counted(tmp_path: Path) -> None:
    log = linearizability.HistoryFile(tmp_path / "history-w0.jsonl")
    for i in range(5):
        log.append(Operation("img", "write", "Enabled", float(i), i + 0.5, "c"))
    log.flush(10.0)
    with log.path.open("a") as f:
        f.write("[0,1,0,11.0,11")  # the process was killed mid-line
    seen = linearizability.Seen()
    assert len(list(linearizability.read_files(tmp_path, seen))) == 5 and seen.torn == 1
    result, seen = linearizability.check_files(tmp_path, {"img": "Enabled"})
    assert result.ok and result.operations == 5 and seen.torn == 1


def test_the_watermark_waits_for_operations_in_flight(tmp_path: Path) -> None:
    r = Recorder(history=tmp_path)
    slow = r.begin(5.0)  # sent at 5, still unanswered
    fast = r.begin(7.0)
    r.end(fast)
    assert r.watermark() == 5.0
    r.end(slow)
    assert r.watermark() > 5.0  # nothing in flight: the time of writing


def test_files_are_checked_together_and_a_lost_update_across_them_is_caught(tmp_path: Path) -> None:
    # Two processes' files: w0 writes Disabled at t=1..2; w1 reads Enabled at t=3..4 (the write was lost).
    for name, op, mark in (
        ("w0", Operation("img", "write", "Disabled", 1.0, 2.0, "w0u0"), 2.5),
        ("w1", Operation("img", "read", "Enabled", 3.0, 4.0, "w1u0"), 4.5),
    ):
        log = linearizability.HistoryFile(tmp_path / f"history-{name}.jsonl")
        log.append(op)
        log.flush(mark)
    result, seen = linearizability.check_files(tmp_path, {"img": "Enabled"})
    assert not result.ok and seen.files == 2 and seen.operations == 2 and seen.clients == {"w0u0", "w1u0"}
    fine, _ = linearizability.check_files(
        tmp_path, {"img": "Enabled"}, extra=[Operation("img", "read", "Enabled", 5.0, 6.0)]
    )
    assert not fine.ok  # still the same violation


def test_a_remote_workers_history_reaches_a_file_on_the_master(tmp_path: Path) -> None:
    worker, master = Recorder(), Recorder()  # the worker has no disk of the master's
    master.history_dir = tmp_path  # as users.py sets it on the master for workers elsewhere
    worker.operation(Operation("img", "write", "Disabled", 1.0, 2.0, "w1u0"))
    master.absorb(json.loads(json.dumps(worker.drain())), source="host-a_1f2e")
    master.flush()
    assert [p.name for p in linearizability.history_files(tmp_path)] == ["history-remote-host-a_1f2e.jsonl"]
    assert [o.value for o in linearizability.read_files(tmp_path)] == ["Disabled"]
