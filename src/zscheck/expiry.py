"""When a session the target refused was provably live: the one place for that rule.

ZStack's session expiry slides to now + timeout on every request it accepts (§4.2), so a session was valid
until at least the sending of the latest accepted request plus the timeout. Two things make "at least" less
than it reads, and both are here:

- The target's timestamps have one-second resolution: a refusal up to `TIMESTAMP_RESOLUTION` before that
  bound proves nothing.
- The harness's own clocks. The target counts on a wall clock (database timestamps; the reference server's
  `time.time()`), the harness on its monotonic one. They part when the host pauses: a Firecracker or KVM
  guest that is paused and resumed finds its monotonic clock where it stopped and its wall clock stepped
  forward to the true time, so a session the monotonic clock calls seconds old has been expired for a
  while. An age is therefore read on both clocks and the longer one counts: a step forward ages every
  session (as it did on the target), a step backward never makes one younger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# A target's timestamps have one-second resolution (ZStack's database columns).
TIMESTAMP_RESOLUTION = 1.0


@dataclass(frozen=True, slots=True)
class Stamp:
    """A moment read on both clocks at once."""

    monotonic: float
    wall: float

    @classmethod
    def now(cls) -> Stamp:
        return cls(time.monotonic(), time.time())

    def age(self, now: Stamp | None = None) -> float:
        """Seconds since this moment: the longer of the two clocks' readings (see the module's docstring)."""
        now = Stamp.now() if now is None else now
        return max(now.monotonic - self.monotonic, now.wall - self.wall)

    def parted(self, now: Stamp | None = None) -> float:
        """How far the wall clock moved beyond the monotonic one since this moment (a pause, a step)."""
        now = Stamp.now() if now is None else now
        return (now.wall - self.wall) - (now.monotonic - self.monotonic)

    def surely_until(self, wall: float, now: Stamp | None = None) -> float:
        """At least how long from this moment to a later wall-clock reading taken before `now` (an
        exchange's start): the wall clock's interval less any step forward it took meanwhile, so a check that
        needs time to have passed (lastOpDate moved) holds on both clocks."""
        return (wall - self.wall) - max(0.0, self.parted(now))

    def later(self, other: Stamp) -> Stamp:
        """The later of two moments of this process (the monotonic clock orders them)."""
        return other if other.monotonic > self.monotonic else self


def provably_live(renewed: Stamp, timeout: float | None, now: Stamp | None = None) -> bool:
    """Was a session last renewed at `renewed` (a lower bound: a request was sent then and accepted after)
    live whenever the target checked a request answered by `now`? An unknown timeout (a real target's,
    two hours by default) is taken as far away."""
    if timeout is None:
        return True
    return renewed.age(now) <= timeout - TIMESTAMP_RESOLUTION


def describe_age(renewed: Stamp, now: Stamp | None = None) -> str:
    """`renewed`'s age for a message, with both clocks when they parted by more than the resolution."""
    now = Stamp.now() if now is None else now
    age = renewed.age(now)
    parted = renewed.parted(now)
    if abs(parted) <= TIMESTAMP_RESOLUTION / 2:
        return f"{age:.1f} s"
    mono = now.monotonic - renewed.monotonic
    wall = now.wall - renewed.wall
    return (
        f"{age:.1f} s (the wall clock moved {wall:.1f} s, the monotonic one {mono:.1f} s: the host paused or "
        "its clock was stepped)"
    )
