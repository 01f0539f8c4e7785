"""Proof that the checks catch what they claim: each fault mode of the reference server makes
`zscheck contract` exit 1 and name the right check (the correct server's runs are in
test_correct_server.py, so that the two sets run side by side under xdist).

The fault runs use --no-shrink: catching is what is proven here, and shrinking a failure (finding its
shortest form) is most of a faulty run's time. One fault also runs with shrinking, to prove the flag."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
    "echo-drops-field": "echo_matches_query",
    "stale-echo": "echo_matches_query",
    "mangled-unicode": "strings_round_trip",
    "job-uuid-reuse": "job_protocol",
    "unknown-job-answers": "job_protocol",
    "unknown-session-first": "error_code",
    "tenant-sees-all": "query_visibility",
    "admin-not-owner": "error_code",
    "no-api-timeout": "accepted_body",
    "schema-unasked": "schema_presence",
    "wrong-description": "error_code_shape",
    "null-tag-accepted": "error_code",
    "login-reuses-session": "session_policy",
    "login-ends-sessions": "session_policy",
    "delete-direct": "delete_policy",
    "enforcing-expunges": "delete_policy",
    "delete-mode-unchecked": "delete_policy",
    "validation-only-writes": "validation_only",
    "tenant-deletes-any": "delete_ownership",
    "api-timeout-ignored": "api_timeout",
}


SHRUNK = "disable-noop:shrunk"  # also run with shrinking


def contract(report_dir: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--quiet", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = json.loads((report_dir / "summary.json").read_text()) if (report_dir / "summary.json").exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr


Runs = dict[str, tuple[int, dict[str, Any], str]]


def run_all(tmp: Path, jobs: dict[str, list[str]]) -> Runs:
    """Each run is a real `zscheck contract` process; four at a time (they mostly wait on sockets and on
    the sleeps that let sessions expire and lastOpDate move)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(contract, tmp / name, *args) for name, args in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    tmp = tmp_path_factory.mktemp("faults")
    # schemathesis' own report is informational and costs ~10 s a run: left out (test_runner.py checks it).
    quick = ("--max-examples", "15", "--seed", "7", "--no-schemathesis-report")
    jobs = {f: ["--fault", f, *quick, "--no-shrink"] for f in FAULTS}
    jobs[SHRUNK] = ["--fault", SHRUNK.split(":")[0], *quick]
    return run_all(tmp, jobs)


def test_every_fault_has_a_named_check() -> None:
    assert set(CAUGHT_BY) == set(FAULTS)
    assert len(FAULTS) >= 15


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first test pays for every run of the module fixture
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught_by_its_check(fault_runs: Runs, fault: str) -> None:
    code, summary, output = fault_runs[fault]
    assert code == 1, output[-3000:]
    by_check = summary["failures_by_check"]
    assert CAUGHT_BY[fault] in by_check, f"{fault}: caught by {by_check}, not {CAUGHT_BY[fault]}"
    # Reproducers never carry the run's session: every one that authenticates uses the placeholder (a poll
    # of an api-job needs no session at all).
    assert all("OAuth" not in f["curl"] or "$ZSTACK_SESSION" in f["curl"] for f in summary["failures"])
    assert summary["seed"] == 7
    # the run's replay is this run again: the faulty server and the example count, not a correct server's
    assert summary["replay"] == f"zscheck contract --fault {fault} --dialect rest --max-examples 15 --no-shrink " + (
        "--no-schemathesis-report --seed 7"
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_shrink_reaches_the_same_verdict(fault_runs: Runs) -> None:
    """With and without the search for a shortest form, the same verdict and the same checks. (How much
    shrinking adds is not a fixed quantity: with parallel state-machine lanes the first failing example is
    often already minimal, and which lane fails first varies, so neither case counts nor example lengths
    order the two runs. What --no-shrink does to Hypothesis is the next test's.)"""
    (code, shrunk, _), (code_as_found, as_found, _) = fault_runs[SHRUNK], fault_runs[SHRUNK.split(":")[0]]
    assert code == code_as_found == 1
    assert shrunk["failures_by_check"].keys() == as_found["failures_by_check"].keys()


def test_no_shrink_takes_the_shrink_phase_out_of_hypothesis() -> None:
    """What --no-shrink does, exactly: the plan reaches Hypothesis without its shrink phase."""
    from hypothesis import Phase

    from zscheck.conformance.plan import ContractPlan
    from zscheck.conformance.plugin import hypothesis_phases

    assert Phase.shrink in hypothesis_phases(ContractPlan(Path("x")))
    phases = hypothesis_phases(ContractPlan(Path("x"), shrink=False))
    assert Phase.shrink not in phases and Phase.generate in phases and Phase.reuse in phases
