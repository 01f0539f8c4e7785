"""Following an api-job: the rules, once, for the wire client and the load driver alike.

A call to an async API is answered `202 {"location": ".../api-jobs/<job>"}`; the job is then polled until
it stops answering 202 or the polling deadline is spent. This module decides every step of that and does
none of it: no I/O, no clock, no sleeping. The caller sends, reads its own clock and sleeps its own way
(`time.sleep` in the client, gevent's in a load run), so both loops are three lines around one object:

    follower = JobFollower(schedule, deadline)
    step = follower.answer(send(request), clock())
    while isinstance(step, Poll):
        if step.after:
            sleep(step.after)
        step = follower.answer(send(step.request), clock())
    return step  # the ApiResult

The rules:

- the job's location is `_wire.job_location` of the first answer; any other first answer (and a 202 when
  the caller does not follow) is the call's end, read by `read_outcome`;
- the first poll goes out at once; after each answer that `_wire.is_job_pending`, the next waits the
  schedule's interval, which then grows by its factor up to its maximum;
- the deadline counts from the 202's arrival; a pending answer whose next wait would end past it is
  `Outcome.TIMEOUT` (with the pending answer's body), so the caller never sleeps beyond the deadline;
- a transport error anywhere is `Outcome.TRANSPORT_ERROR`, with no data; a poll answer that is no longer
  pending ends the call with `read_outcome` of it and its JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from zscheck._models import ApiResult, Exchange, Outcome, read_outcome
from zscheck._wire import WireRequest, is_job_pending, job_location, poll


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Seconds between polls: `first`, then each interval times `factor`, never more than `maximum`."""

    first: float
    factor: float
    maximum: float

    def __post_init__(self) -> None:
        if not (self.first > 0 and self.factor >= 1 and self.maximum >= self.first):
            raise ValueError(f"{self}: first must be positive, factor at least 1, maximum at least first")

    def grown(self, interval: float) -> float:
        """The interval after `interval`."""
        return min(interval * self.factor, self.maximum)


class Poll(NamedTuple):  # a tuple: built per poll, on the load generator's hot path
    """Send `request` (the job's poll) after `after` seconds (0: at once), then hand its answer back."""

    request: WireRequest
    after: float


class JobFollower:
    """One call, from its first answer to its end. Give it each answer with the clock reading taken when the
    answer was in (any monotonic clock, in seconds, the same for the whole call); it says what comes next:
    a `Poll`, or the call's `ApiResult` holding every exchange it was given, in order.

    One follower serves one call. `deadline` is how many seconds polling may take, from the 202's arrival
    (none left: the first pending poll answer is the timeout).
    """

    __slots__ = ("_deadline", "_follow", "_interval", "_poll", "_schedule", "exchanges")

    def __init__(self, schedule: PollSchedule, deadline: float, *, follow: bool = True) -> None:
        self._schedule = schedule
        self._deadline = deadline  # a budget until the 202 arrives, then the clock reading it ends at
        self._follow = follow
        self._interval = schedule.first
        self._poll: WireRequest | None = None  # set once the first answer named a job to follow
        self.exchanges: list[Exchange] = []

    def answer(self, exchange: Exchange, now: float) -> Poll | ApiResult:
        """The answer to the request itself (the first call) or to the latest `Poll`, and what comes next."""
        exchanges = self.exchanges
        exchanges.append(exchange)
        if exchange.error is not None:
            return ApiResult(Outcome.TRANSPORT_ERROR, exchanges)
        status = exchange.status or 0
        request = self._poll
        if request is None:  # the first answer
            location = job_location(status, exchange.json)
            if location is None or not self._follow:
                return ApiResult(read_outcome(exchange), exchanges, exchange.json)
            self._poll = request = poll(location)
            self._deadline += now
            return Poll(request, 0.0)
        if not is_job_pending(status):
            return ApiResult(read_outcome(exchange), exchanges, exchange.json)
        interval = self._interval
        if now + interval > self._deadline:
            return ApiResult(Outcome.TIMEOUT, exchanges, exchange.json)
        self._interval = self._schedule.grown(interval)
        return Poll(request, interval)
