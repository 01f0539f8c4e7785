"""A broken build as an engineer meets it: one real `zscheck contract` against a faulty embedded server,
then what it left behind. One finding per root cause in the terminal, failures.md, summary.json and
junit.xml (parsed as a CI server would); no tracebacks in the terminal (they are in tracebacks.txt); and
the reproducer script, run with sh against a fresh server, reproduces the violation (a fault) or shows
the correct answer (no fault), never `400 Duplicate job uuid` or `SYS.1003` for the expunged image."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import PASSWORD, ServeProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # real contract runs on a shared machine

FAULT = "wrong-error-code"  # SYS.1000 where SYS.1007 belongs: seen by several suites, one root cause


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("faulty") / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--report-dir", str(out), "--fault", FAULT,
         "--max-examples", "10", "--seed", "1", "--no-shrink"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_one_finding_per_root_cause_everywhere(faulty_run: tuple[Path, str]) -> None:
    out, stdout = faulty_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "zscheck/contract-summary/4"
    findings = summary["findings"]
    error_code = [f for f in findings if f["check"] == "error_code" and f["rule"] == "state-event-invalid"]
    assert len(error_code) == 1, findings  # the same violation from every suite is one finding
    finding = error_code[0]
    same = [f for f in summary["failures"] if f["fingerprint"] == finding["id"]]
    assert finding["count"] == len(same) >= 2 and len(finding["tests"]) >= 2
    assert sum(f["count"] for f in findings) == len(summary["failures"])
    assert finding["operation"] == "PUT /zstack/v1/images/{uuid}/actions"
    assert summary["faults"] == [FAULT] and summary["target_url"] is None
    # the terminal: each finding once, in a few lines, with its replay command; no pytest tracebacks
    assert stdout.count(f"[{finding['id']}]") == 2  # the finding's lines, and its line in the verdict
    assert f"zscheck replay {out} {finding['id']}" in stdout
    assert "Traceback" not in stdout and "\nE   " not in stdout and "def test_" not in stdout
    assert len(stdout.splitlines()) < 120
    assert (out / "tracebacks.txt").read_text().count("ContractViolation") >= 2  # the full traces stay
    # failures.md: one section per finding
    md = (out / "failures.md").read_text()
    assert md.count("\n## ") == len(findings) and f"`{finding['id']}`" in md


def test_junit_has_one_testcase_per_finding_as_a_ci_server_counts(faulty_run: tuple[Path, str]) -> None:
    out, _ = faulty_run
    summary = json.loads((out / "summary.json").read_text())
    suites = ET.parse(out / "junit.xml").getroot()
    suite = suites.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("tests", "-1")) == len(cases)
    assert int(suite.get("failures", "-1")) == len(failed) == len(summary["findings"])
    assert int(suite.get("errors", "-1")) == 0
    assert {c.get("name", "").split()[0] for c in failed} == {f["id"] for f in summary["findings"]}
    passed = [c for c in cases if not list(c)]
    assert len(passed) == summary["tests"].get("passed", 0)


def _run_script(script: Path, url: str) -> str:
    proc = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "ZSTACK": url, "ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_reproducer_reproduces_on_a_fresh_server(faulty_run: tuple[Path, str]) -> None:
    out, _ = faulty_run
    summary = json.loads((out / "summary.json").read_text())
    finding = next(f for f in summary["findings"] if f["rule"] == "state-event-invalid")
    text = finding["first"]["reproducer"]
    assert f"zscheck serve --port 8080 --dialect rest --fault {FAULT}" in text  # how to start the target
    # the password from the environment, never in the script (nor its hash, which ZStack takes as it)
    assert "PASSWORD=${ZSCHECK_PASSWORD:?" in text and hashlib.sha512(PASSWORD.encode()).hexdigest() not in text
    assert "127.0.0.1:8080" in text
    assert "JOB1=$(fresh)" in text and '"X-Job-UUID: $JOB1"' in text  # its own job id, never the harness's
    script = out / "reproducers" / f"{finding['id']}.sh"  # also written as a file, the same script
    assert script.read_text() == text and f"sh reproducers/{finding['id']}.sh" in (out / "failures.md").read_text()
    faulty = ServeProcess("--db", ":memory:", "--fault", FAULT)
    try:
        shown = _run_script(script, faulty.url)
    finally:
        faulty.stop()
    assert "created" in shown  # the run's image is not on this server: the script made one
    assert "Duplicate job uuid" not in shown and "SYS.1003" not in shown
    assert "request: HTTP 202" in shown and "poll 1: HTTP 503" in shown and "SYS.1000" in shown  # in the poll
    correct = ServeProcess("--db", ":memory:")
    try:
        shown = _run_script(script, correct.url)
    finally:
        correct.stop()
    assert "SYS.1007" in shown and "SYS.1000" not in shown


def _replay(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zscheck", "replay", str(out), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip


def test_replay_against_a_live_faulty_server_is_still_failing(faulty_run: tuple[Path, str]) -> None:
    out, _ = faulty_run
    summary = json.loads((out / "summary.json").read_text())
    finding = next(f for f in summary["findings"] if f["rule"] == "state-event-invalid")
    proc = _replay(out, finding["id"][:6])  # default target: an embedded server with the run's faults
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"STILL FAILING: [{finding['id']}] error_code" in proc.stdout
    assert "is gone: on a fixture image made for the replay" in proc.stdout
    assert "now: [error_code]" in proc.stdout and "SYS.1000" in proc.stdout
    assert "GET /zstack/v1/api-jobs/" in proc.stdout  # the api-job was followed: the violation is in its answer
    run_job = finding["first"]["curl"].split("X-Job-UUID: ")[1][:32]
    assert run_job not in proc.stdout  # a fresh X-Job-UUID, never the run's
    live = ServeProcess("--db", ":memory:", "--fault", FAULT)  # and a faulty server given with --target
    try:
        again = _replay(out, "1", "--target", live.url)
    finally:
        live.stop()
    assert again.returncode == 1 and "STILL FAILING" in again.stdout, again.stdout + again.stderr


def test_replay_against_a_correct_server_is_fixed(faulty_run: tuple[Path, str]) -> None:
    out, _ = faulty_run
    correct = ServeProcess("--db", ":memory:")
    try:
        proc = _replay(out, "1", "--target", correct.url)
    finally:
        correct.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FIXED: [" in proc.stdout and "STILL FAILING" not in proc.stdout


def test_replay_of_an_unknown_finding_could_not_run_and_lists_the_findings(faulty_run: tuple[Path, str]) -> None:
    out, _ = faulty_run
    proc = _replay(out, "zzzz")
    assert proc.returncode == 2
    assert "is not a finding of this run; the findings are: 1 (" in proc.stdout + proc.stderr
