"""The policy checks, table-driven: each rule with an answer that keeps it and answers that break it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zscheck._models import ApiResult, Exchange, Outcome
from zscheck._wire import WireRequest
from zscheck.checks import (
    Assumptions,
    check_api_timeout,
    check_delete_keeps_image,
    check_foreign_delete_refused,
    check_invalid_delete_mode,
    check_job_result_kept,
    check_logins_issue_new_sessions,
    check_sessions_survive_logins,
    check_validation_only,
)

IMAGE = {"uuid": "a" * 32, "state": "Enabled", "status": "Ready", "lastOpDate": "Dec 3, 2026 5:00:00 AM"}
DELETED = dict(IMAGE, status="Deleted")


def exchange(status: int, body: Any) -> Exchange:
    raw = json.dumps(body).encode()
    return Exchange(WireRequest("PUT", "/x", {}), 0.0, 0.0, status=status, body=raw, json=body)


def job(body: Any, status: int = 200) -> ApiResult:
    outcome = Outcome.SUCCESS if status == 200 else Outcome.FAILURE
    return ApiResult(outcome, [exchange(202, {"location": "l"}), exchange(status, body)], body)


def error(code: str) -> ApiResult:
    return job({"error": {"code": code, "description": "d", "details": "x"}}, 503)


def checks(violations: list[Any]) -> list[str]:
    return [v.check for v in violations]


@pytest.mark.parametrize(
    ("issued", "found"),
    [
        ({"the run's login": "s1", "a second login": "s2", "the normal account's login": "s3"}, []),
        ({"the run's login": "s1", "a second login": "s1"}, ["session_policy"]),
        ({"the run's login": "s1", "the normal account's login": "s1", "a third": "s1"}, ["session_policy"] * 2),
        ({"the run's login": "s1", "a login that failed": None}, []),
    ],
)
def test_logins_issue_new_sessions(issued: dict[str, str | None], found: list[str]) -> None:
    violations = check_logins_issue_new_sessions(issued)
    assert checks(violations) == found
    for v in violations:
        assert "s1" not in str(v)  # a session id never reaches a report


@pytest.mark.parametrize(
    ("valid", "assumptions", "found"),
    [
        ({"the run's session": True, "a second login's": True}, Assumptions(), []),
        ({"the run's session": False, "a second login's": True}, Assumptions(), ["session_policy"]),
        ({"the run's session": False}, Assumptions(unique_session=True), []),  # the target's setting
    ],
)
def test_sessions_survive_logins(valid: dict[str, bool], assumptions: Assumptions, found: list[str]) -> None:
    assert checks(check_sessions_survive_logins(valid, assumptions)) == found


@pytest.mark.parametrize(
    ("mode", "after", "result", "assumptions", "found"),
    [
        (None, DELETED, job({}), Assumptions(), []),
        ("Permissive", DELETED, job({}), Assumptions(), []),
        ("Enforcing", DELETED, job({}), Assumptions(), []),
        ("Enforcing", None, job({}), Assumptions(), ["delete_policy"]),  # expunged
        ("Permissive", IMAGE, job({}), Assumptions(), ["delete_policy"]),  # still Ready
        ("Permissive", None, job({}), Assumptions(deletion_policy="Direct"), []),
        ("Permissive", DELETED, error("SYS.1000"), Assumptions(), ["delete_policy"]),
    ],
)
def test_delete_keeps_image(
    mode: str | None, after: dict[str, Any] | None, result: ApiResult, assumptions: Assumptions, found: list[str]
) -> None:
    assert checks(check_delete_keeps_image(mode, after, result, assumptions)) == found


@pytest.mark.parametrize(
    ("result", "after", "found"),
    [
        (error("SYS.1000"), IMAGE, []),
        (job({}), DELETED, ["delete_policy", "delete_policy"]),  # accepted, and it deleted
        (error("SYS.1007"), IMAGE, ["delete_policy"]),
        (error("SYS.1000"), None, ["delete_policy"]),  # refused, yet the image is gone
    ],
)
def test_invalid_delete_mode(result: ApiResult, after: dict[str, Any] | None, found: list[str]) -> None:
    assert checks(check_invalid_delete_mode("Bogus", result, IMAGE, after)) == found


@pytest.mark.parametrize(
    ("result", "after", "found"),
    [
        (error("SYS.1006"), IMAGE, []),
        (job({}), DELETED, ["delete_ownership", "delete_ownership"]),
        (error("SYS.1003"), IMAGE, ["delete_ownership"]),
    ],
)
def test_foreign_delete_refused(result: ApiResult, after: dict[str, Any] | None, found: list[str]) -> None:
    assert checks(check_foreign_delete_refused(result, IMAGE, after)) == found


DISABLED = dict(IMAGE, state="Disabled", lastOpDate="Dec 3, 2026 5:00:01 AM")


@pytest.mark.parametrize(
    ("result", "after", "schema", "found"),
    [
        (job({"schema": {}}), IMAGE, True, []),
        (job({}), IMAGE, False, []),
        (job({}), IMAGE, True, ["validation_only"]),  # the poll asked for a schema
        (job({"inventory": DISABLED}), DISABLED, True, ["validation_only", "validation_only"]),  # carried out
        (job({"schema": {}}), DISABLED, True, ["validation_only"]),  # answered bare, wrote anyway
        (error("SYS.1007"), IMAGE, True, ["validation_only"]),
    ],
)
def test_validation_only(result: ApiResult, after: dict[str, Any], schema: bool, found: list[str]) -> None:
    violations = check_validation_only(result, IMAGE, after, json_schema=schema)
    assert checks(violations) == found
    assert all("validationOnly" in v.message for v in violations)


@pytest.mark.parametrize(
    ("accepted", "found"),
    [
        (exchange(202, {"location": "l", "apiTimeout": 120_000}), []),
        (exchange(202, {"location": "l", "apiTimeout": 1_800_000}), ["api_timeout"]),  # the default: ignored
        (exchange(202, {"location": "l", "apiTimeout": 120}), ["api_timeout"]),  # seconds, not ms
        (exchange(202, {"location": "l"}), ["api_timeout"]),
        (exchange(500, None), ["api_timeout"]),
    ],
)
def test_api_timeout(accepted: Exchange, found: list[str]) -> None:
    assert checks(check_api_timeout(accepted, 120)) == found


@pytest.mark.parametrize(
    ("again", "found"),
    [
        (exchange(200, {"inventory": IMAGE}), []),
        (exchange(404, None), ["job_protocol"]),  # forgotten after one poll
        (exchange(200, {"inventory": DISABLED}), ["job_protocol"]),  # another result
        (exchange(202, {}), ["job_protocol"]),  # pending again
    ],
)
def test_job_result_kept(again: Exchange, found: list[str]) -> None:
    assert checks(check_job_result_kept(exchange(200, {"inventory": IMAGE}), again)) == found
