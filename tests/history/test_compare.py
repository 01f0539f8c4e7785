"""zscheck compare on runs whose answer is known: synthetic documents through the real record and compare
code, the command line on a real store, and real load runs against the reference server, with and without
its latency fault."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.history.factories import contract_summary, failure, load_summary, record_of
from zscheck.cli import main
from zscheck.cli.compare import parse_margin
from zscheck.cli.compare import text as compare_text
from zscheck.errors import ConfigError
from zscheck.history.compare import (
    METRICS,
    Result,
    Row,
    Side,
    family_test,
    load_mismatch,
    machine_state,
    metric_key,
    run_compare,
)
from zscheck.history.findings import diff, findings_of, key
from zscheck.history.noise import AA_PAIR, AA_SIDE, noise_of, pairs_of
from zscheck.history.record import RunRecord
from zscheck.history.stats import ONE_RUN_A_SIDE, Noise, compare_runs
from zscheck.history.store import open_store
from zscheck.report.documents import NO_VERDICT_NOTE, ComparisonReport, SelfCheck
from zscheck.verdict import Verdict


def seconds(median: float, n: int, seed: int) -> list[float]:
    return list(median * np.exp(np.random.default_rng(seed).normal(0, 0.08, n)))


def load_record(tmp: Path, name: str, median: float, seed: int, n: int = 40, started: float = 1.8e9) -> RunRecord:
    return record_of(tmp, name, load_summary(seconds(median, n, seed), started=started), "load")


def side(*records: RunRecord) -> Side:
    return Side(records[0].id, records)


def row(result: Result, operation: str, metric: str) -> Row:
    return next(r for r in result.rows if (r.operation, r.metric) == (operation, metric))


def runs_of(tmp: Path, name: str, median: float, n: int, seed: int, spread: float = 0.05) -> tuple[RunRecord, ...]:
    """n runs of one build: each run's level its own draw around `median` (the run-to-run noise)."""
    levels = median * np.exp(np.random.default_rng(seed).normal(0, spread, n))
    return tuple(load_record(tmp, f"{name}{i}", float(level), seed * 100 + i) for i, level in enumerate(levels))


@pytest.mark.parametrize(
    ("candidate_median", "p50_verdict"),
    [(0.010, "~"), (0.013, "worse"), (0.0077, "better")],
)
def test_latency_verdicts_over_runs(tmp_path: Path, candidate_median: float, p50_verdict: str) -> None:
    base = Side("base", runs_of(tmp_path, "b", 0.010, 5, 1))
    candidate = Side("candidate", runs_of(tmp_path, "c", candidate_median, 5, 2))
    result = run_compare(base, candidate)
    p50 = row(result, "all", "p50")
    assert p50.verdict == p50_verdict and p50.comparison.test == "permutation"
    assert (p50.comparison.n_base, p50.comparison.n_candidate) == (5, 5)  # one value per run, never the seconds
    assert row(result, "e2e", "p50").verdict == p50_verdict  # each operation is judged the same way


def test_one_run_a_side_without_history_is_not_judged_and_says_why(tmp_path: Path) -> None:
    """Two runs' seconds differ clearly (15% apart, 40 seconds each): pooled, Mann-Whitney would call it
    worse; one run a side says nothing about the builds."""
    result = run_compare(side(load_record(tmp_path, "b", 0.010, 1)), side(load_record(tmp_path, "c", 0.0115, 2)))
    assert {r.verdict for r in result.rows} == {"~"} and {r.comparison.test for r in result.rows} == {"none"}
    assert row(result, "all", "p50").note == ONE_RUN_A_SIDE
    assert any(ONE_RUN_A_SIDE in n for n in result.notes())
    assert run_compare(result.base, result.candidate, margin=0.05).failed() == []  # nothing failed (nor judged)


def test_a_gate_with_nothing_it_can_test_is_no_verdict(tmp_path: Path) -> None:
    """--max-regression judges load metrics: a side that measured none (a contract run, a load run that
    could not run) or one run a side without A/A noise (every metric untested) is exit 2 with the reason,
    never "nothing worse by more than 5%". New findings still fail it."""
    load = side(load_record(tmp_path, "l", 0.010, 1))
    contract = side(record_of(tmp_path, "k", contract_summary([]), "contract"))
    broken = side(record_of(tmp_path, "x", contract_summary([failure("status_code")]), "contract"))
    refused = dataclasses.replace(load_summary([0.01]), verdict="COULD NOT RUN", exit_code=2, result=None)
    could_not = side(record_of(tmp_path, "n", refused, "load"))
    for base, candidate, missing in ((load, could_not, "the candidate"), (contract, load, "the base")):
        result = run_compare(base, candidate, margin=0.05)
        assert result.verdict() is Verdict.COULD_NOT_RUN, result.notes()
        reason = result.no_verdict() or ""
        assert reason.startswith(NO_VERDICT_NOTE) and f"{missing} has no load results (run " in reason
        assert run_compare(base, candidate).verdict() is Verdict.PASS  # without the gate: a report
    assert run_compare(contract, broken, margin=0.05).verdict() is Verdict.VIOLATIONS  # the new finding
    one_a_side = run_compare(load, side(load_record(tmp_path, "c", 0.0115, 2)), margin=0.05)
    assert one_a_side.verdict() is Verdict.COULD_NOT_RUN and ONE_RUN_A_SIDE in (one_a_side.no_verdict() or "")


def test_a_regression_beyond_the_margin_fails_and_within_it_passes(tmp_path: Path) -> None:
    base = Side("base", runs_of(tmp_path, "b", 0.010, 4, 1))
    slower = Side("candidate", runs_of(tmp_path, "c", 0.014, 4, 2))
    failed = run_compare(base, slower, margin=0.05).failed()
    assert len(failed) == 1 and "worse by more than 5%" in failed[0]
    assert run_compare(base, slower, margin=0.80).failed() == []
    assert run_compare(base, slower).failed() == []  # no margin: reported, never a failure


def with_load(records: tuple[RunRecord, ...], **facts: object) -> tuple[RunRecord, ...]:
    """The same runs, their load summaries as if run with other options (`users`, or LoadOptions fields)."""
    out = []
    for record in records:
        data = dict(record.documents["summary.json"])
        data["load"] = {**data["load"], **{k: v for k, v in facts.items() if k in data["load"]}}
        data.update({k: v for k, v in facts.items() if k not in data["load"]})
        out.append(dataclasses.replace(record, documents={**record.documents, "summary.json": data}))
    return tuple(out)


def test_runs_of_another_load_are_no_verdict_on_the_build(tmp_path: Path) -> None:
    """10 users against 20 (20 wait longer: +40% p50) is the load's change, not the build's: with a margin
    no verdict (exit 2) and why; without one the rows stand with a note; of one load, the gate judges."""
    base = Side("base", with_load(runs_of(tmp_path, "b", 0.010, 4, 1), users=10))
    candidate = Side("candidate", with_load(runs_of(tmp_path, "c", 0.014, 4, 2), users=20))
    gated = run_compare(base, candidate, margin=0.05)
    assert gated.verdict() is Verdict.COULD_NOT_RUN and gated.failed() == [] and gated.regressions == []
    assert "the base and the candidate measured different loads (users 10 against 20)" in (gated.no_verdict() or "")
    assert run_compare(base, candidate, margin=0.05, equivalence_mode=True).verdict() is Verdict.COULD_NOT_RUN
    plain = run_compare(base, candidate)
    assert plain.verdict() is Verdict.PASS and row(plain, "all", "p50").verdict == "worse"
    assert any("users 10 against 20" in n and "the load's" in n for n in plain.notes())
    same = Side("candidate", with_load(runs_of(tmp_path, "c", 0.014, 4, 2), users=10))
    assert run_compare(base, same, margin=0.05).verdict() is Verdict.VIOLATIONS


@pytest.mark.parametrize(
    ("base_facts", "candidate_facts", "said"),
    [
        ([{}, {}], [{}], None),  # one load throughout
        ([{}], [{"query_ratio": 0.9}], "different loads (query ratio 0.5 against 0.9)"),
        ([{}, {"users": 20}], [{}], "the base's runs measured different loads (users 10 and 20)"),
        ([{}], [{"users": 20, "rate": 50.0}], "(users 10 against 20, rate closed loop against 50/s)"),
        ([{"load": None}], [{"query_ratio": 0.9}], None),  # an older zscheck's run recorded no load options
    ],
)
def test_the_loads_compared_are_said_by_what_differs(
    tmp_path: Path, base_facts: list[dict[str, object]], candidate_facts: list[dict[str, object]], said: str | None
) -> None:
    def runs(name: str, facts: list[dict[str, object]]) -> Side:
        records = []
        for i, given in enumerate(facts):
            (record,) = with_load((load_record(tmp_path, f"{name}{i}", 0.01, i),), **given)
            records.append(record)
        return Side(name, tuple(records))

    mismatch = load_mismatch(runs("b", base_facts), runs("c", candidate_facts))
    assert (mismatch is None) if said is None else (said in (mismatch or "")), mismatch


def bound(tmp: Path, name: str, median: float, seed: int) -> RunRecord:
    """A load run whose generator_cpu self-check failed: its generator was the limit."""
    summary = load_summary(seconds(median, 40, seed))
    assert summary.result is not None
    summary.result.self_checks = [SelfCheck(check="generator_cpu", ok=False, text="the generator", advice="-")]
    return record_of(tmp, name, summary, "load")


@pytest.mark.parametrize(
    ("starved", "candidate_median", "equivalence", "verdict"),
    [
        # a candidate 40% slower, --max-regression 5%
        (None, 0.014, False, Verdict.VIOLATIONS),
        ("candidate", 0.014, False, Verdict.COULD_NOT_RUN),  # its "worse" may be its generator's
        ("base", 0.014, False, Verdict.VIOLATIONS),  # worse than an upper bound: worse still
        # the same build, --max-regression 10% (with --equivalence: shown within it)
        (None, 0.010, False, Verdict.PASS),
        ("base", 0.010, False, Verdict.PASS),  # "not worse" than an upper bound: a note says it is weaker
        ("candidate", 0.010, True, Verdict.PASS),  # measured within the margin: the target was too
        ("base", 0.010, True, Verdict.PASS),  # likewise
        ("candidate", 0.014, True, Verdict.COULD_NOT_RUN),  # not shown within it: maybe the generator
    ],
)
def test_what_a_generator_that_was_the_limit_measured_is_judged_by_what_it_bounds(
    tmp_path: Path, starved: str | None, candidate_median: float, equivalence: bool, verdict: Verdict
) -> None:
    """A starved generator's latencies are upper bounds of the target's (the answer waited for the
    generator): a verdict resting on a bound in the wrong direction is none (exit 2), never PASS or FAIL."""
    base = list(runs_of(tmp_path, "b", 0.010, 5, 1, 0.02))
    candidate = list(runs_of(tmp_path, "c", candidate_median, 5, 2, 0.02))
    if starved == "candidate":
        candidate[2] = bound(tmp_path, "cb", candidate_median, 9)
    if starved == "base":
        base[1] = bound(tmp_path, "bb", 0.010, 9)
    margin = 0.05 if candidate_median > 0.010 else 0.10
    result = run_compare(
        Side("b", tuple(base)), Side("c", tuple(candidate)), margin=margin, equivalence_mode=equivalence
    )
    assert result.verdict() is verdict, (result.failed(), result.no_verdict())
    why = result.no_verdict()
    if verdict is not Verdict.COULD_NOT_RUN:
        assert why is None
        weaker = [n for n in result.notes() if "weaker than it reads" in n]
        assert bool(weaker) == (starved == "base" and verdict is Verdict.PASS), result.notes()
        return
    starved_run = candidate[2] if starved == "candidate" else base[1]
    assert why is not None and why.startswith(NO_VERDICT_NOTE) and starved_run.id in why and "--processes" in why
    assert why in result.notes() and result.document().notes == result.notes()
    assert compare_text(result)[-1].startswith("zscheck: COULD NOT RUN (compare) - no verdict")
    no_gate = run_compare(Side("b", tuple(base)), Side("c", tuple(candidate)))
    assert no_gate.no_verdict() is None and no_gate.verdict() is Verdict.PASS  # no margin: nothing to judge


def test_equivalence_proves_no_regression_only_with_enough_runs(tmp_path: Path) -> None:
    base, same = runs_of(tmp_path, "b", 0.010, 5, 1, 0.02), runs_of(tmp_path, "s", 0.010, 5, 2, 0.02)
    result = run_compare(Side("b", base), Side("s", same), margin=0.10, equivalence_mode=True)
    p50 = row(result, "all", "p50")
    assert p50.equivalence is not None and p50.equivalence.no_regression
    unproven = run_compare(Side("b", base[:1]), Side("s", same[:1]), margin=0.10, equivalence_mode=True)
    assert any("not proven within 10%" in r for r in unproven.failed())


def aa_pairs(tmp: Path, median: float, pairs: int, seed: int, spread: float = 0.03) -> list[RunRecord]:
    """Stored A/A pairs as `zscheck noise` labels them: two runs of one build, back to back."""
    out = []
    rng = np.random.default_rng(seed)
    for k in range(pairs):
        for side_name in ("a", "b"):
            level = float(median * np.exp(rng.normal(0, spread)))
            record = load_record(tmp, f"aa{k}{side_name}", level, seed * 1000 + 2 * k + (side_name == "b"))
            record.labels = {AA_PAIR: f"s-{k}", AA_SIDE: side_name}
            out.append(record)
    return out


def test_one_run_a_side_is_judged_against_stored_aa_noise(tmp_path: Path) -> None:
    pairs = pairs_of(aa_pairs(tmp_path, 0.010, 6, 3))
    noise = noise_of(pairs)
    assert len(pairs) == 6 and noise["all p50"].pairs == 6
    base = side(load_record(tmp_path, "b", 0.010, 1))
    worse = run_compare(base, side(load_record(tmp_path, "c", 0.014, 2)), margin=0.05, noise=noise, noise_source="x")
    p50 = row(worse, "all", "p50")
    assert p50.verdict == "worse" and p50.comparison.test == "aa-noise" and p50 in worse.regressions
    assert p50.noise_floor is not None and 0 < p50.noise_floor < 0.3 and worse.noise_source == "x"
    same = run_compare(base, side(load_record(tmp_path, "s", 0.0101, 4)), margin=0.05, noise=noise)
    assert row(same, "all", "p50").verdict == "~" and same.failed() == []


def test_the_noise_floor_note_is_for_one_run_a_side_only(tmp_path: Path) -> None:
    """A margin inside the A/A noise is said to one run a side ("give --last N per side"), not to runs
    tested against each other, where the floor was never the test."""
    noise = noise_of(pairs_of(aa_pairs(tmp_path, 0.010, 6, 3, spread=0.2)))
    inside = "is inside the A/A noise"
    one = run_compare(side(load_record(tmp_path, "b", 0.010, 1)), side(load_record(tmp_path, "c", 0.010, 2)),
                      margin=0.01, noise=noise)  # fmt: skip
    assert any(inside in n for n in one.notes()), one.notes()
    many = run_compare(Side("b", runs_of(tmp_path, "b", 0.010, 3, 1)), Side("c", runs_of(tmp_path, "c", 0.010, 3, 2)),
                       margin=0.01, noise=noise)  # fmt: skip
    assert not any(inside in n for n in many.notes()), many.notes()


def host(name: str = "ci-1", cpus: int | None = 2, load1: float | None = 1.0) -> dict[str, object]:
    return {"name": name, "cpus": cpus, "load1": load1}


QUIET = [host(load1=x) for x in (0.8, 1.0, 1.4)]  # the A/A pairs' runs: load 0.8 to 1.4 on 2 CPUs


@pytest.mark.parametrize(
    ("runs", "said"),
    [
        ([host(load1=1.1), host(load1=0.6)], []),  # inside the pairs' range, or within 0.5 per CPU of it
        ([host(load1=2.39)], []),  # 1.4 + 0.5 x 2 CPUs: the edge
        (
            [host(load1=2.41)],
            ["load average as the compared runs ended 2.41 (r0), outside the A/A pairs' 0.80 to 1.40"],
        ),
        ([host(load1=3.0), host(load1=3.2)], ["3.00 (r0), 3.20 (r1)"]),
        ([host(name="laptop")], ["ran on laptop, the A/A pairs on ci-1"]),
        ([host(cpus=8, load1=9.0)], ["had [8] CPUs, the A/A pairs [2]"]),  # another size: no load rule besides
        ([host(load1=None), host(name="", cpus=None)], []),  # facts the records lack are not held against them
    ],
)
def test_the_machine_state_of_the_compared_runs_against_the_aa_pairs(
    tmp_path: Path, runs: list[dict[str, object]], said: list[str]
) -> None:
    records = []
    for i, facts in enumerate(runs):
        record = load_record(tmp_path, f"r{i}", 0.010, i)
        record.id, record.host = f"r{i}", facts
        records.append(record)
    notes = machine_state(QUIET, records)
    assert len(notes) == len(said)
    for note, part in zip(notes, said, strict=True):
        assert part in note and "record `zscheck noise` where and as these runs ran" in note
    assert machine_state([], records) == []  # no pairs: no noise to doubt
    busy_pairs = [host(load1=3.5), host(load1=4.0)]  # pairs of a busy hour, runs of a quiet one: below their range
    assert ["0.80 (r9)" in n for n in machine_state(busy_pairs, [record_at(tmp_path, 0.8)])] == [True]


def record_at(tmp: Path, load1: float) -> RunRecord:
    record = load_record(tmp, "r9", 0.010, 9)
    record.id, record.host = "r9", host(load1=load1)
    return record


def test_a_verdict_against_noise_of_another_machine_state_says_so(tmp_path: Path) -> None:
    aa = aa_pairs(tmp_path, 0.010, 6, 3)
    for record in aa:
        record.host = host(load1=1.0)
    noise = noise_of(pairs_of(aa))
    base, busy = load_record(tmp_path, "b", 0.010, 1), load_record(tmp_path, "c", 0.014, 2)
    base.host, busy.host = host(load1=1.1), host(load1=3.7)
    hosts = [r.host for r in aa]
    worse = run_compare(side(base), side(busy), noise=noise, noise_source="x", noise_hosts=hosts)
    assert row(worse, "all", "p50").verdict == "worse"
    [note] = [n for n in worse.notes() if "machine state" in n]
    assert f"3.70 ({busy.id})" in note and "1.00 to 1.00 by more than 1" in note
    assert any("machine state" in line for line in compare_text(worse))
    assert "machine state" in " ".join(worse.document().notes)
    calm = load_record(tmp_path, "d", 0.014, 2)
    calm.host = host(load1=1.2)
    assert not [n for n in run_compare(side(base), side(calm), noise=noise, noise_hosts=hosts).notes() if "state" in n]
    # Tested over runs (4 against 4), the A/A noise is not the null: its machine state is not the verdict's.
    many = run_compare(Side("b", runs_of(tmp_path, "m", 0.010, 4, 5)), Side("c", runs_of(tmp_path, "n", 0.014, 4, 6)))
    assert all(r.comparison.test == "permutation" for r in many.rows)
    assert machine_state(hosts, [busy]) and not [n for n in many.notes() if "state" in n]


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
    # One run a side, no A/A runs stored: no metric can be tested, so the gate cannot judge (exit 2).
    assert main([*argv, "--json", str(out_json)]) == 2
    text = capsys.readouterr().out
    assert ONE_RUN_A_SIDE in text and "zscheck: COULD NOT RUN (compare) - no verdict: --max-regression 5% could" in text
    assert main(argv[:-2]) == 0  # without a gate the same comparison is a report: every metric ~
    capsys.readouterr()
    with open_store(store) as s:
        for record in aa_pairs(tmp_path, 0.010, 5, 7):
            s.add(record)
    code = main([*argv, "--json", str(out_json), "--html", str(out_html)])
    text = capsys.readouterr().out
    assert code == 1 and "zscheck: VIOLATIONS (compare) - " in text and "worse by more than 5%" in text
    assert "A/A noise: 5 stored A/A pairs of http://127.0.0.1:9 (toggle)" in text
    data = json.loads(out_json.read_text())
    ComparisonReport.from_json(data, str(out_json))  # the typed document, zscheck/compare/2
    assert data["schema"] == "zscheck/compare/2" and data["base"]["runs"] == [base.id]
    p50 = next(m for m in data["metrics"] if m["metric"] == "p50")
    assert p50["verdict"] == "worse" and p50["test"] == "aa-noise" and p50["change"] > 0.15
    # the gate's family test, typed: it failed (exit 1), over every metric that was tested
    family = data["family"]
    assert family["p"] < 0.05 and family["metrics"] == sum(m["test"] != "none" for m in data["metrics"]), family
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
        for night in range(8):
            level = (0.010 if night < 4 else 0.014) * (1 + 0.01 * (night % 3))
            s.add(load_record(tmp_path, f"n{night}", level, night, started=1.8e9 + night * 86400))
        for record in aa_pairs(tmp_path, 0.010, 2, 3):  # A/A runs are not nights: --last leaves them out
            record.started = 1.8e9 + 9 * 86400
            s.add(record)
    assert main(["compare", "--last", "4", "--store", store, "http://127.0.0.1:9", "http://127.0.0.1:9"]) == 0
    text = capsys.readouterr().out
    assert "(4 before) (4 run(s))" in text and "(newest 4) (4 run(s))" in text and "worse" in text
    assert main(["compare", "--last", "3", "--store", store, "http://elsewhere", "http://elsewhere"]) == 2
    assert "has 0 run(s) of http://elsewhere" in capsys.readouterr().err


@pytest.mark.slow
def test_real_load_runs_one_a_side_are_not_judged_without_their_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two real load runs of the reference server, the candidate with its latency fault (2 ms per request in
    flight): one run a side, nothing stored about the runs' noise, so compare says `~` and why (and its gate
    cannot judge: exit 2), though the seconds of the two runs differ (tests/history/test_noise.py: with A/A runs
    stored, the same comparison is worse)."""
    store = str(tmp_path / "h.sqlite")
    common = ["load", "--duration", "4s", "--users", "8", "--seed", "3", "--store", store]
    assert main([*common, "--report-dir", str(tmp_path / "base")]) == 0
    main([*common, "--report-dir", str(tmp_path / "slow"), "--fault", "latency-under-load"])  # its gates may fail
    capsys.readouterr()
    with open_store(store) as s:
        slow, base = s.query()
    code = main(["compare", base.id, slow.id, "--store", store, "--max-regression", "20%"])
    text = capsys.readouterr().out
    assert code == 2 and ONE_RUN_A_SIDE in text
    p50 = next(line for line in text.splitlines() if line.split()[:2] == ["all", "p50"])
    assert p50.endswith(f"~ (not tested: {ONE_RUN_A_SIDE})")


def one_a_side(changes: list[float], pairs: np.ndarray, margin: float = 0.05) -> Result:
    """A one-run-a-side comparison of the 14 metrics against 20 stored A/A pairs, by their log changes."""
    noise = {metric_key(op, m): Noise(tuple(pairs[:, j])) for j, (op, m, _, _) in enumerate(METRICS)}
    rows = []
    for j, (op, m, unit, low) in enumerate(METRICS):
        value = float(np.exp(changes[j] if low else -changes[j]))  # a positive change reads worse
        comparison = compare_runs([1.0], [value], lower_is_better=low, noise=noise[metric_key(op, m)])
        rows.append(Row(op, m, unit, [1.0], [value], comparison))
    result = Result(Side("b", ()), Side("c", ()), 0.05, margin, False, diff((), ()), rows)
    result.family = family_test(rows, 1, 1, noise, margin, alpha=0.05)
    return result


def test_the_gate_holds_when_one_metric_of_the_family_reads_worse_by_chance() -> None:
    """One metric just beyond every pair it ranks among (p 1/21 < alpha alone), no further than the family's
    noise reaches over 14 metrics: the table says worse, the gate holds and a note says why."""
    pairs = np.random.default_rng(21).normal(0, 0.1, (20, len(METRICS)))
    changes = [0.0] * len(METRICS)
    changes[0] = float(np.abs(pairs[:, 0]).max()) + 0.01
    held = one_a_side(changes, pairs)
    assert [r.metric for r in held.worse] == ["p50"] and held.family is not None and held.family.p >= 0.05
    assert held.regressions == [] and held.failed() == [] and held.verdict() is Verdict.PASS
    assert any("not as the family of 14 the gate judges" in n for n in held.notes())
    changes[0] = 1.0  # 2.7x slower: beyond anything the pairs' largest reach
    failed = one_a_side(changes, pairs)
    assert failed.regressions and failed.family is not None and failed.family.p < 0.05
    assert failed.verdict() is Verdict.VIOLATIONS


def test_a_metric_that_never_moved_in_its_pairs_fails_the_gate_when_it_moves() -> None:
    """Six A/A pairs (a t-test, Bonferroni over the family): a metric whose pairs never moved has p 0 once
    it moves, and p 0 is a p-value, not a missing one."""
    changes = [0.0] * len(METRICS)
    changes[0] = 0.1
    moved = one_a_side(changes, np.zeros((6, len(METRICS))))
    assert moved.family is not None and moved.family.p == 0.0 and moved.regressions
