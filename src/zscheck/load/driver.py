"""The operations of a load run, independent of locust: change a state, read an image, send an invalid
request; each one judged by the same checks as the conformance suites, timed, and written to the history.

The one I/O seam is `Wire`: locust's FastHttpUser in a load run (see `users.py`), the wire client's
transport in tests. Requests come from `zscheck._wire`, so there is no second copy of the wire format.

Images one user owns alone are also judged in sequence (`Track`): every answer against the image as first
seen and as last acknowledged (`check_change`), and a share of changes (`read_after_write`) is followed by
a read of the image by the same user, so an acknowledged change that is lost, late or reverted is a
violation of its own, not only a history the linearizability check may or may not be able to refute.
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from zscheck import _wire
from zscheck._jobs import JobFollower, Poll, PollSchedule
from zscheck._models import ApiResult, Exchange, Outcome, read_outcome
from zscheck.checks import (
    ErrorTable,
    Facets,
    Probe,
    Violation,
    check_change,
    check_failed_request,
    judge,
    judge_read,
)
from zscheck.checks.transitions import MIN_SEPARATION
from zscheck.expiry import Stamp, describe_age, provably_live
from zscheck.linearizability import Operation
from zscheck.load.plan import INVALID_KINDS, LoadPlan
from zscheck.load.recorder import Recorder
from zscheck.report.load_findings import fingerprint

STATE_OF = {"enable": "Enabled", "disable": "Disabled"}
EVENT_FOR = {"Enabled": "disable", "Disabled": "enable"}  # the event that changes the state
SAME_EVENT = {"Enabled": "enable", "Disabled": "disable"}  # the event that keeps it
# Invalid stateEvents a client might really send: case variants, typos, empties, other verbs.
BAD_EVENTS = ("Enable", "DISABLE", "enabled", "disabled ", "", "on", "off", "1", "true", "Disable")
INVALID_FACETS = {
    "bad-event": Facets(event="invalid"),
    "unknown-image": Facets(image="unknown"),
    "dead-session": Facets(session="logged-out"),
}
# Seconds between polls of one job: 5 ms, doubling, at most 0.5 s. The rules are the client's
# (`zscheck._jobs`); the numbers deliberately are not (10 ms growing by a quarter, up to 1 s, so that a
# conformance run reads a real node's job latency closely). Under load every poll is a request the generator
# pays for and the target serves beside the measured traffic: a 0.3 s job is polled 7 times here, 11 by the
# client; a 1 s job 9 times, 16 by the client. Jobs within 30 ms (the reference server's) cost the same.
POLLS = PollSchedule(0.005, 2.0, 0.5)
SESSION_EXPIRED = "ID.1001"


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


@dataclass
class Sessions:
    """The process's sessions: one live (shared by its users, replaced by a re-login), one logged out (for
    the errors scenario). ZStack's expiry slides to now + timeout on every request it accepts, so the live
    session is valid until at least `accepted + timeout` (`zscheck.expiry`)."""

    live: str
    dead: str | None = None
    timeout: float | None = None  # seconds, from the login answer (expiredDate - createDate); None: unknown
    accepted: Stamp = field(default_factory=Stamp.now)  # the latest accepted request was sent then


@dataclass
class Track:
    """An image one user owns alone: as first seen, as last acknowledged, and when that write was done."""

    first: dict[str, Any]  # as a query first showed it
    last: dict[str, Any]  # the last acknowledged change's inventory (or the read that resynced it)
    done: float  # perf_counter: the last write's job answered (or the read that resynced it completed)
    known: bool = True  # False after a change whose outcome is unknown (timeout, no answer) or refused
    refused: bool = False  # the unknown came from a refusal: the image must be exactly as it was
    # What change answers are compared with: the first query in the rest dialect, whose job results carry
    # the same inventory; the first change's answer in the documented one, which hides the refs' `id`.
    echo_first: dict[str, Any] | None = None
    # An earlier write (or the first read) to measure a real change against: (when it was known done,
    # perf_counter; its lastOpDate). Back-to-back writes share a second, but a real change sent 1.5 s after
    # this one was done must carry a later lastOpDate, whatever happened in between.
    anchor: tuple[float, Any] | None = None

    @property
    def state(self) -> str:
        return str(self.last.get("state"))


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
        relogin: Callable[[str], bool] | None = None,
    ) -> None:
        self.wire, self.recorder, self.plan, self.sessions = wire, recorder, plan, sessions
        self.client, self.rng, self.sleep, self.relogin = client, rng, sleep, relogin
        self._valid = table.expect(Facets(), plan.dialect)
        self._invalid = {kind: table.expect(facets, plan.dialect) for kind, facets in INVALID_FACETS.items()}
        self.tracks: dict[str, Track] = {}
        self._known = frozenset(plan.known)

    # ------------------------------------------------------------------ operations

    def adopt(self, image: str) -> bool:
        """This user owns `image` alone: read it once (a checked read), and judge every later answer about
        it in sequence. False if the read failed (the image is then judged like a shared one)."""
        inventory = self._query(image)[0]
        if inventory is None:
            return False
        echo_first = inventory if self.plan.dialect == "rest" else None
        now = time.perf_counter()
        track = Track(inventory, inventory, now, echo_first=echo_first, anchor=(now, inventory.get("lastOpDate")))
        self.tracks[image] = track
        return True

    def current(self, image: str) -> str | None:
        """The state of an owned image as last acknowledged (read first when a change left it unknown);
        None for an image this user does not own alone."""
        track = self.tracks.get(image)
        if track is None:
            return None
        if not track.known:
            self.read(image)
        return track.state if track.known else None

    def change(self, image: str, event: str, *, intended: float | None = None) -> ApiResult:
        """enable/disable `image`. In arrival-rate mode `intended` (perf_counter) is when it was due:
        end-to-end latency counts from then, so time spent waiting for a free user is not hidden. Always
        the call's result: a user stopped mid-call gets the exception, and the history an open write."""
        session = self.sessions.live
        request = _wire.change_state(image, event, session, dialect=self.plan.dialect)
        name = f"changeImageState {event}"
        stamp = Stamp.now()
        invoked = stamp.wall
        token = self.recorder.begin(invoked)  # in flight: the history file's watermark waits for it
        try:
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
            violations = self._session_verdict(result.error_code, result.final, session, stamp)
            violations += judge(probe, result)
            track = self.tracks.get(image)
            if track is not None:
                violations += self._sequential(track, result, STATE_OF[event], sent, done)
            failure = self._settle(result, name, violations, request)
            failed, metrics = failure is not None, self.recorder.metrics
            known = self._all_known(name, result.error_code, violations)
            put_seconds = result.exchanges[0].elapsed
            metrics.record("put", event, put_seconds, failed=failed, code=None, known=known)
            if len(result.exchanges) > 1:
                job_seconds = done - sent - put_seconds  # from the 202's arrival to the job's final answer
                metrics.record("job", event, job_seconds, failed=failed, code=None, known=known)
                self.wire.measure("JOB", name, job_seconds, failure)
            e2e = done - origin
            metrics.record("e2e", event, e2e, failed=failed, code=result.error_code, known=known)
            self.wire.measure("E2E", name, e2e, failure)
            if result.outcome is Outcome.SUCCESS:
                self.recorder.operation(Operation(image, "write", STATE_OF[event], invoked, time.time(), self.client))
            elif result.outcome in (Outcome.TIMEOUT, Outcome.TRANSPORT_ERROR, Outcome.UNEXPECTED):
                self.recorder.operation(Operation(image, "write", STATE_OF[event], invoked, None, self.client))
            if track is not None and track.known and result.ok and self.rng.random() < self.plan.read_after_write:
                self.recorder.count("read_after_write")
                self.read(image)  # read-your-writes: the same user, right after the acknowledgement
            return result
        finally:
            self.recorder.end(token)

    def read(self, image: str) -> str | None:
        """Query one image; its state goes into the history as a read. Returns the state seen. An owned
        image's answer is also judged against the last acknowledged change (or, when a change left it
        unknown, against the image as first seen), and resynchronises the track."""
        inventory, _ = self._query(image)
        return None if inventory is None else str(inventory.get("state"))

    def _query(self, image: str) -> tuple[dict[str, Any] | None, list[Violation]]:
        session = self.sessions.live
        request = _wire.get_image(image, session)
        stamp = Stamp.now()
        token = self.recorder.begin(stamp.wall)  # in flight until recorded: the watermark waits for it
        try:
            return self._answered(image, request, session, stamp, self.wire.send(request, "images/{uuid}"))
        finally:
            self.recorder.end(token)

    def _answered(
        self, image: str, request: _wire.WireRequest, session: str, sent: Stamp, exchange: Exchange
    ) -> tuple[dict[str, Any] | None, list[Violation]]:
        invoked, completed = sent.wall, time.time()
        data = exchange.json
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        violations = self._session_verdict(code if isinstance(code, str) else None, exchange, session, sent)
        violations += judge_read(exchange, image, documented=False)
        inventory = None
        if not violations and isinstance(data, dict):
            inventory = data["inventories"][0]
            track = self.tracks.get(image)
            if track is not None:
                violations += self._agrees(track, inventory, exchange)
        result = ApiResult(read_outcome(exchange), [exchange], data)
        failure = self._settle(result, "images/{uuid}", violations, request)
        known = self._all_known("images/{uuid}", result.error_code, violations)
        metrics = self.recorder.metrics
        metrics.record("query", None, exchange.elapsed, failed=failure is not None, code=None, known=known)
        if inventory is not None:
            self.recorder.operation(Operation(image, "read", str(inventory["state"]), invoked, completed, self.client))
        return inventory, violations

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
        stamp, started = Stamp.now(), time.perf_counter()
        result = self._call(request, name)
        probe = Probe(self.plan.dialect, image, event, self._invalid[kind], request.headers.get("X-Job-UUID"))
        violations = judge(probe, result)
        if session == self.sessions.live:
            violations[:0] = self._session_verdict(result.error_code, result.final, session, stamp)
        track = self.tracks.get(image)
        if track is not None and result.ok:  # a wrong acceptance may have changed the owner's image: reread it
            track.known, track.refused = False, False
        failure = self._settle(result, name, violations, request)
        seconds = time.perf_counter() - started
        known = self._all_known(name, result.error_code, violations)
        self.recorder.metrics.record(
            "invalid", kind, seconds, failed=failure is not None, code=result.error_code, known=known
        )
        self.wire.measure("E2E", name, seconds, failure)
        return result

    # ------------------------------------------------------------------ judged in sequence

    def _sequential(self, track: Track, result: ApiResult, target: str, sent: float, done: float) -> list[Violation]:
        """A change of an owned image: its answer against the image as first seen (status and every field
        but state and lastOpDate untouched) and as last acknowledged (lastOpDate never backwards, forward on
        a real change once 1.5 s separate the last write's job answer from this PUT, still on a same-state
        one). Whether the echo shows the target state is `state_matches_event`'s, so not repeated here."""
        inventory = result.inventory
        if not result.ok or inventory is None:
            # The image is unknown until read again; after a refusal it must be exactly as it was.
            track.known, track.refused = False, result.outcome in (Outcome.FAILURE, Outcome.REJECTED)
            return []
        if track.echo_first is None:
            track.echo_first = inventory  # the baseline for the next answers (see Track.echo_first)
        before = {**track.echo_first, "state": track.state, "lastOpDate": track.last.get("lastOpDate")}
        found = [
            v
            for v in check_change(
                before, inventory, target, seconds_since_last_write=sent - track.done, exchange=result.final
            )
            if v.check != "query_agrees"
        ]
        anchor = track.anchor
        if anchor is not None and track.state != target and sent - anchor[0] >= MIN_SEPARATION:
            # The same rule over a longer span: from the anchor's write to this real change.
            since = {**before, "lastOpDate": anchor[1]}
            found += [
                v
                for v in check_change(
                    since, inventory, target, seconds_since_last_write=sent - anchor[0], exchange=result.final
                )
                if v.check == "last_op_date" and "did not advance" in v.message and v not in found
            ]
            track.anchor = (done, inventory.get("lastOpDate"))
        track.last, track.done = inventory, done
        if inventory.get("state") != target:
            track.known, track.refused = False, False
        return found

    def _agrees(self, track: Track, inventory: dict[str, Any], exchange: Exchange) -> list[Violation]:
        """A read of an owned image. Known: it shows the last acknowledged change (lost, late or reverted is
        `query_agrees`) with every other field as first seen. Unknown after a refusal: exactly as before it.
        Unknown after a change of unknown outcome: either state, every other field as first seen."""
        state = inventory.get("state")
        last = {**track.first, "state": track.state, "lastOpDate": track.last.get("lastOpDate")}
        if track.known:
            found = list(check_change(last, inventory, track.state, seconds_since_last_write=0.0, exchange=exchange))
            if state != track.state:  # the change is lost or reverted: a moved lastOpDate says nothing more
                found = [v for v in found if v.check != "last_op_date"]
        elif track.refused:
            found = list(check_failed_request(last, inventory, exchange))
        else:
            before = {**track.first, "state": state, "lastOpDate": inventory.get("lastOpDate")}
            found = list(check_change(before, inventory, str(state), seconds_since_last_write=0.0, exchange=exchange))
        if not track.known:
            self.recorder.count("resyncs")
            track.last, track.known, track.refused, track.done = inventory, True, False, time.perf_counter()
        return found

    # ------------------------------------------------------------------ sessions

    def _session_verdict(self, code: str | None, exchange: Exchange, session: str, sent: Stamp) -> list[Violation]:
        """ID.1001 for the process's live session. The target is asked (ValidateSession, which does not
        renew); a session it still calls valid, or one provably live (`zscheck.expiry`), was live: a
        `session_rejected` violation. A session that ended is replaced by a re-login (recorded) so the run
        carries on; a session some other user already replaced is not judged again."""
        if code != SESSION_EXPIRED:
            if exchange.error is None and session == self.sessions.live:
                self.sessions.accepted = self.sessions.accepted.later(sent)
            return []
        if session != self.sessions.live:
            return []  # another user of this process met the end of this session first and logged in again
        self.recorder.count("session_checks")
        answer = self.wire.send(_wire.validate_session(session), "accounts/sessions/{uuid}/valid")
        valid = isinstance(answer.json, dict) and answer.json.get("valid") is True
        self.wire.settle(answer, "accounts/sessions/{uuid}/valid", None)
        timeout, accepted = self.sessions.timeout, self.sessions.accepted
        left = None if timeout is None else timeout - accepted.age()
        found = []
        if valid or (timeout is not None and provably_live(accepted, timeout)):
            why = (
                "ValidateSession says it is still valid"
                if valid
                else f"last accepted {describe_age(accepted)} before, within its {timeout:g} s timeout"
            )
            found.append(
                Violation(
                    "session_rejected",
                    f"the process's live session was answered {SESSION_EXPIRED} before its expiry ({why})",
                    "the request accepted",
                    SESSION_EXPIRED,
                    exchange,
                )
            )
        if not valid and self.relogin is not None and self.relogin(session):
            self.recorder.count(
                "relogins",
                f"{time.time():.3f} {self.client}: the session ended ({SESSION_EXPIRED}, ValidateSession: not valid"
                f"{'' if left is None else f', {left:.0f} s before its expiry'}); logged in again to carry on",
            )
        return found

    # ------------------------------------------------------------------ plumbing

    def _call(self, request: _wire.WireRequest, name: str) -> ApiResult:
        """Send, and follow a 202 to the job's final answer: `Client.call`'s rules (`zscheck._jobs`), over the
        `Wire` seam, with the load schedule and the driver's own sleep (gevent's in a locust user)."""
        wire, clock = self.wire, time.perf_counter
        follower = JobFollower(POLLS, self.plan.poll_deadline)
        step = follower.answer(wire.send(request, name), clock())
        while isinstance(step, Poll):
            if step.after:
                self.sleep(step.after)
            step = follower.answer(wire.send(step.request, "api-jobs/{uuid}"), clock())
        return step

    def _all_known(self, name: str, code: str | None, violations: list[Violation]) -> bool:
        """Every check this operation failed is a known finding of the --baseline (the fingerprint
        `_settle`'s failure groups get): it is reported, and kept out of the error rate a gate holds."""
        return bool(violations) and all(fingerprint(v.check, name, code or "-") in self._known for v in violations)

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
