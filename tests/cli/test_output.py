"""The output handlers: the same events as a live terminal, plain lines, --quiet, and JSON lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from zscheck.cli.output import JsonLines, Terminal, fan_out, sparkline
from zscheck.events import LoadTick, Note, PhaseFinished, SuiteProgress, VerdictReached, ViolationFound
from zscheck.verdict import Verdict

EVENTS = [
    Note("load", "creating 2 fixture images"),
    LoadTick("load", 5, 30, rps=120.0, requests=600, failures=0, users=4),
    LoadTick("load", 10, 30, rps=130.0, requests=1250, failures=1, users=4),
    ViolationFound("load", "status", "HTTP 500 where 202 was due"),
    SuiteProgress("contract", 3, 17, 900, 0, 12.0, 56.0),
    PhaseFinished("load", 2, 3, Verdict.VIOLATIONS, 31.0),
    VerdictReached("load", Verdict.VIOLATIONS, "http://127.0.0.1:1", seed=7, details=("gate p99<1s",), report="r"),
]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_elsewhere_than_a_terminal() -> None:
    out = io.StringIO()
    handler = Terminal(out)
    for event in EVENTS:
        handler(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == "load: creating 2 fixture images"
    assert lines[1].startswith("load:   5/30 s") and "120 ops/s" in lines[1]
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()
    assert lines[-3:] == [
        "zscheck: VIOLATIONS (load) - http://127.0.0.1:1, seed 7",
        "zscheck: gate p99<1s",
        "zscheck: report r",
    ]


def test_a_terminal_redraws_the_tick_in_place_and_ends_it_before_the_next_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # room for the chart
    out = Tty()
    handler = Terminal(out)
    for event in EVENTS[:4]:
        handler(event)
    text = out.getvalue()
    assert text.count("\r\033[K") == 2
    assert "users 4  ops/s ▁█ 120-130\nzscheck: violation status" in text  # the tick line is ended, not overwritten


def test_quiet_keeps_the_commands_verdict_and_violations_only() -> None:
    """--quiet: no progress, no phase lines, no summaries (the verdict's details), and in `zscheck run`
    none of the phases' own verdicts: the run's verdict and where its report is."""
    out = io.StringIO()
    handler = Terminal(out, quiet=True, command="load")
    for event in EVENTS:
        handler(event)
    assert out.getvalue() == (
        "zscheck: violation status: HTTP 500 where 202 was due\n"
        "zscheck: VIOLATIONS (load) - http://127.0.0.1:1, seed 7\nzscheck: report r\n"
    )
    out = io.StringIO()
    handler = Terminal(out, quiet=True, command="run")
    for event in [*EVENTS, VerdictReached("run", Verdict.VIOLATIONS, "t", report="index.html")]:
        handler(event)
    assert out.getvalue() == "zscheck: VIOLATIONS (run) - t\nzscheck: report index.html\n"


def test_a_run_that_could_not_run_says_why_in_its_headline() -> None:
    event = VerdictReached("contract", Verdict.COULD_NOT_RUN, "http://10.0.0.5:8080", seed=1, reason="cannot reach it")
    assert event.headline() == "zscheck: COULD NOT RUN (contract) - http://10.0.0.5:8080, seed 1 - cannot reach it"
    assert "cannot" not in VerdictReached("x", Verdict.PASS, "t", reason="cannot reach it").headline()


def test_json_lines_carry_every_event_with_its_type(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonLines(path)
    seen: list[str] = []
    emit = fan_out([sink, lambda event: seen.append(type(event).__name__)])
    for event in EVENTS:
        emit(event)
    sink.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in rows] == seen == [type(e).__name__ for e in EVENTS]
    assert rows[-1]["verdict"] == "VIOLATIONS" and rows[-1]["details"] == ["gate p99<1s"]
    assert rows[2]["rps"] == 130.0 and rows[2]["phase"] == "load"


def test_a_terminal_charts_the_rate_so_far_beside_the_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = Tty()
    handler = Terminal(out)
    for i, rate in enumerate([100.0, 200.0, 300.0, 150.0]):
        handler(LoadTick("load", 5 * (i + 1), 60, rps=rate, requests=100 * i, users=4))
    last = out.getvalue().rsplit("\r\033[K", 1)[1]
    assert last.endswith("ops/s ▁▅█▃ 100-300"), last  # scaled between the run's own min and max
    plain = io.StringIO()
    Terminal(plain)(LoadTick("load", 5, 60, rps=100.0, requests=1, users=4))
    assert "▁" not in plain.getvalue()  # CI logs get plain lines, no chart
    monkeypatch.setenv("COLUMNS", "80")
    narrow = Tty()
    handler = Terminal(narrow)
    for rate in [100.0, 200.0, 300.0]:
        handler(LoadTick("load", 5, 60, rps=rate, requests=100, users=4))
    assert all(len(line) <= 80 for line in narrow.getvalue().split("\r\033[K")), narrow.getvalue()


@pytest.mark.parametrize(
    ("values", "width", "chart"),
    [
        ([1.0, 2.0], 10, "▁█ 1-2"),
        ([5.0, 5.0, 5.0], 10, "▁▁▁ 5-5"),  # flat: no division by zero
        ([1.0], 10, ""),  # one point is no chart
        ([1.0, 2.0, 3.0, 4.0], 2, "▁█ 3-4"),  # only the last `width` values, scaled among themselves
        ([1.0, 2.0], 0, ""),  # no room
    ],
)
def test_sparkline(values: list[float], width: int, chart: str) -> None:
    assert sparkline(values, width) == chart


def test_a_statistics_commands_json_never_holds_nan(tmp_path: Path) -> None:
    """`--json` of compare, trend and noise: an undefined number (a change from 0) is null, since NaN is
    not JSON and a strict reader refuses the whole file."""
    import argparse

    from zscheck.cli.common import print_and_write

    out = tmp_path / "d.json"
    document = {"change": float("nan"), "rows": [{"p": float("inf"), "ci": (1.0, float("-inf"))}], "n": 3}
    print_and_write([], document, argparse.Namespace(json=str(out), html=None), lambda: "")
    text = out.read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON")) == {
        "change": None,
        "rows": [{"p": None, "ci": [1.0, None]}],
        "n": 3,
    }
