"""Protocol findings replay: the raw requests the typed client does not build (a reused X-Job-UUID, a poll
of a job never issued, a poll without X-JSON-Schema) are recorded in summary.json with their secrets out,
and `zscheck replay` and the reproducer script re-send the whole sequence (a session of their own, fresh
job ids, the same fresh one where the run reused one, a fixture image like the expunged one, each job
followed). Before they were recorded, a protocol finding replayed as a correct default request: FIXED
against the very server that still broke the rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, ServeProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
# Each breaks one protocol rule of contracts/test_protocol.py: a reused X-Job-UUID accepted, a poll of an
# unknown job answered 200, `schema` in a job result nobody asked for.
FAULTS = ("job-uuid-reuse", "unknown-job-answers", "schema-unasked")
ENV = {**os.environ, "ZSCHECK_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def protocol_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("protocol") / "report"
    return out, _suite("test_protocol.py", out, *(arg for fault in FAULTS for arg in ("--zs-fault", fault)))


def _suite(name: str, out: Path, *args: str) -> dict[str, Any]:
    """One of contracts/ run alone against an embedded server with faults: it must fail; its summary."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "contracts" / name), "-c", os.devnull,
         f"--rootdir={ROOT}", "-p", "no:locust", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
         "--zs-report-dir", str(out), *args],
        capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads((out / "summary.json").read_text()))


def _still_failing_then_fixed(out: Path, finding: str) -> str:
    """Replayed against an embedded server with the run's faults: STILL FAILING; against a correct one:
    FIXED. Returns what the first replay printed."""
    still = _replay(out, finding)
    assert still.returncode == 1 and f"STILL FAILING: [{finding}]" in still.stdout, still.stdout + still.stderr
    correct = ServeProcess("--db", ":memory:")
    try:
        fixed = _replay(out, finding, "--target", correct.url)
    finally:
        correct.stop()
    assert fixed.returncode == 0 and f"FIXED: [{finding}]" in fixed.stdout, fixed.stdout + fixed.stderr
    return still.stdout


def _finding(summary: dict[str, Any], rule: str, check: str | None = None) -> dict[str, Any]:
    found = [f for f in summary["findings"] if f["rule"] == rule and (check is None or f["check"] == check)]
    assert found, [(f["rule"], f["check"]) for f in summary["findings"]]
    return found[0]


def _replay(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zscheck", "replay", str(out), *args],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip


def test_a_protocol_finding_keeps_its_raw_sequence_without_secrets(protocol_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = protocol_run
    assert summary["schema"] == "zscheck/contract-summary/4"
    reuse = _finding(summary, "job-uuid-duplicate", "job_protocol")["first"]["raw"]
    assert [r["method"] for r in reuse] == ["PUT", "PUT"] and all(r["follow"] for r in reuse)
    assert reuse[0]["headers"]["X-Job-UUID"] == reuse[1]["headers"]["X-Job-UUID"]  # the reuse is the finding
    assert {r["headers"]["Authorization"] for r in reuse} == {"OAuth <redacted>"}  # never the session
    unknown = _finding(summary, "job-unknown")["first"]["raw"]
    assert len(unknown) == 1 and unknown[0]["method"] == "GET" and "/api-jobs/" in unknown[0]["path"]
    unasked = [f for f in summary["findings"] if f["first"]["raw"] and not f["first"]["raw"][-1]["schema"]]
    assert unasked, "the poll without X-JSON-Schema is recorded as such"


def test_replay_against_the_faulty_server_is_still_failing(protocol_run: tuple[Path, dict[str, Any]]) -> None:
    out, summary = protocol_run
    proc = _replay(out)  # every finding, against an embedded server with the run's faults
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for finding in summary["findings"]:
        assert f"STILL FAILING: [{finding['id']}]" in proc.stdout, proc.stdout
    assert "FIXED" not in proc.stdout and "NOT REPLAYED" not in proc.stdout
    reuse = _finding(summary, "job-uuid-duplicate", "job_protocol")
    run_job = reuse["first"]["raw"][0]["headers"]["X-Job-UUID"]
    assert run_job not in proc.stdout  # a fresh X-Job-UUID, reused within the replay as the run reused its own
    assert "-> HTTP 400 Duplicate job uuid" not in proc.stdout and "SYS.1003" not in proc.stdout
    assert "now: [job_protocol] wrong answer to job-unknown" in proc.stdout and "-> HTTP 200 {}" in proc.stdout
    live = ServeProcess("--db", ":memory:", "--fault", "job-uuid-reuse")  # a faulty server given with --target
    try:
        again = _replay(out, reuse["id"], "--target", live.url)
    finally:
        live.stop()
    assert again.returncode == 1 and f"STILL FAILING: [{reuse['id']}]" in again.stdout, again.stdout + again.stderr


def test_replay_against_the_correct_server_is_fixed(protocol_run: tuple[Path, dict[str, Any]]) -> None:
    out, summary = protocol_run
    correct = ServeProcess("--db", ":memory:")
    try:
        proc = _replay(out, "--target", correct.url)
    finally:
        correct.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for finding in summary["findings"]:
        assert f"FIXED: [{finding['id']}]" in proc.stdout
    assert "-> HTTP 400 Duplicate job uuid[" in proc.stdout  # the reuse was sent, and refused now
    assert "-> HTTP 404 the job has been expired" in proc.stdout


def _run_script(script: Path, url: str) -> str:
    proc = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, timeout=60, env={**ENV, "ZSTACK": url},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("rule", "fault", "broken", "correct"),
    [
        ("job-uuid-duplicate", "job-uuid-reuse", "request: HTTP 202", "request: HTTP 400 Duplicate job uuid["),
        ("job-unknown", "unknown-job-answers", "request: HTTP 200 {}", "request: HTTP 404 the job has been expired"),
    ],
)
def test_the_reproducer_sends_the_raw_sequence(
    protocol_run: tuple[Path, dict[str, Any]], rule: str, fault: str, broken: str, correct: str
) -> None:
    out, summary = protocol_run
    finding = _finding(summary, rule, "job_protocol")
    script = out / "reproducers" / f"{finding['id']}.sh"
    assert script.read_text() == finding["first"]["reproducer"]
    faulty = ServeProcess("--db", ":memory:", "--fault", fault)
    try:
        shown = _run_script(script, faulty.url)
    finally:
        faulty.stop()
    assert broken in shown and "SYS.1003" not in shown, shown
    good = ServeProcess("--db", ":memory:")
    try:
        shown = _run_script(script, good.url)
    finally:
        good.stop()
    assert correct in shown, shown


def test_a_setup_finding_replays_through_the_replays_own_setup(tmp_path: Path) -> None:
    """Two logins answered with one session breaks the contract while the run sets up: the replay's own
    setup makes those logins again."""
    out = tmp_path / "report"
    summary = _suite("test_protocol.py", out, "--zs-fault", "login-reuses-session")
    finding = _finding(summary, "setup", "session_policy")
    assert "now: [session_policy]" in _still_failing_then_fixed(out, finding["id"])


def test_a_state_machine_finding_replays_the_sequence_that_led_to_it(tmp_path: Path) -> None:
    """A stale echo of recoverImage needs a delete first: a state machine's finding carries the calls its
    example made on the image since the reset (here DELETE, a query, the recover), and the replay re-sends
    them on a fresh fixture image. Before, it replayed as one ChangeImageState: FIXED against the server
    that still broke the rule."""
    out = tmp_path / "report"
    summary = _suite("test_state_machine.py", out, "--zs-fault", "stale-echo", "--hypothesis-seed", "3")
    finding = next(f for f in summary["findings"] if f["check"] == "echo_matches_query")
    raw = finding["first"]["raw"]
    image = finding["first"]["image"]
    assert len(raw) >= 2 and all(image in r["path"] for r in raw), raw  # the calls on that image, in order
    assert raw[-1]["method"] == "PUT" and json.loads(raw[-1]["body"]).keys() <= {"recoverImage", "updateImage"}
    assert {r["headers"]["Authorization"] for r in raw} == {"OAuth <redacted>"}
    still = _still_failing_then_fixed(out, finding["id"])
    assert still.count("PUT /zstack/v1/images/") + still.count("DELETE /zstack/v1/images/") >= 2
