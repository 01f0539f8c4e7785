"""zscheck compare on runs whose answer is known: synthetic documents through the real record and compare
code, the command line on a real store, and real load runs against the reference server, with and without
its latency fault."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.history.factories import contract_summary, failure, load_summary, record_of
from zscheck.cli import main
from zscheck.cli.compare import parse_margin
from zscheck.errors import ConfigError
from zscheck.history.compare import MIN_RUNS, Result, Row, Side, run_compare
from zscheck.history.findings import diff, findings_of, key
from zscheck.history.record import RunRecord
from zscheck.history.store import open_store


def seconds(median: float, n: int, seed: int) -> list[float]:
    return list(median * np.exp(np.random.default_rng(seed).normal(0, 0.08, n)))


def load_record(tmp: Path, name: str, median: float, seed: int, n: int = 40, started: float = 1.8e9) -> RunRecord:
    return record_of(tmp, name, load_summary(seconds(median, n, seed), started=started), "load")


def side(*records: RunRecord) -> Side:
    return Side(records[0].id, records)


def row(result: Result, operation: str, metric: str) -> Row:
    return next(r for r in result.rows if (r.operation, r.metric) == (operation, metric))


@pytest.mark.parametrize(
    ("candidate_median", "p50_verdict"),
    [(0.010, "~"), (0.0115, "worse"), (0.0085, "better")],
)
def test_per_second_latency_verdicts(tmp_path: Path, candidate_median: float, p50_verdict: str) -> None:
    result = run_compare(
        side(load_record(tmp_path, "b", 0.010, 1)), side(load_record(tmp_path, "c", candidate_median, 2))
    )
    p50 = row(result, "all", "p50")
    assert p50.verdict == p50_verdict and p50.sample == "seconds"
    assert p50.comparison.n_base == 38  # first and last second left out


def test_a_regression_beyond_the_margin_fails_and_within_it_passes(tmp_path: Path) -> None:
    base, slower = side(load_record(tmp_path, "b", 0.010, 1)), side(load_record(tmp_path, "c", 0.0115, 2))
    assert run_compare(base, slower, margin=0.05).failed() == ["2 metric(s) worse by more than 5%"]  # p50, p99
    assert run_compare(base, slower, margin=0.30).failed() == []
    assert run_compare(base, slower).failed() == []  # no margin: reported, never a failure


def test_equivalence_proves_no_regression_only_with_enough_data(tmp_path: Path) -> None:
    same = [load_record(tmp_path, f"s{i}", 0.010, i, n=120) for i in range(2)]
    result = run_compare(side(same[0]), side(same[1]), margin=0.10, equivalence_mode=True)
    p50 = row(result, "all", "p50")
    assert p50.equivalence is not None and p50.equivalence.no_regression
    assert result.failed() == []
    short = [load_record(tmp_path, f"t{i}", 0.010, i + 10, n=5) for i in range(2)]
    unproven = run_compare(side(short[0]), side(short[1]), margin=0.10, equivalence_mode=True)
    assert any("not proven within 10%" in r for r in unproven.failed())


def test_per_operation_rows_are_judged_across_runs_only_with_enough_runs(tmp_path: Path) -> None:
    few = run_compare(side(load_record(tmp_path, "b", 0.01, 1)), side(load_record(tmp_path, "c", 0.02, 2)))
    e2e = row(few, "e2e", "p99")
    assert e2e.verdict == "n/a" and f"--last {MIN_RUNS}" in e2e.note
    base = [load_record(tmp_path, f"b{i}", 0.010 * (1 + 0.01 * i), 10 + i) for i in range(5)]
    cand = [load_record(tmp_path, f"c{i}", 0.013 * (1 + 0.01 * i), 20 + i) for i in range(5)]
    many = run_compare(Side("base", tuple(base)), Side("candidate", tuple(cand)))
    e2e = row(many, "e2e", "p50")
    assert e2e.verdict == "worse" and e2e.comparison.n_base == 5


def test_findings_new_fixed_and_persisting_by_key(tmp_path: Path) -> None:
    base = record_of(tmp_path, "b", contract_summary([failure("status", "r1"), failure("envelope", "r2")]), "contract")
    cand = record_of(
        tmp_path, "c", contract_summary([failure("status", "r1", message="other text"), failure("state")]), "contract"
    )
    d = diff([base], [cand])
    assert [f.check for f in d.new] == ["state"]
    assert [f.check for f in d.fixed] == ["envelope"]
    assert [f.check for f in d.persisting] == ["status"]  # the message may change: the fingerprint does not
    assert run_compare(side(base), side(cand)).failed() == ["1 new finding(s)"]
    op = "PUT /zstack/v1/images/{uuid}/actions"
    expected = {
        key("status", "r1", op, expected="status holds", actual="status broken"),
        key("envelope", "r2", op, expected="envelope holds", actual="envelope broken"),
    }
    assert set(findings_of(base)) == expected == {f.fingerprint for f in base.contract_summaries()[0].failures}


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.05", 0.05), (" 12.5 % ", 0.125), (None, None)])
def test_margins(text: str | None, value: float | None) -> None:
    assert parse_margin(text) == value


@pytest.mark.parametrize("text", ["five", "150%", "0", "-5%"])
def test_bad_margins_name_the_fix(text: str) -> None:
    with pytest.raises(ConfigError, match=r"e\.g\. 5% or 0\.05"):
        parse_margin(text)


def test_the_command_on_a_store_text_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "h.sqlite")
    base, cand = load_record(tmp_path, "b", 0.010, 1), load_record(tmp_path, "c", 0.0125, 2, started=1.8e9 + 86400)
    with open_store(store) as s:
        s.add(base)
        s.add(cand)
    out_json, out_html = tmp_path / "c.json", tmp_path / "c.html"
    argv = ["compare", base.id, cand.id[:-2], "--store", store, "--max-regression", "5%"]
    code = main([*argv, "--json", str(out_json), "--html", str(out_html)])
    text = capsys.readouterr().out
    assert code == 1 and "zscheck: VIOLATIONS (compare) - 2 metric(s) worse by more than 5%" in text
    assert "worse" in text and "p50" in text
    data = json.loads(out_json.read_text())
    assert data["schema"] == "zscheck/compare/1" and data["base"]["runs"] == [base.id]
    p50 = next(m for m in data["metrics"] if m["metric"] == "p50")
    assert p50["verdict"] == "worse" and p50["change"] > 0.15
    page = out_html.read_text()
    assert page.count("<svg") == len(data["metrics"]) and "<script" not in page
    # report directories work without a store
    assert main(["compare", base.report_dir, base.report_dir, "--store", "off"]) == 0
    assert "0 new, 0 fixed" in capsys.readouterr().out


def test_last_n_of_one_target_compares_the_newest_with_those_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite")
    with open_store(store) as s:
        for night in range(6):
            s.add(
                load_record(tmp_path, f"n{night}", 0.010 if night < 3 else 0.014, night, started=1.8e9 + night * 86400)
            )
    assert main(["compare", "--last", "3", "--store", store, "http://127.0.0.1:9", "http://127.0.0.1:9"]) == 0
    text = capsys.readouterr().out
    assert "(3 before) (3 run(s))" in text and "(newest 3) (3 run(s))" in text and "worse" in text
    assert main(["compare", "--last", "3", "--store", store, "http://elsewhere", "http://elsewhere"]) == 2
    assert "has 0 run(s) of http://elsewhere" in capsys.readouterr().err


@pytest.mark.slow
def test_real_load_runs_the_latency_fault_is_worse_and_a_run_against_itself_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two real load runs of the reference server, the candidate with its latency fault (2 ms per request in
    flight): compare calls the candidate's latency worse beyond 20% and fails; each run against itself passes."""
    store = str(tmp_path / "h.sqlite")
    common = ["load", "--duration", "6s", "--users", "8", "--seed", "3", "--store", store]
    assert main([*common, "--report-dir", str(tmp_path / "base")]) == 0
    main([*common, "--report-dir", str(tmp_path / "slow"), "--fault", "latency-under-load"])  # its gates may fail
    capsys.readouterr()
    with open_store(store) as s:
        slow, base = s.query()
    code = main(["compare", base.id, slow.id, "--store", store, "--max-regression", "20%"])
    text = capsys.readouterr().out
    assert code == 1 and "worse by more than 20%" in text
    p50 = next(line for line in text.splitlines() if line.split()[:3] == ["all", "p50", "seconds"])
    assert p50.endswith("worse")
    assert main(["compare", base.id, base.id, "--store", store, "--max-regression", "20%"]) == 0


def test_a_change_within_the_bases_own_noise_floor_is_not_a_regression(tmp_path: Path) -> None:
    """Two base runs of one build 20% apart (a busy machine): a candidate 15% slower than their pool is
    significant but within that noise; one 80% slower is beyond it."""
    base = Side("base", (load_record(tmp_path, "b1", 0.010, 1), load_record(tmp_path, "b2", 0.012, 2)))
    within = run_compare(base, side(load_record(tmp_path, "c1", 0.0127, 3)), margin=0.05)
    p50 = row(within, "all", "p50")
    assert p50.noise_floor == pytest.approx(0.20, abs=0.04) and p50.verdict == "worse"
    assert within.regressions == [] and within.failed() == []
    beyond = run_compare(base, side(load_record(tmp_path, "c2", 0.020, 4)), margin=0.05)
    assert row(beyond, "all", "p50") in beyond.regressions and beyond.failed()
    one = run_compare(side(load_record(tmp_path, "b3", 0.010, 1)), side(load_record(tmp_path, "c3", 0.0127, 3)))
    assert row(one, "all", "p50").noise_floor is None
