"""Proof that the checks catch what they claim: each fault mode of the reference server makes
`zscheck contract` exit 1 and name the right check, and the correct server passes under 20 seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zscheck.refserver.faults import FAULTS

# The check that must catch each fault (others may fire too: one fault can break several rules).
CAUGHT_BY = {
    "success-with-error": "envelope",
    "success-field": "envelope",
    "error-code-shape": "error_code_shape",
    "wrong-error-code": "error_code",
    "case-insensitive-event": "error_code",
    "session-before-arguments": "error_code",
    "same-state-error": "error_code",
    "sync-validation": "status_code",
    "business-error-500": "status_code",
    "params-accepted": "status_code",
    "disable-noop": "state_matches_event",
    "status-touched": "status_untouched",
    "other-field-changes": "no_other_field_changes",
    "lastopdate-frozen": "last_op_date",
    "lost-update": "query_agrees",
    "any-session": "error_code",
    "no-ownership": "error_code",
    "job-never-finishes": "job_completes",
    "no-location": "accepted_body",
    "pending-body-location": "pending_body",
    "iso-timestamps": "inventory_schema",
    "missing-status": "inventory_schema",
    "wrong-inventory": "inventory_identity",
    "null-fields": "inventory_schema",
}


def contract(tmp_path: Path, *args: str) -> tuple[int, dict[str, object], str]:
    report_dir = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--quiet", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    summary = json.loads((report_dir / "summary.json").read_text()) if (report_dir / "summary.json").exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr


def test_every_fault_has_a_named_check() -> None:
    assert set(CAUGHT_BY) == set(FAULTS)
    assert len(FAULTS) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught_by_its_check(tmp_path: Path, fault: str) -> None:
    code, summary, output = contract(tmp_path, "--fault", fault, "--max-examples", "15", "--seed", "7")
    assert code == 1, output[-3000:]
    by_check = summary["failures_by_check"]
    assert CAUGHT_BY[fault] in by_check, f"{fault}: caught by {by_check}, not {CAUGHT_BY[fault]}"
    failure = summary["failures"][0]
    assert "$ZSTACK_SESSION" in failure["curl"] or failure["check"] == "assertion"
    assert summary["seed"] == 7


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_correct_server_passes(tmp_path: Path, seed: int) -> None:
    code, summary, output = contract(tmp_path, "--max-examples", "8", "--seed", str(seed))
    assert code == 0, output[-3000:]
    assert summary["verdict"] == "conformant" and summary["failures"] == []
