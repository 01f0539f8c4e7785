"""Deterministic sequences for the state invariants (the state machine explores them further)."""

from __future__ import annotations

import time

from zscheck.checks import Facets, Violation, check_change, check_failed_request, check_query_agrees
from zscheck.conformance.harness import Harness, Sent
from zscheck.conformance.plugin import ContractViolation, require


def assert_none(zs: Harness, violations: list[Violation], sent: Sent) -> None:
    """Fail with the request that led to the state the violations were found in."""
    if violations:
        sent.violations = violations
        raise ContractViolation(sent, zs.url)


def test_changes_leave_every_other_field_as_it_was_created(zs: Harness) -> None:
    """Against the snapshot taken before the run's first change: catches a change that corrupts a field the
    same way every time, which a before/after pair of one change cannot see."""
    for image in zs.admin_images:
        require(zs, zs.probe(Facets(), image, "disable"))
        current = zs.query(image)
        assert current is not None
        snapshot = zs.snapshots[image]
        sent = require(zs, zs.probe(Facets(), image, "enable"))
        after = zs.query(image)
        assert after is not None
        violations = [
            v
            for v in check_change(snapshot, after, "Enabled", seconds_since_last_write=0.0)
            if v.check != "last_op_date"
        ]
        assert_none(zs, violations, sent)


def test_change_then_query_agrees_and_touches_only_state(zs: Harness) -> None:
    image = zs.admin_images[0]
    for event, state in (("disable", "Disabled"), ("enable", "Enabled"), ("enable", "Enabled")):
        before = zs.query(image)
        assert before is not None
        sent = require(zs, zs.probe(Facets(), image, event))
        after = zs.query(image)
        assert after is not None
        violations = list(check_query_agrees(state, after)) + list(
            check_change(before, after, state, seconds_since_last_write=0.0)
        )
        assert_none(zs, violations, sent)


def test_failed_requests_change_nothing(zs: Harness) -> None:
    image = zs.admin_images[0]
    for case, event in ((Facets(event="invalid"), "Disable"), (Facets(session="unknown"), "disable"),
                        (Facets(event="missing"), None)):  # fmt: skip
        before = zs.query(image)
        assert before is not None
        sent = require(zs, zs.probe(case, image, event))
        assert_none(zs, list(check_failed_request(before, zs.query(image))), sent)


def test_last_op_date_advances_on_a_real_change(zs: Harness) -> None:
    image = zs.admin_images[-1]
    state = zs.query(image)["state"]  # type: ignore[index]
    flip = "disable" if state == "Enabled" else "enable"
    require(zs, zs.probe(Facets(), image, flip))
    time.sleep(1.6)  # ZStack's timestamps have a resolution of one second
    before = zs.query(image)
    assert before is not None
    back = "enable" if flip == "disable" else "disable"
    sent = require(zs, zs.probe(Facets(), image, back))
    after = zs.query(image)
    assert after is not None
    target = "Enabled" if back == "enable" else "Disabled"
    assert_none(zs, list(check_change(before, after, target, seconds_since_last_write=1.6)), sent)


def test_deleted_images_change_state_and_stay_deleted(zs: Harness) -> None:
    created = [u for u in zs.admin_images if zs.journal and zs.journal.images[u].created]
    if not created:
        return  # only images the run created may be deleted
    image = created[-1]
    assert zs.main.delete_image(image).ok
    try:
        before = zs.query(image)
        assert before is not None and before["status"] == "Deleted"
        target = "Disabled" if before["state"] == "Enabled" else "Enabled"
        sent = require(zs, zs.probe(Facets(), image, "disable" if target == "Disabled" else "enable"))
        after = zs.query(image)
        assert after is not None
        assert_none(zs, list(check_change(before, after, target, seconds_since_last_write=0.0)), sent)
    finally:
        zs.main.recover_image(image)
