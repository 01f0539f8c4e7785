"""The operations of a load run, independent of locust: change a state, read an image, send an invalid
request; each one judged by the same checks as the conformance suites, timed, and written to the history.

The one I/O seam is `Wire`: locust's FastHttpUser in a load run (see `users.py`), the wire client's
transport in tests. Requests come from `zscheck._wire`, so there is no second copy of the wire format.
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from zscheck import _wire
from zscheck._models import ApiResult, Exchange, Outcome, read_outcome
from zscheck.checks import ErrorTable, Facets, Probe, Violation, judge, judge_read
from zscheck.linearizability import Operation
from zscheck.load.plan import INVALID_KINDS, LoadPlan
from zscheck.load.recorder import Recorder

STATE_OF = {"enable": "Enabled", "disable": "Disabled"}
EVENT_FOR = {"Enabled": "disable", "Disabled": "enable"}  # the event that changes the state
# Invalid stateEvents a client might really send: case variants, typos, empties, other verbs.
BAD_EVENTS = ("Enable", "DISABLE", "enabled", "disabled ", "", "on", "off", "1", "true", "Disable")
INVALID_FACETS = {
    "bad-event": Facets(event="invalid"),
    "unknown-image": Facets(image="unknown"),
    "dead-session": Facets(session="logged-out"),
}
POLL_FIRST, POLL_MAX = 0.005, 0.5  # seconds between polls: quick at first, backing off for slow jobs


class Wire(Protocol):
    def send(self, request: _wire.WireRequest, name: str) -> Exchange:
        """Send one request (named for the stats) and return the exchange; never raises for HTTP errors."""
        ...

    def settle(self, exchange: Exchange, name: str, failure: str | None) -> None:
        """The verdict on a request sent with `send` (locust: its stats entry, failed or not)."""
        ...

    def measure(self, kind: str, name: str, seconds: float, failure: str | None) -> None:
        """A derived timing that is not one HTTP request (job completion, end to end)."""
        ...


@dataclass(frozen=True)
class Sessions:
    """The process's sessions: one live (shared by its users), one logged out (for the errors scenario)."""

    live: str
    dead: str | None = None


class Driver:
    def __init__(
        self,
        wire: Wire,
        recorder: Recorder,
        plan: LoadPlan,
        sessions: Sessions,
        *,
        client: str,
        rng: random.Random,
        table: ErrorTable,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.wire, self.recorder, self.plan, self.sessions = wire, recorder, plan, sessions
        self.client, self.rng, self.sleep = client, rng, sleep
        self._valid = table.expect(Facets(), plan.dialect)
        self._invalid = {kind: table.expect(facets, plan.dialect) for kind, facets in INVALID_FACETS.items()}

    # ------------------------------------------------------------------ operations

    def change(self, image: str, event: str, *, intended: float | None = None) -> ApiResult | None:
        """enable/disable `image`. In arrival-rate mode `intended` (perf_counter) is when it was due:
        end-to-end latency counts from then, so time spent waiting for a free user is not hidden."""
        request = _wire.change_state(image, event, self.sessions.live, dialect=self.plan.dialect)
        name = f"changeImageState {event}"
        invoked = time.time()
        sent = time.perf_counter()
        origin = intended if intended is not None else sent
        result: ApiResult | None = None
        try:
            result = self._call(request, name)
        finally:
            # A user stopped mid-call (end of run) leaves a change that may or may not have happened.
            if result is None:
                self.recorder.operation(Operation(image, "write", STATE_OF[event], invoked, None, self.client))
        done = time.perf_counter()
        probe = Probe(self.plan.dialect, image, event, self._valid, request.headers.get("X-Job-UUID"))
        failure = self._settle(result, name, judge(probe, result), request)
        failed, metrics = failure is not None, self.recorder.metrics
        put_seconds = result.exchanges[0].elapsed
        metrics.record("put", event, put_seconds, failed=failed, code=None)
        if len(result.exchanges) > 1:
            job_seconds = done - sent - put_seconds  # from the 202's arrival to the job's final answer
            metrics.record("job", event, job_seconds, failed=failed, code=None)
            self.wire.measure("JOB", name, job_seconds, failure)
        e2e = done - origin
        metrics.record("e2e", event, e2e, failed=failed, code=result.error_code)
        self.wire.measure("E2E", name, e2e, failure)
        if result.outcome is Outcome.SUCCESS:
            self.recorder.operation(Operation(image, "write", STATE_OF[event], invoked, time.time(), self.client))
        elif result.outcome in (Outcome.TIMEOUT, Outcome.TRANSPORT_ERROR, Outcome.UNEXPECTED):
            self.recorder.operation(Operation(image, "write", STATE_OF[event], invoked, None, self.client))
        return result

    def read(self, image: str) -> str | None:
        """Query one image; its state goes into the history as a read. Returns the state seen."""
        request = _wire.get_image(image, self.sessions.live)
        invoked = time.time()
        exchange = self.wire.send(request, "images/{uuid}")
        completed = time.time()
        violations = judge_read(exchange, image, documented=False)
        failure = self._settle(
            ApiResult(read_outcome(exchange), [exchange], exchange.json), "images/{uuid}", violations, request
        )
        self.recorder.metrics.record("query", None, exchange.elapsed, failed=failure is not None, code=None)
        if violations or not isinstance(exchange.json, dict):
            return None
        state = str(exchange.json["inventories"][0]["state"])
        self.recorder.operation(Operation(image, "read", state, invoked, completed, self.client))
        return state

    def invalid(self, image: str, kind: str | None = None) -> ApiResult:
        """A request a correct server refuses, of one of INVALID_KINDS; its error code is checked."""
        kind = kind or self.rng.choice(INVALID_KINDS)
        event = self.rng.choice(("enable", "disable"))
        session: str | None = self.sessions.live
        if kind == "bad-event":
            event = self.rng.choice(BAD_EVENTS)
        elif kind == "unknown-image":
            image = uuidlib.UUID(int=self.rng.getrandbits(128)).hex
        elif kind == "dead-session":
            session = self.sessions.dead
        request = _wire.change_state(image, event, session, dialect=self.plan.dialect)
        name = f"changeImageState invalid:{kind}"
        started = time.perf_counter()
        result = self._call(request, name)
        probe = Probe(self.plan.dialect, image, event, self._invalid[kind], request.headers.get("X-Job-UUID"))
        violations = judge(probe, result)
        failure = self._settle(result, name, violations, request)
        seconds = time.perf_counter() - started
        self.recorder.metrics.record("invalid", kind, seconds, failed=failure is not None, code=result.error_code)
        self.wire.measure("E2E", name, seconds, failure)
        return result

    # ------------------------------------------------------------------ plumbing

    def _call(self, request: _wire.WireRequest, name: str) -> ApiResult:
        """Send, and follow a 202 to the job's final answer (like `Client.call`, over the `Wire` seam)."""
        first = self.wire.send(request, name)
        exchanges = [first]
        if first.error is not None:
            return ApiResult(Outcome.TRANSPORT_ERROR, exchanges)
        assert first.status is not None
        location = _wire.job_location(first.status, first.json)
        if location is None:
            return ApiResult(read_outcome(first), exchanges, first.json)
        poll = _wire.poll(location)
        deadline = time.perf_counter() + self.plan.poll_deadline
        interval = POLL_FIRST
        while True:
            answer = self.wire.send(poll, "api-jobs/{uuid}")
            exchanges.append(answer)
            if answer.error is not None:
                return ApiResult(Outcome.TRANSPORT_ERROR, exchanges)
            if not _wire.is_job_pending(answer.status or 0):
                return ApiResult(read_outcome(answer), exchanges, answer.json)
            if time.perf_counter() + interval > deadline:
                return ApiResult(Outcome.TIMEOUT, exchanges, answer.json)
            self.sleep(interval)
            interval = min(interval * 2, POLL_MAX)

    def _settle(
        self, result: ApiResult, name: str, violations: list[Violation], request: _wire.WireRequest
    ) -> str | None:
        """Give every request its verdict, group the failures; returns the first failed check's name."""
        final = result.exchanges[-1]
        for i, exchange in enumerate(result.exchanges):
            own = None
            if violations:  # the usual case has none: no search per exchange
                own = next((v.check for v in violations if (v.exchange or final) is exchange), None)
            self.wire.settle(exchange, "api-jobs/{uuid}" if i else name, own)
        if not violations:
            return None
        code = result.error_code
        for violation in violations:
            self.recorder.failure(
                name,
                violation.check,
                code,
                {
                    "message": str(violation),
                    "curl": request.curl(self.plan.target),
                    "status": str(final.status if final.error is None else final.error),
                    "time": f"{time.time():.3f}",
                },
            )
        return violations[0].check
