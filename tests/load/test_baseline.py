"""Known findings for `zscheck load` (`--baseline`), as a nightly CI job meets them: a load fault's finding
fails the first run, `--baseline-update` accepts it, the next run passes with it listed as known (a
skipped JUnit testcase), and the correct server lists it as fixed. A contract entry in the same file never
hides a load finding, and a load update keeps the contract's entries. Fingerprints are the same in any
run; nothing here depends on how much work a run did (a starved CI machine does little)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import PASSWORD
from zscheck.report.baseline import Baseline, Entry
from zscheck.report.documents import (
    FailureGroup,
    Generators,
    Linearizability,
    LinearizabilityViolation,
    LoadFinding,
    LoadResult,
    LoadSummary,
)
from zscheck.report.load_findings import fingerprint, junit_cases, load_findings

TODAY = datetime.date(2026, 12, 3)


def _result(groups: list[FailureGroup], violations: int = 0) -> LoadResult:
    lin = Linearizability(
        ok=not violations,
        images=2,
        operations=10,
        history_dropped=0,
        undecided=[],
        violations=[
            LinearizabilityViolation(
                image=f"img{i}", initial="Enabled", text=f"no order of these\nimage img{i}", window=[]
            )
            for i in range(violations)
        ],
    )
    return LoadResult(
        users=1, rate=None, duration=4.0, passed=False, throughput=1.0, operations={}, gates=[],
        failures=groups, error_codes={}, harness={}, harness_actions=[], generators=Generators(workers=1, users=1),
        distribution={}, arrival=None, linearizability=lin, timeline=[],
    )  # fmt: skip


def _group(check: str = "error_code", code: str = "SYS.1000", count: int = 3, image: str = "a" * 32) -> FailureGroup:
    message = f"[{check}] wrong outcome on {image}"
    return FailureGroup(
        operation="changeImageState invalid:bad-event", check=check, code=code, count=count,
        examples=[{"message": message, "curl": f"curl -X PUT /zstack/v1/images/{image}/actions"}],
    )  # fmt: skip


def test_a_load_fingerprint_is_the_same_in_any_run_and_tells_causes_apart() -> None:
    one = load_findings(_result([_group(count=3, image="a" * 32)], violations=1))
    two = load_findings(_result([_group(count=900, image="b" * 32)], violations=4))  # another night, more load
    assert [f.id for f in one] == [f.id for f in two] and len(one) == 2
    assert one[1].check == "linearizability" and one[1].count == 1 and two[1].count == 4
    assert fingerprint("error_code", "changeImageState invalid:bad-event", "SYS.1007") != one[0].id
    assert fingerprint("status_code", "changeImageState invalid:bad-event", "SYS.1000") != one[0].id
    assert load_findings(None) == []


def _finding(check: str = "error_code") -> LoadFinding:
    return load_findings(_result([_group(check=check)]))[0]


def test_a_contract_entry_never_hides_a_load_finding() -> None:
    finding = _finding()
    contract = Baseline(Path("b.toml"), {finding.id: Entry(finding.id, reason="contract's", command="contract")})
    assert contract.classify([finding], TODAY, command="load")[0].status == "new"
    assert contract.fixed([finding], command="load") == []  # nor is a contract entry "fixed" by a load run
    load = Baseline(Path("b.toml"), {finding.id: Entry(finding.id, reason="ZS-9", command="load")})
    assert [(f.status, f.reason) for f in load.classify([finding], TODAY, command="load")] == [("known", "ZS-9")]
    assert load.classify([finding], TODAY)[0].status == "new"  # and the other way round


def test_an_expired_load_entry_is_expired() -> None:
    finding = _finding()
    lapsed = Entry(finding.id, reason="ZS-3", expires=datetime.date(2026, 12, 2), command="load")
    shown = Baseline(Path("b.toml"), {finding.id: lapsed}).classify([finding], TODAY, command="load")
    assert [(f.status, f.reason) for f in shown] == [("expired", "accepted until 2026-12-02: ZS-3")]


def test_a_load_update_keeps_the_contract_entries(tmp_path: Path) -> None:
    finding = _finding()
    path = tmp_path / "b.toml"
    contract, gone = Entry("0123456789ab", reason="ZS-1", expires=TODAY), Entry("ba9876543210", command="load")
    old = Baseline(path, {contract.id: contract, gone.id: gone})
    old.updated([finding], command="load").write()
    again = Baseline.read(path)
    assert again.entries["0123456789ab"] == Entry("0123456789ab", reason="ZS-1", expires=TODAY)  # untouched
    assert again.entries[finding.id].command == "load" and "ba9876543210" not in again.entries  # gone: fixed


def test_the_fingerprints_a_load_run_accepts_are_its_own_unexpired_entries() -> None:
    baseline = Baseline(
        Path("known.toml"),
        {
            "aaaaaaaaaaaa": Entry("aaaaaaaaaaaa", command="load"),
            "bbbbbbbbbbbb": Entry("bbbbbbbbbbbb", command="load", expires=TODAY),  # its last day
            "cccccccccccc": Entry("cccccccccccc", command="load", expires=TODAY - datetime.timedelta(days=1)),
            "dddddddddddd": Entry("dddddddddddd", command="contract"),
        },
    )
    assert baseline.accepted(TODAY, command="load") == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    assert baseline.accepted(TODAY) == ["dddddddddddd"]


def test_a_command_that_has_no_findings_is_refused_with_the_entry_named(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('[[finding]]\nid = "0123456789ab"\ncommand = "capacity"\n')
    with pytest.raises(ValueError, match=r"finding\[0\]\.command.*'capacity' is not a command with findings"):
        Baseline.read(path)


def _summary(findings: list[LoadFinding], verdict: Any = "VIOLATIONS", result: LoadResult | None = None) -> LoadSummary:
    return LoadSummary(
        verdict=verdict, exit_code=1, harness_version="t", target="t", dialect="rest", scenario="errors",
        timing=None, read_after_write=0.25, users=1, rate=None, processes=1, seed=1, started=0.0, slo=[],
        error=None if result is not None else "no target", restore_problems=[], result=result, files={},
        setup_actions=[], findings=findings,
    )  # fmt: skip


def test_junit_has_one_testcase_per_finding_known_ones_skipped_and_an_error_when_it_could_not_run() -> None:
    result = _result([_group(), _group(check="status_code")])
    new, known = load_findings(result)
    known = Baseline(Path("b"), {known.id: Entry(known.id, reason="ZS-2", command="load")}).classify(
        [known], TODAY, command="load"
    )[0]
    cases = junit_cases(_summary([new, known], result=result))
    outcomes = {c.name.split()[0]: c.outcome for c in cases if c.classname == "zscheck.load.findings"}
    assert outcomes == {new.id: "failed", known.id: "skipped"}
    assert [c.outcome for c in cases if c.classname == "zscheck.load"] == ["passed"]  # the history check
    could_not = junit_cases(_summary([], verdict="COULD NOT RUN"))
    assert [(c.outcome, c.message) for c in could_not] == [("error", "no target")]


# ------------------------------------------------------------------------------ end to end, a real fault

FAULT = "wrong-error-code"  # SYS.1000 where the errors scenario's invalid events must get SYS.1007
RUN = ["--scenario", "errors", "--users", "3", "--duration", "4s", "--store", "off"]  # >= 4 s: a starved box


def _load(report: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "load", "--report-dir", str(report), "--seed", "5", *RUN, *args],
        capture_output=True, text=True, timeout=180, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    path = report / "summary.json"
    return proc.returncode, out, json.loads(path.read_text()) if path.exists() else {}


def _junit(report: Path) -> dict[str, str]:
    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases)
    outcome = {}
    for case in cases:
        child = next(iter(case), None)
        outcome[case.get("name", "")] = "passed" if child is None else child.tag
    assert int(suite.get("failures", "-1")) == sum(1 for v in outcome.values() if v == "failure")
    assert int(suite.get("skipped", "-1")) == sum(1 for v in outcome.values() if v == "skipped")
    return outcome


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_load_fault_fails_then_is_known_then_fixed(tmp_path: Path) -> None:
    baseline = tmp_path / "known.toml"
    baseline.write_text('[[finding]]\nid = "0123456789ab"\nreason = "a contract finding"\n')  # contract's own
    code, out, first = _load(tmp_path / "1", "--fault", FAULT, "--baseline", str(baseline), "--baseline-update")
    assert code == 1, out  # judged against the file as it was: the load finding is new
    assert first["schema"] == "zscheck/load-summary/4" and first["baseline"] == str(baseline)
    finding = next(f for f in first["findings"] if f["check"] == "error_code" and f["code"] == "SYS.1000")
    assert finding["status"] == "new" and finding["count"] >= 1 and finding["example"].startswith("curl")
    assert first["fixed"] == []  # the contract entry is not the load run's to call fixed
    assert [v for n, v in _junit(tmp_path / "1").items() if n.startswith(finding["id"])] == ["failure"]
    written = Baseline.read(baseline)
    assert written.entries["0123456789ab"].command == "contract"  # kept as it was
    assert written.entries[finding["id"]].command == "load"

    code, out, second = _load(tmp_path / "2", "--fault", FAULT, "--baseline", str(baseline))
    assert code == 0, out  # the same fault, now known: reported, not failing
    again = next(f for f in second["findings"] if f["id"] == finding["id"])
    assert again["status"] == "known" and f"[{finding['id']}]" in out and "KNOWN" in out
    assert all(f["status"] == "known" for f in second["findings"])
    assert second["verdict"] == "PASS" and second["fixed"] == []
    assert "skipped" in _junit(tmp_path / "2").values() and "failure" not in _junit(tmp_path / "2").values()

    code, out, third = _load(tmp_path / "3", "--baseline", str(baseline))  # the correct server
    assert code == 0, out
    assert third["findings"] == [] and third["fixed"] == [finding["id"]]
    assert f"1 fixed ({finding['id']})" in out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_zscheck_run_hands_the_baseline_to_its_load_phase(tmp_path: Path) -> None:
    baseline = tmp_path / "known.toml"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zscheck", "run", "--reports", str(tmp_path / "runs"), "--skip", "contract",
             "--skip", "drift", "--scenario", "errors", "--duration", "4s", "--fault", FAULT, "--store", "off",
             "--seed", "5", "--baseline", str(baseline), *args,
             "--slo", "error_rate<1%"],  # run's own gate: a known finding's failures are kept out of it
            capture_output=True, text=True, timeout=180, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip

    first = run("--baseline-update")
    assert first.returncode == 1, first.stdout + first.stderr
    assert {e.command for e in Baseline.read(baseline).entries.values()} == {"load"}
    second = run()
    assert second.returncode == 0, second.stdout + second.stderr
    load = json.loads(((tmp_path / "runs" / "latest").resolve() / "load" / "summary.json").read_text())
    assert load["findings"] and {f["status"] for f in load["findings"]} == {"known"}
    every = load["result"]["operations"]["all"]  # the failures are reported, apart from the gate's rate
    assert every["known_failures"] == every["failures"] > 0 and every["error_rate"] == 0, every
    assert [g["passed"] for g in load["result"]["gates"]] == [True]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_capacity_search_does_not_break_on_a_known_finding(tmp_path: Path) -> None:
    """A search over a build with a known fault: without the baseline its first step breaks on the finding
    (VIOLATIONS, no knee); with it, every step is judged on its gates alone, the error_rate gate included,
    and the line says which known findings were seen."""
    baseline = tmp_path / "known.toml"
    code, out, _ = _load(tmp_path / "accept", "--fault", FAULT, "--baseline", str(baseline), "--baseline-update")
    assert code == 1 and baseline.exists(), out

    def capacity(report: str, *args: str) -> tuple[int, str, dict[str, Any]]:
        proc = subprocess.run(
            [sys.executable, "-m", "zscheck", "capacity", "--report-dir", str(tmp_path / report), "--seed", "5",
             "--scenario", "errors", "--fault", FAULT, "--start", "1", "--step", "1", "--stop", "2",
             "--step-duration", "3s", "--slo", "error_rate<1%", "--slo", "e2e:p99<5s", "--store", "off", *args],
            capture_output=True, text=True, timeout=300, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        doc = tmp_path / report / "capacity.json"
        return proc.returncode, proc.stdout + proc.stderr, json.loads(doc.read_text()) if doc.exists() else {}

    code, out, plain = capacity("plain")
    assert code == 1 and not plain["points"][0]["correct"], out
    code, out, known = capacity("known", "--baseline", str(baseline))
    assert code == 0, out
    assert all(p["correct"] and p["passed"] for p in known["points"]) and known["saturation"] == "none"
    (finding,) = [e for e in Baseline.read(baseline).entries.values() if e.command == "load"]
    assert f"1 known ({finding.id}: no step broke on them), 0 new or expired (none), 0 fixed" in out
    errors = [s["operations"]["all"] for s in known["steps"]]
    assert all(e["known_failures"] > 0 and e["error_rate"] == 0 for e in errors), errors
