"""Policies (facts §4, §5.3, §10): sessions, DeleteImage's deleteMode and deletion policy, validationOnly,
X-API-Timeout, and who may delete whose image. What is judged lives in `zscheck.checks.policy`; this suite
sends the requests. Requests that may destroy an image go to scratch images of their own, made for this
suite and removed at the end, so a broken server cannot take the other suites' fixtures with it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from zscheck import ApiResult, wire
from zscheck.checks import (
    Assumptions,
    Facets,
    Violation,
    check_api_timeout,
    check_delete_keeps_image,
    check_foreign_delete_refused,
    check_invalid_delete_mode,
    check_logins_issue_new_sessions,
    check_sessions_survive_logins,
    check_validation_only,
)
from zscheck.conformance.harness import Harness, Sent
from zscheck.conformance.plugin import in_parallel

# ZStack's defaults (facts §10): what a run against any target assumes, and says it assumed.
ASSUMED = Assumptions()
DELETE_MODES = (None, "Permissive", "Enforcing")
API_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def scratch(zs: Harness) -> list[str]:
    """One image per delete mode, and one for the requests that must change nothing."""
    images = zs.scratch_images(len(DELETE_MODES) + 1, "zscheck-policy")
    if images:
        zs.notes.append(f"policy checks {ASSUMED.describe()}")
    return images


def fail(zs: Harness, violations: list[Violation], result: ApiResult, policy: str) -> None:
    zs.probes += 1
    zs.coverage[policy] += 1
    if violations:
        request = result.exchanges[0].request
        image = request.path.split("?")[0].rstrip("/").split("/")[-1]
        raise zs.violation(Sent(zs.success_probe(image), result, violations, Facets()))


def test_delete_keeps_the_image_whatever_its_mode(zs: Harness, scratch: list[str]) -> None:
    """Under the Delay policy each deleteMode (none, Permissive, Enforcing) keeps the image as Deleted;
    RecoverImage brings it back. One scratch image per mode, side by side."""
    if not scratch:
        return  # not exercised: the run's coverage lists why

    def one(image: str, mode: str | None) -> None:
        session = zs.live_session(zs.main).uuid
        request = wire.delete_image(image, session, mode=mode or "")
        if mode is None:  # no deleteMode at all, as a client that leaves it out sends it
            request = wire.WireRequest(request.method, request.path.split("?")[0], request.headers, request.body)
        result = zs.main.call(request)
        after = zs.query(image)
        violations = check_delete_keeps_image(mode, after, result, ASSUMED)
        if after is not None and after.get("status") == "Deleted":
            zs.main.recover_image(image)
        fail(zs, violations, result, "policy-delete-mode")

    parts: list[Callable[[], None]] = [
        partial(one, image, mode) for image, mode in zip(scratch, DELETE_MODES, strict=False)
    ]
    in_parallel(parts, zs.workers)


def test_an_invalid_delete_mode_is_refused_and_deletes_nothing(zs: Harness, scratch: list[str]) -> None:
    if not scratch:
        return  # not exercised: the run's coverage lists why
    image = scratch[-1]
    before = zs.query(image)
    assert before is not None
    result = zs.main.call(wire.delete_image(image, zs.live_session(zs.main).uuid, mode="Bogus"))
    after = zs.query(image)
    if after is not None and after.get("status") == "Deleted":
        zs.main.recover_image(image)
    fail(zs, check_invalid_delete_mode("Bogus", result, before, after), result, "policy-delete-mode-invalid")


def test_a_normal_account_cannot_delete_another_accounts_image(zs: Harness, scratch: list[str]) -> None:
    if zs.tenant is None or not scratch:
        return  # not exercised: the run's coverage lists why
    image = scratch[-1]
    before = zs.query(image)
    assert before is not None
    result = zs.tenant.call(wire.delete_image(image, zs.live_session(zs.tenant).uuid))
    after = zs.query(image)
    if after is not None and after.get("status") == "Deleted":
        zs.main.recover_image(image)
    fail(zs, check_foreign_delete_refused(result, before, after), result, "policy-delete-ownership")


def _rest_only(zs: Harness) -> None:
    if zs.dialect != "rest":
        return  # not exercised: the run's coverage lists why


def test_validation_only_validates_and_writes_nothing(zs: Harness, scratch: list[str]) -> None:
    """A real change (the image's state flipped) with the validationOnly tag: validated, answered `{}`
    (`{"schema": {}}`: the poll sends X-JSON-Schema), not carried out. An invalid one still fails."""
    if zs.dialect != "rest":
        return  # not exercised: the run's coverage lists why
    image = scratch[-1] if scratch else zs.admin_images[0]
    before = zs.query(image)
    assert before is not None
    flip = "disable" if before["state"] == "Enabled" else "enable"
    session = zs.live_session(zs.main).uuid
    result = zs.main.call(wire.change_state(image, flip, session, system_tags=["validationOnly"]))
    after = zs.query(image)
    fail(zs, check_validation_only(result, before, after, json_schema=True), result, "policy-validation-only")
    invalid = zs.main.call(wire.change_state(image, "Disable", session, system_tags=["validationOnly"]))
    violations: list[Violation] = []
    if invalid.error_code != "SYS.1007":
        actual = "success" if invalid.ok else str(invalid.error_code or invalid.final.status)
        violations.append(
            Violation(
                "validation_only",
                "a validationOnly request is validated like any other: an invalid stateEvent is SYS.1007",
                "SYS.1007",
                actual,
                invalid.final,
            )
        )
    fail(zs, violations, invalid, "policy-validation-only")


def test_x_api_timeout_sets_the_jobs_timeout(zs: Harness, scratch: list[str]) -> None:
    if zs.dialect != "rest":
        return  # not exercised: the run's coverage lists why
    image = scratch[-1] if scratch else zs.admin_images[0]
    state: Any = (zs.query(image) or {}).get("state")
    same = "enable" if state == "Enabled" else "disable"  # a same-state change: nothing to undo
    base = wire.change_state(image, same, zs.live_session(zs.main).uuid)
    headers = {**base.headers, "X-API-Timeout": str(API_TIMEOUT_SECONDS)}
    result = zs.main.call(wire.WireRequest(base.method, base.path, headers, base.body))
    fail(zs, check_api_timeout(result.exchanges[0], API_TIMEOUT_SECONDS), result, "policy-api-timeout")


def test_every_login_gets_a_new_session_and_leaves_the_others_valid(zs: Harness) -> None:
    """Last in this suite: a server that logs the other sessions out would otherwise take the run's own
    session from the requests above (the client logs in again, and records it)."""
    main = zs.live_session(zs.main).uuid
    issued: dict[str, str | None] = {"the run's login": main}
    if zs.tenant is not None:
        issued["the normal account's login"] = zs.live_session(zs.tenant).uuid
    second = zs.main.extra_session()
    issued["a second login of the run's account"] = second
    third = zs.main.extra_session()
    issued["a third login of the run's account"] = third
    # Right after the third login (ValidateSession renews nothing): are the earlier ones still valid?
    still_valid = {
        "the run's session": zs.main.session_valid(main),
        "the second login's session": zs.main.session_valid(second),
    }
    probe = zs.main.call(wire.validate_session(third))
    for session in (second, third):
        if session != main:
            zs.main.logout(session)
    violations = check_logins_issue_new_sessions(issued) + check_sessions_survive_logins(still_valid, ASSUMED)
    fail(zs, violations, probe, "policy-sessions")
