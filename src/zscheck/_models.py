"""What the wire client hands back: every HTTP exchange of a call, and what the call came to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zscheck._wire import WireRequest


@dataclass(slots=True)
class Exchange:
    """One request and its response (or the transport error that replaced it)."""

    request: WireRequest
    started: float  # wall clock, seconds since the epoch: for histories and reports
    elapsed: float  # seconds from sending to the last byte read (monotonic clock)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    json: Any | None = None  # the body parsed, when it is JSON
    error: str | None = None  # transport failure: connection refused, timeout, oversized body...
    # How the request reached the target: "new" (a connection opened for it) or "reused" (a kept-alive one);
    # None when it never got that far.
    connection: str | None = None
    # Set when a kept-alive connection the previous answer left open was gone and another was opened before
    # this request was sent: why, in one line. The request itself was still sent once.
    reconnect: str | None = None
    sends: int = 0  # times the request's headers went out: 1, or 0 if it never got sent (never more)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def text(self, limit: int = 500) -> str:
        body = self.body.decode("utf-8", errors="replace")
        return body if len(body) <= limit else body[:limit] + f"... ({len(self.body)} bytes)"


class Outcome(StrEnum):
    """What a call came to, as read by the wire format alone (judging it is the checks' job)."""

    SUCCESS = "success"  # job 200 / sync 200 (documented: success=true)
    FAILURE = "failure"  # an ErrorCode came back: job 503, sync 503, or documented success=false
    REJECTED = "rejected"  # answered at once with a non-2xx that is not an ErrorCode (plain-text 4xx/5xx)
    UNEXPECTED = "unexpected"  # an answer the protocol has no place for (202 without a location, ...)
    TIMEOUT = "timeout"  # the job was still processing at the polling deadline
    TRANSPORT_ERROR = "transport-error"  # no usable HTTP answer at all


def read_outcome(exchange: Exchange) -> Outcome:
    """What a final (non-202) answer means on the wire, in either dialect."""
    status, data = exchange.status, exchange.json
    if exchange.error is not None:
        return Outcome.TRANSPORT_ERROR
    if isinstance(data, dict) and "success" in data:  # the documented envelope
        return Outcome.SUCCESS if data.get("success") is True and status == 200 else Outcome.FAILURE
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return Outcome.FAILURE
    if status is not None and 200 <= status < 300:
        return Outcome.UNEXPECTED if status == 202 else Outcome.SUCCESS
    return Outcome.REJECTED


@dataclass(frozen=True, slots=True)
class HarnessAction:
    """Something the harness (or a library under it) did that the call alone would not have: a re-login
    and the retry after it, a reconnect. Recorded so that no fault of the target is hidden by it."""

    # "relogin" (and the retry that follows), "relogin-failed" (no retry: the result is the rejection), or
    # "reconnect" (a kept-alive connection found gone before a request was sent; nothing re-sent)
    kind: str
    detail: str  # one line for a report; never a secret
    at: float  # wall clock: when the answer that caused it was in
    # For "relogin"/"relogin-failed": what was known of the rejected session, wall clock (see `seconds_left`).
    session_issued: float | None = None  # the login request that opened it was sent then
    session_renewed: float | None = None  # the latest request the target accepted with it was sent then
    session_timeout: float | None = None  # seconds, from the login answer (+-1 s) or as configured

    @property
    def seconds_left(self) -> float | None:
        """At least how long the rejected session still had to live when it was rejected: ZStack's expiry
        slides to now + timeout on every accepted request, so it was valid until at least the latest
        accepted request's sending plus the timeout. Positive: a valid session was rejected before its
        expiry (allow 1 s for the timeout's resolution). None when the timeout is unknown."""
        if self.session_timeout is None:
            return None
        renewed = self.session_renewed if self.session_renewed is not None else self.session_issued
        if renewed is None:
            return None
        return renewed + self.session_timeout - self.at


@dataclass(slots=True)
class ApiResult:
    """A call followed to its end: the initial request, every poll, and the final reading."""

    outcome: Outcome
    exchanges: list[Exchange]
    data: Any | None = None  # the final JSON body (job result or sync answer)
    # Every re-login, retry and reconnect done for this call, in order; empty when it went straight through.
    actions: list[HarnessAction] = field(default_factory=list)

    @property
    def final(self) -> Exchange:
        return self.exchanges[-1]

    @property
    def retried(self) -> bool:
        """The harness re-sent the call (after a re-login): the exchanges hold both attempts."""
        return any(a.kind == "relogin" for a in self.actions)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def inventory(self) -> dict[str, Any] | None:
        inv = self.data.get("inventory") if isinstance(self.data, dict) else None
        return inv if isinstance(inv, dict) else None

    @property
    def error(self) -> dict[str, Any] | None:
        err = self.data.get("error") if isinstance(self.data, dict) else None
        return err if isinstance(err, dict) else None

    @property
    def error_code(self) -> str | None:
        err = self.error
        code = err.get("code") if err is not None else None
        return code if isinstance(code, str) else None

    @property
    def started(self) -> float:
        return self.exchanges[0].started

    @property
    def finished(self) -> float:
        last = self.exchanges[-1]
        return last.started + last.elapsed

    @property
    def latency(self) -> float:
        """Seconds from sending the first request until the final answer was in."""
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class Session:
    uuid: str
    account: str
    account_uuid: str | None = None
    issued: float | None = None  # wall clock: the login request that opened it was sent then
    timeout: float | None = None  # seconds of idleness it survives, if known (login answer, or configured)

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the login that issued it was sent."""
        return None if self.issued is None else (time.time() if now is None else now) - self.issued

    def __repr__(self) -> str:  # never print a session id
        return f"Session(account={self.account!r}, uuid=<redacted>)"
