"""What the wire client hands back: every HTTP exchange of a call, and what the call came to."""

from __future__ import annotations

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


@dataclass(slots=True)
class ApiResult:
    """A call followed to its end: the initial request, every poll, and the final reading."""

    outcome: Outcome
    exchanges: list[Exchange]
    data: Any | None = None  # the final JSON body (job result or sync answer)

    @property
    def final(self) -> Exchange:
        return self.exchanges[-1]

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

    def __repr__(self) -> str:  # never print a session id
        return f"Session(account={self.account!r}, uuid=<redacted>)"
