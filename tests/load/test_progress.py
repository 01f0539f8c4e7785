"""The progress lines: operations (the `rps` gate's unit), counted from the first line, with workers too;
"waiting for workers" while they have not joined. Table-driven on locust's own file formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from zscheck.load.runner import StatsTail, _joined, _tick

HEADER = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,Total Request Count,Total Failure Count\n"


def _history(tmp_path: Path, rows: list[tuple[int, int, str, str, int, int]]) -> Path:
    path = tmp_path / "locust_stats_history.csv"
    path.write_text(HEADER + "".join(f"{t},{u},{k},{n},0,0,{c},{f}\n" for t, u, k, n, c, f in rows))
    return path


def _second(
    t: int, changes: int, queries: int, users: int = 4, polls: int = 0
) -> list[tuple[int, int, str, str, int, int]]:
    return [
        (t, users, "", "Aggregated", changes + queries + polls, 0),
        (t, users, "PUT", "changeImageState enable", changes, 0),
        (t, users, "GET", "api-jobs/{uuid}", polls, 0),
        (t, users, "E2E", "changeImageState enable", changes, 1),
        (t, users, "GET", "images/{uuid}", queries, 0),
    ]


def test_the_progress_counts_operations_not_http_requests(tmp_path: Path) -> None:
    rows = _second(100, 100, 20, polls=100) + _second(101, 300, 60, polls=300) + _second(104, 900, 180, polls=900)
    tick = _tick(_history(tmp_path, rows), 5, 30)
    assert tick.requests == 900 + 180  # state changes and queries; not the PUTs and polls besides
    assert tick.rps == pytest.approx((1080 - 120) / 4)
    assert tick.failures == 1 and tick.users == 4
    assert "ops/s  1080 operations" in tick.line()


def test_rows_of_zeros_are_no_news_and_a_first_row_counts_from_the_start(tmp_path: Path) -> None:
    assert _tick(_history(tmp_path, _second(100, 0, 0, users=0)), 5, 30).rps is None  # no "0 req/s" line
    tick = _tick(_history(tmp_path, _second(100, 0, 0, users=0) + _second(101, 400, 100)), 5, 30)
    assert tick.requests == 500 and tick.rps == pytest.approx(100)  # 500 in the 5 s so far


def test_with_workers_the_rate_is_taken_between_their_reports(tmp_path: Path) -> None:
    # the master's totals move every 3 s (a worker's report); a one-second delta would read 0
    rows = []
    for t, n in ((100, 300), (101, 300), (102, 300), (103, 900), (104, 900), (105, 900)):
        rows += _second(t, n, 0)
    tick = _tick(_history(tmp_path, rows), 10, 30)
    assert tick.rps == pytest.approx(200) and tick.requests == 900


@pytest.mark.parametrize(
    ("log", "joined"),
    [
        ("", 0),
        ("[x] vm/INFO/locust.runners: vm_1 (index 0) reported as ready. 1 workers connected.\n", 1),
        ("... reported as ready. 1 workers connected.\n... Waiting for workers to be ready, 1 of 3 connected\n", 1),
        ("... reported as ready. 1 workers connected.\n... reported as ready. 2 workers connected.\n", 2),
    ],
)
def test_the_workers_joined_so_far_are_read_from_the_masters_log(tmp_path: Path, log: str, joined: int) -> None:
    path = tmp_path / "locust.log"
    path.write_text(log)
    assert _joined(path) == joined
    assert _joined(tmp_path / "missing.log") == 0


def test_a_long_run_is_read_as_it_grows_and_only_its_last_seconds_are_kept(tmp_path: Path) -> None:
    # An hour of seconds, appended in pieces (one cut mid-line, as locust may leave it between two ticks):
    # each tick reads only what was added, and gives what reading the whole file gives.
    path = tmp_path / "locust_stats_history.csv"
    path.write_text(HEADER)
    tail = StatsTail(path)
    for start in range(0, 3600, 600):
        text = "".join(f"{t},{u},{k},{n},0,0,{c},{f}\n" for s in range(start, start + 600) for t, u, k, n, c, f in
                       _second(1000 + s, 10 * s, s))  # fmt: skip
        cut = len(text) // 2 + 7
        with path.open("a") as f:
            f.write(text[:cut])
        tail.tick(5, 30)
        with path.open("a") as f:
            f.write(text[cut:])
        tick = tail.tick(5, 30)
        whole = _tick(path, 5, 30)
        assert (tick.requests, tick.rps, tick.users) == (whole.requests, whole.rps, whole.users)
        assert tick.requests == 11 * (start + 599)
    assert len(tail.seconds) <= StatsTail.KEEP + 1  # the last minute, not the hour
