"""`zscheck run --compare-to`: the run against a stored baseline, written as comparison.json and shown in its
index.html; synthetic run directories for the gate, and real short runs against the embedded server."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from tests.history.factories import load_summary, record_of
from tests.history.test_noise import pair_records
from zscheck.cli import main
from zscheck.cli.all_in_one import baseline, since_baseline
from zscheck.history.record import RunRecord, from_directory
from zscheck.history.store import Query, open_store
from zscheck.report.documents import SCHEMAS_DIR, ComparisonReport, SelfCheck
from zscheck.report.html import render
from zscheck.run import Phase, RunAllResult
from zscheck.verdict import Verdict


def validate(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    schema = json.loads((SCHEMAS_DIR / ComparisonReport.SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    return data


def run_directory(tmp: Path, name: str, median: float, seed: int, *, starved: bool = False) -> Path:
    """A run's directory as far as the comparison sees it: its load phase's summary (`starved`: its
    generator_cpu self-check failed)."""
    seconds = list(median * np.exp(np.random.default_rng(seed).normal(0, 0.02, 20)))
    directory = tmp / name
    summary = load_summary(seconds)
    if starved and summary.result is not None:
        summary.result.self_checks = [SelfCheck(check="generator_cpu", ok=False, text="the generator", advice="-")]
    summary.write(directory / "load" / "summary.json")
    return directory


@pytest.mark.parametrize(
    ("median", "verdict", "p50", "starved"),
    [
        (0.020, Verdict.VIOLATIONS, "worse", False),
        (0.0101, Verdict.PASS, "~", False),
        (0.020, Verdict.COULD_NOT_RUN, "worse", True),  # worse, measured by a generator that was the limit
    ],
)
def test_a_run_worse_than_its_baseline_beyond_the_margin_fails(
    tmp_path: Path, median: float, verdict: Verdict, p50: str, starved: bool
) -> None:
    spec = str(tmp_path / "h.sqlite")
    base = record_of(tmp_path, "base", load_summary(list(0.010 * np.ones(20))), "load")
    with open_store(spec) as store:
        store.add(base)
        for record in pair_records(tmp_path, [1.02, 0.98, 1.01, 0.99]):  # a quiet machine's A/A pairs
            store.add(record)
    directory = run_directory(tmp_path, "run", median, 1, starved=starved)
    assert since_baseline(directory, base.id, spec, margin=0.05, alpha=0.05) is verdict
    data = validate(directory / "comparison.json")
    metric = next(m for m in data["metrics"] if (m["operation"], m["metric"]) == ("all", "p50"))  # type: ignore[attr-defined]
    assert metric["verdict"] == p50 and metric["test"] == "aa-noise"
    assert data["base"] == {"label": f"{base.id} ({base.id})", "runs": [base.id]}
    page = render(directory, [], {})
    assert "<h2 id=baseline>Since the baseline</h2>" in page and "href='#baseline'" in page
    assert ("metric(s) worse by more than 5%" in page) == (verdict is Verdict.VIOLATIONS)
    assert ("<p class=bad>no verdict: " in page) == starved


def test_without_a_comparison_the_page_has_no_section_and_a_broken_one_is_said(tmp_path: Path) -> None:
    directory = run_directory(tmp_path, "run", 0.01, 1)
    assert "id=baseline" not in render(directory, [], {})
    (directory / "comparison.json").write_text('{"schema": "zscheck/compare/1"}')
    page = render(directory, [], {})
    assert "Since the baseline" in page and "could not read comparison.json" in page


def test_last_pass_with_nothing_stored_compares_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = run_directory(tmp_path, "run", 0.01, 1)
    assert since_baseline(directory, "last-pass", str(tmp_path / "h.sqlite"), margin=None, alpha=0.05) is None
    assert "no passing run of http://127.0.0.1:9 (toggle)" in capsys.readouterr().err
    assert not (directory / "comparison.json").exists()


def test_last_pass_is_the_newest_passing_run_of_this_load(tmp_path: Path) -> None:
    """Last night ran 20 users, the nights before 10; tonight runs 10 again: its baseline is the newest run
    of 10 users, not last night's (20 users wait longer: that comparison read as a regression)."""

    def run(name: str, users: int, started: float) -> RunRecord:
        summary = load_summary([0.01] * 5, started=started)
        summary.users = users
        summary.write(tmp_path / name / "load" / "summary.json")
        return from_directory(tmp_path / name, command="run", target_version="5.2.1")

    newest_first = [run("twenty", 20, 3e9), run("ten", 10, 2e9), run("older", 10, 1e9)]
    assert baseline(newest_first, run("tonight", 10, 4e9)) is newest_first[1]
    assert baseline(newest_first[:1], run("tonight2", 10, 4e9)) is None  # no run of this load: nothing to compare


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--max-regression", "5%"], "needs --compare-to"),
        (["--compare-to", "last-pass", "--store", "off"], "--store off has none"),
        (["--compare-to", "nosuchrun"], "no run with id 'nosuchrun'"),
    ],
)
def test_bad_compare_to_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    store = ["--store", str(tmp_path / "h.sqlite")] if "--store" not in argv else []
    assert main(["run", "--reports", str(tmp_path / "r"), *store, *argv]) == 2
    assert said in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_run_compare_to_last_pass_writes_comparison_json_and_the_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, reports = str(tmp_path / "h.sqlite"), tmp_path / "reports"
    common = ["run", "--max-examples", "3", "--duration", "3", "--seed", "1", "--reports", str(reports)]
    assert main([*common, "--store", store, "--quiet"]) == 0
    with open_store(store) as s:
        (first,) = s.query(Query(command="run"))
    # One run a side and no A/A noise stored: the margin can test no metric, so the gate cannot judge (exit
    # 2, said), never "nothing worse by more than 50%".
    code = main([*common, "--store", store, "--compare-to", "last-pass", "--max-regression", "50%"])
    err = capsys.readouterr().err
    assert code == 2 and f"since the baseline {first.id}" in err
    latest = reports / "latest"
    data = validate(latest / "comparison.json")
    ComparisonReport.read(latest / "comparison.json")
    assert data["base"]["runs"] == [first.id] and data["max_regression"] == 0.5  # type: ignore[index]
    assert {m["operation"] for m in data["metrics"]} >= {"all", "e2e"}  # type: ignore[attr-defined]
    with open_store(store) as s:
        second = s.query(Query(command="run"))[0]
    assert data["candidate"]["runs"] == [second.id]  # type: ignore[index]  # the run as the store holds it
    page = (latest / "index.html").read_text()
    assert "<h2 id=baseline>Since the baseline</h2>" in page and first.id in page
    assert "href='comparison.json'" in page and "<p class=bad>no verdict: --max-regression 50% could test none" in page
    # Without a gate the same comparison is a report, and the run passes.
    assert main([*common, "--store", store, "--compare-to", "last-pass", "--quiet"]) == 0


@pytest.mark.parametrize(
    ("compared", "verdict"),
    [
        (None, Verdict.PASS),
        (Verdict.PASS, Verdict.PASS),
        (Verdict.VIOLATIONS, Verdict.VIOLATIONS),
        (Verdict.COULD_NOT_RUN, Verdict.COULD_NOT_RUN),  # worse only by a generator that was the limit
    ],
)
def test_a_comparison_that_fails_its_gate_fails_the_run(compared: Verdict | None, verdict: Verdict) -> None:
    result = RunAllResult(Path("."), [Phase("contract", 0, 1.0), Phase("load", 0, 1.0)], compared=compared)
    assert result.verdict is verdict
