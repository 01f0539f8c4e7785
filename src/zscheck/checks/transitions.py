"""What a state change may and may not do to an image: the invariants of the image state model.

ZStack has no transition table for images (§2.4): enable/disable set the state, same-state changes
succeed, status is never consulted or touched. These checks compare an image before and after a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from zscheck._models import Exchange
from zscheck.checks.response import parse_zstack_time
from zscheck.checks.violations import Violation, short

# Fields a state change is allowed to write; everything else must come back as it was.
CHANGED_BY_STATE = frozenset({"state", "lastOpDate"})
# Seconds that must separate two writes before their one-second lastOpDates must differ (1 s plus margin
# for the two clocks' rates and the rounding MySQL applies to fractional seconds).
MIN_SEPARATION = 1.5


def check_failed_request(
    before: dict[str, Any], after: dict[str, Any] | None, exchange: Exchange | None = None
) -> Iterator[Violation]:
    """A request that failed must leave the image exactly as it was."""
    if after is None:
        yield Violation(
            "failed_request_changes_nothing",
            "the image disappeared after a failed request",
            "the image",
            "no image",
            exchange,
        )
        return
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        yield Violation(
            "failed_request_changes_nothing",
            "a failed request changed the image",
            "no change",
            _diff(before, after, changed),
            exchange,
        )


def check_change(
    before: dict[str, Any],
    after: dict[str, Any],
    target: str,
    *,
    seconds_since_last_write: float,
    exchange: Exchange | None = None,
) -> Iterator[Violation]:
    """After a successful enable/disable: the state is the target, status and every other field kept,
    lastOpDate never goes backwards, moves forward on a real change and stays on a same-state one.

    lastOpDate has one-second resolution (MySQL `timestamp`), and on a real node a job takes tens to
    hundreds of milliseconds, so two writes in the same second carry the same value. The caller passes the
    least time that can have separated the previous write to this image from this one: from the moment
    the previous write was known to be done (its job's final answer) to the moment this request was sent.
    Only when that is at least 1.5 s must the value have moved."""
    if after.get("state") != target:
        yield Violation(
            "query_agrees",
            "the image's state does not match the acknowledged change",
            target,
            short(after.get("state")),
            exchange,
        )
    if after.get("status") != before.get("status"):
        yield Violation(
            "status_untouched",
            "a state change must not touch the image's status",
            short(before.get("status")),
            short(after.get("status")),
            exchange,
        )
    others = sorted(
        k for k in (set(before) | set(after)) - CHANGED_BY_STATE - {"status"} if before.get(k) != after.get(k)
    )
    if others:
        yield Violation(
            "no_other_field_changes",
            "a state change modified other fields",
            "only state, lastOpDate",
            _diff(before, after, others),
            exchange,
        )
    old, new = parse_zstack_time(before.get("lastOpDate")), parse_zstack_time(after.get("lastOpDate"))
    if old is None or new is None:
        return  # an unparseable timestamp is inventory_schema's finding
    if new < old:
        yield Violation(
            "last_op_date",
            "lastOpDate went backwards",
            f">= {before.get('lastOpDate')}",
            str(after.get("lastOpDate")),
            exchange,
        )
    elif before.get("state") == target and new != old:
        yield Violation(
            "last_op_date",
            "lastOpDate moved on a same-state change, which writes nothing",
            str(before.get("lastOpDate")),
            str(after.get("lastOpDate")),
            exchange,
        )
    elif before.get("state") != target and new == old and seconds_since_last_write >= MIN_SEPARATION:
        yield Violation(
            "last_op_date",
            "lastOpDate did not advance on a real state change",
            f"> {before.get('lastOpDate')}",
            str(after.get("lastOpDate")),
            exchange,
        )


def check_query_agrees(
    expected_state: str, queried: dict[str, Any] | None, exchange: Exchange | None = None
) -> Iterator[Violation]:
    """A query after an acknowledged change shows that change."""
    actual = None if queried is None else queried.get("state")
    if actual != expected_state:
        yield Violation(
            "query_agrees",
            "a query disagrees with the last acknowledged change",
            expected_state,
            short(actual) if queried is not None else "image not found",
            exchange,
        )


def _diff(before: dict[str, Any], after: dict[str, Any], keys: list[str]) -> str:
    return "; ".join(f"{k}: {short(before.get(k), 40)} -> {short(after.get(k), 40)}" for k in keys[:4])
