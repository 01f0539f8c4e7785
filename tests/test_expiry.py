"""The one rule for a refused session (zscheck.expiry), table-driven: ages read on both clocks, the longer
counts, and one second is given to the target's timestamps."""

from __future__ import annotations

import pytest

from zscheck.expiry import Stamp, describe_age, provably_live

RENEWED = Stamp(monotonic=1000.0, wall=1_800_000_000.0)


def later(mono: float, wall: float) -> Stamp:
    return Stamp(RENEWED.monotonic + mono, RENEWED.wall + wall)


@pytest.mark.parametrize(
    ("mono", "wall", "timeout", "live"),
    [
        (0.5, 0.5, 3.0, True),  # moments after the renewal
        (2.0, 2.0, 3.0, True),  # exactly the timeout less the resolution
        (2.1, 2.1, 3.0, False),  # within the timeout, but not by more than one-second timestamps allow
        (0.2, 5.0, 3.0, False),  # a paused VM: the monotonic clock stopped, the wall clock was stepped on
        (5.0, 0.2, 3.0, False),  # the wall clock stepped back: the monotonic one still saw the time go by
        (0.2, -60.0, 3.0, True),  # a step back never makes a session younger than its monotonic age
        (3600.0, 3600.0, None, True),  # an unknown timeout (a real target's, two hours by default): far away
    ],
)
def test_a_refusal_is_provably_of_a_live_session(mono: float, wall: float, timeout: float | None, live: bool) -> None:
    assert provably_live(RENEWED, timeout, later(mono, wall)) is live


def test_the_age_names_both_clocks_only_when_they_parted() -> None:
    assert describe_age(RENEWED, later(1.25, 1.3)) == "1.3 s"
    paused = describe_age(RENEWED, later(0.2, 5.0))
    assert paused.startswith("5.0 s") and "wall clock moved 5.0 s, the monotonic one 0.2 s" in paused


def test_the_later_of_two_moments_is_read_on_the_monotonic_clock() -> None:
    stepped_back = later(1.0, -30.0)  # later, though its wall clock reads earlier
    assert RENEWED.later(stepped_back) is stepped_back and stepped_back.later(RENEWED) is stepped_back


@pytest.mark.parametrize(
    ("mono", "wall", "exchange_after", "least"),
    [
        (2.0, 2.0, 1.5, 1.5),  # the clocks agree: the wall clock's interval
        (0.2, 5.0, 4.9, 0.1),  # a pause stepped the wall clock 4.8 s forward: that is not time that surely passed
        (2.0, -10.0, -10.5, -10.5),  # stepped back: the wall clock's (shorter) interval stands
    ],
)
def test_time_that_surely_passed_is_the_shorter_reading(
    mono: float, wall: float, exchange_after: float, least: float
) -> None:
    assert RENEWED.surely_until(RENEWED.wall + exchange_after, later(mono, wall)) == pytest.approx(least)
