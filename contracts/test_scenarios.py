"""Deterministic sequences for the state invariants (the state machine explores them further)."""

from __future__ import annotations

import time
from functools import partial

from zscheck import wire
from zscheck.checks import (
    Facets,
    Violation,
    check_change,
    check_echo_matches_query,
    check_failed_request,
    check_query_agrees,
    check_query_visibility,
    check_strings_round_trip,
)
from zscheck.conformance.harness import Harness, Sent
from zscheck.conformance.plugin import in_parallel, require


def assert_none(zs: Harness, violations: list[Violation], sent: Sent) -> None:
    """Fail with the request that led to the state the violations were found in."""
    if violations:
        sent.violations = violations
        raise zs.violation(sent)


def test_changes_leave_every_other_field_as_it_was_created(zs: Harness) -> None:
    """Against the snapshot taken before the run's first change: catches a change that corrupts a field the
    same way every time, which a before/after pair of one change cannot see. Image by image, side by side."""

    def one(image: str) -> None:
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

    in_parallel([partial(one, image) for image in zs.admin_images], zs.workers)


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
        if sent.result.inventory is not None:  # what the change answered is the image as stored
            violations += check_echo_matches_query(
                "changeImageState", dict(sent.result.inventory), after, documented=zs.dialect == "documented"
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
        recovered = zs.main.recover_image(image)
    # RecoverImage of an image whose state changed while it was deleted: its answer is the image as stored.
    restored = zs.query(image)
    if recovered.inventory is not None and restored is not None:
        violations = list(
            check_echo_matches_query(
                "recoverImage",
                dict(recovered.inventory),
                restored,
                recovered.final,
                documented=zs.dialect == "documented",
            )
        )
        assert_none(zs, violations, Sent(zs.success_probe(image), recovered, violations, Facets()))


def test_ownership_from_both_sides(zs: Harness) -> None:
    """A normal account changes its own image (with every check a change gets), is refused another
    account's (SYS.1006, and nothing changes), and the admin may change the normal account's image."""
    if not zs.available(Facets(image="tenants-own")):
        return  # not exercised: the run's coverage lists why (no normal account or no image of its own)
    assert zs.tenant is not None
    own = zs.tenant_images[0]
    for event, state in (("disable", "Disabled"), ("enable", "Enabled")):
        before = zs.tenant.get_image(own)
        assert before is not None
        sent = require(zs, zs.probe(Facets(image="tenants-own"), own, event))
        after = zs.tenant.get_image(own)
        assert after is not None
        assert_none(zs, list(check_change(before, after, state, seconds_since_last_write=0.0)), sent)
    foreign = zs.admin_images[0]
    before = zs.query(foreign)
    assert before is not None
    flip = "disable" if before["state"] == "Enabled" else "enable"
    sent = require(zs, zs.probe(Facets(image="foreign"), foreign, flip))
    assert_none(zs, list(check_failed_request(before, zs.query(foreign))), sent)
    before = zs.query(own)
    assert before is not None
    sent = require(zs, zs.probe(Facets(image="admin-on-tenants"), own, "disable"))
    after = zs.query(own)
    assert after is not None
    assert_none(zs, list(check_change(before, after, "Disabled", seconds_since_last_write=0.0)), sent)


def test_a_normal_account_sees_only_its_own_images(zs: Harness) -> None:
    if zs.tenant is None or not zs.tenant_images:
        return  # not exercised: the run's coverage lists why
    session = zs.live_session(zs.tenant).uuid
    result = zs.tenant.call(wire.query_images(session, [f"uuid?={','.join(zs.admin_images + zs.tenant_images)}"]))
    listed = result.data.get("inventories") if isinstance(result.data, dict) else None
    probe = zs.success_probe(zs.tenant_images[0])
    violations = list(
        check_query_visibility("the normal account", listed or [], zs.tenant_images, zs.admin_images, result.final)
    )
    if not isinstance(listed, list):
        violations += [Violation("read_answer", "a query answers 200 {inventories: [...]}", "inventories", "none")]
    zs.coverage["query-visibility"] += 1
    assert_none(zs, violations, Sent(probe, result, violations, Facets(image="tenants-own")))


def test_fixture_names_round_trip(zs: Harness) -> None:
    """Fixture images are named in Chinese as well as ASCII: AddImage's answer and a later query carry the
    text exactly as sent."""
    for uuid, sent_texts in zs.created_texts.items():
        result = zs.main.call(wire.get_image(uuid, zs.live_session(zs.main).uuid))
        listed = result.data.get("inventories") if isinstance(result.data, dict) else None
        queried = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else None
        violations = list(check_strings_round_trip(sent_texts, zs.snapshots.get(uuid), "AddImage's answer"))
        violations += check_strings_round_trip(sent_texts, queried, "a query", result.final)
        assert_none(zs, violations, Sent(zs.success_probe(uuid), result, violations, Facets()))
