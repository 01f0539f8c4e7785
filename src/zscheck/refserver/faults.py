"""Deliberate faults (`zscheck serve --fault NAME`): each one a realistic way a server gets the contract
wrong, so the tests can prove that every check catches the class of fault it claims to.

The app consults these at a handful of points (see `App`); all the fault logic lives here so the correct
path stays readable. Each entry names the area it breaks; the harness's checks are written without
knowledge of this list.

FAULTS are contract faults: one sequential client sees them. LOAD_FAULTS only show under concurrency
(or right after a change), for load tests; every delay they add is bounded, and they never block the
event loop (a delayed answer is a coroutine the server awaits).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Container, Coroutine, Iterable
from typing import Any

from zscheck.refserver.rest import Response
from zscheck.refserver.store import Job, Store

# name -> (area, what goes wrong)
FAULTS: dict[str, tuple[str, str]] = {
    "success-with-error": ("envelope", "a successful job result also carries an `error`"),
    "success-field": ("envelope", "REST answers carry a legacy `success: true` field"),
    "error-code-shape": ("envelope", "ErrorCodes lose their prefix (`1007`) and their description"),
    "wrong-error-code": ("error codes", "SYS.1000 (internal error) where SYS.1007 belongs"),
    "case-insensitive-event": ("error codes", "`Enable`, `DISABLE` and other case variants are accepted"),
    "session-before-arguments": ("error codes", "the session is checked before stateEvent and the image"),
    "same-state-error": ("state transitions", "a same-state change fails with SYS.1006 instead of succeeding"),
    "sync-validation": ("HTTP statuses", "an invalid stateEvent is rejected at once with a 400 JSON error"),
    "business-error-500": ("HTTP statuses", "failed jobs answer 500 instead of 503"),
    "params-accepted": ("HTTP statuses", "the rest dialect accepts the documented `params` body key"),
    "disable-noop": ("state transitions", "disable answers and leaves the image Enabled"),
    "status-touched": ("state transitions", "a state change resets the image's status to Ready"),
    "other-field-changes": ("state transitions", "a state change also resets the image's platform to Other"),
    "lastopdate-frozen": ("state transitions", "lastOpDate is not advanced by a state change"),
    "lost-update": ("persistence", "the job acknowledges the change, but it is never stored"),
    "any-session": ("sessions", "unknown, expired and logged-out sessions are accepted"),
    "no-ownership": ("ownership", "a normal account may change any account's image"),
    "job-never-finishes": ("job handling", "api-jobs answer 202 forever"),
    "no-location": ("job handling", "the 202 answer has no `location`"),
    "pending-body-location": ("job handling", "a job's first poll answers 202 with a location instead of {}"),
    "iso-timestamps": ("inventory", "timestamps in ISO 8601 instead of ZStack's format"),
    "missing-status": ("inventory", "the inventory lacks its `status`"),
    "wrong-inventory": ("inventory", "the job result carries another image's inventory"),
    "null-fields": ("inventory", "absent fields are sent as null"),
    "echo-drops-field": ("inventory", "a changeImageState job result omits the image's `url` and `size`"),
    "stale-echo": ("inventory", "updateImage and recoverImage reply with the inventory as it was before their write"),
    "mangled-unicode": ("inventory", "names and descriptions are stored with every non-ASCII character replaced by ?"),
    "job-uuid-reuse": ("job handling", "a duplicate X-Job-UUID is accepted (202, a new job) instead of a 400"),
    "unknown-job-answers": ("job handling", "a poll of a never-issued job answers 200 {} instead of 404"),
    "no-api-timeout": ("job handling", "the 202 answer carries no `apiTimeout`"),
    "schema-unasked": ("job handling", "job results carry `schema` even when the poll sent no X-JSON-Schema"),
    "unknown-session-first": (
        "error codes",
        "a never-issued session is ID.1001 ahead of SYS.1007 and SYS.1003 (expired and logged-out ones are not)",
    ),
    "wrong-description": ("error codes", "ErrorCodes carry a description that is not their code's"),
    "null-tag-accepted": ("error codes", "a null element in systemTags or userTags is accepted instead of SYS.1007"),
    "tenant-sees-all": ("ownership", "a normal account's image query lists every account's images"),
    "admin-not-owner": ("ownership", "the admin gets SYS.1006 changing a normal account's image"),
}

# Load faults: name -> (area, what goes wrong) as in FAULTS, all in area "load"; their numbers are below.
# Kept out of FAULTS, the contract faults that tests/conformance/test_faults.py proves the checks catch
# (one sequential client cannot see these). `Faults` accepts names from both (ALL_FAULTS).
LOAD_FAULTS: dict[str, tuple[str, str]] = {
    "latency-under-load": (
        "load",
        "changeImageState PUTs and their job polls are answered 2 ms late per request in flight (at most 2 s)",
    ),
    "lost-update-race": (
        "load",
        "a change whose row another change wrote meanwhile is acknowledged, and its stale row written 0.1 s later",
    ),
    "stale-read": ("load", "image queries answer from a replica that applies state changes 1 s late"),
    "stalled-jobs": ("load", "a changeImageState job accepted while more than 8 are in flight stays 202 for 3 s"),
    "drop-connections": (
        "load",
        "2% of changeImageState PUTs and polls (seeded): the connection is closed after the request, no answer",
    ),
    "ack-unstored": ("load", "every third real changeImageState is acknowledged (200, changed) but never stored"),
    "stale-read-long": ("load", "image queries answer from a replica that applies state changes 3 s late"),
    "session-drop": ("load", "1% of requests with a valid live session are answered ID.1001 (it stays valid)"),
}
ALL_FAULTS = FAULTS | LOAD_FAULTS

# latency-under-load: an answer waits LATENCY_PER_REQUEST for each request in flight, itself included.
LATENCY_PER_REQUEST = 0.002
LATENCY_MAX = 2.0
# lost-update-race: a state change reads the row, works RACE_GAP, then writes the row it computed. If
# another change wrote the row in the gap, the version check fails: the job answers anyway and its
# stale row is written RACE_RETRY later, over whatever is there by then.
RACE_GAP = 0.01
RACE_RETRY = 0.1
# stale-read: queries see images as they were REPLICA_LAG ago (only state changes lag); stale-read-long:
# REPLICA_LAG_LONG ago.
REPLICA_LAG = 1.0
REPLICA_LAG_LONG = 3.0
# drop-connections: the share of changeImageState PUTs and polls whose connection is closed unanswered,
# drawn from a generator seeded with FAULT_SEED; bounded: never two drops within DROP_SPACING requests.
DROP_SHARE = 0.02
DROP_SPACING = 10
# session-drop: the share of requests with a valid session answered ID.1001.
SESSION_DROP_SHARE = 0.01
FAULT_SEED = 0
# ack-unstored: one real state change in ACK_UNSTORED_EVERY is acknowledged and not stored.
ACK_UNSTORED_EVERY = 3
# stalled-jobs: a job is in flight from its acceptance until a poll answers its result (or STALL_FORGET
# has passed: a client that never polls does not stall the server for good).
STALL_THRESHOLD = 8
STALL = 3.0
STALL_FORGET = 10.0


class UnknownFault(ValueError):
    pass


class Faults:
    def __init__(self, names: Iterable[str] = ()) -> None:
        names = tuple(names)
        unknown = [n for n in names if n not in ALL_FAULTS]
        if unknown:
            raise UnknownFault(f"unknown fault {', '.join(unknown)}; known faults: {', '.join(sorted(ALL_FAULTS))}")
        self.on = frozenset(names)
        self._polled: set[str] = set()
        # Plain flags: the app tests these on hot paths.
        self.rewrites = bool(self.on - LOAD_FAULTS.keys())  # a contract fault: job results go through job_result
        self.load = bool(self.on & LOAD_FAULTS.keys())
        self.slow = "latency-under-load" in self.on
        self.racy = "lost-update-race" in self.on
        self.lagging = bool(self.on & {"stale-read", "stale-read-long"})
        self.lag = REPLICA_LAG_LONG if "stale-read-long" in self.on else REPLICA_LAG
        self.stalling = "stalled-jobs" in self.on
        self.dropping = "drop-connections" in self.on
        # One generator per fault, seeded: a faulty run replays like a correct one.
        self._drop_rng = random.Random(FAULT_SEED)
        self._since_drop = DROP_SPACING
        self._session_rng = random.Random(FAULT_SEED + 1)
        self._real_changes = 0
        self._in_flight = 0  # latency-under-load: delayed answers not yet sent
        self._open_jobs: dict[str, float] = {}  # stalled-jobs: job uuid -> accepted at (monotonic), in order
        self._changes: dict[str, deque[tuple[float, dict[str, Any]]]] = {}  # stale-read: uuid -> (when, before)

    def __contains__(self, name: str) -> bool:
        return name in self.on

    def __bool__(self) -> bool:
        return bool(self.on)

    def event(self, event: str) -> str:
        return event.lower() if "case-insensitive-event" in self.on else event

    def change(self, before: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
        """What a state change writes, faults applied."""
        changed = dict(changed)
        if "disable-noop" in self.on and changed["state"] == "Disabled":
            changed["state"] = before["state"]
        if "status-touched" in self.on:
            changed["status"] = "Ready"
        if "other-field-changes" in self.on:
            changed["platform"] = "Other"
        if "lastopdate-frozen" in self.on:
            changed["lastOpDate"] = before["lastOpDate"]
        return changed

    # ------------------------------------------------------------------------- contract-fault hooks

    def stored_strings(self, image: dict[str, Any]) -> dict[str, Any]:
        """mangled-unicode: the name and description as a latin-1-only column would keep them."""
        if "mangled-unicode" not in self.on:
            return image
        mangled = dict(image)
        for name in ("name", "description"):
            if isinstance(mangled.get(name), str):
                mangled[name] = "".join(c if c.isascii() else "?" for c in mangled[name])
        return mangled

    def reuses_job_uuids(self) -> bool:
        return "job-uuid-reuse" in self.on

    def unknown_job(self) -> Response | None:
        """unknown-job-answers: the answer to a poll of a job that was never issued (else None: a 404)."""
        return Response(200, b"{}") if "unknown-job-answers" in self.on else None

    def api_timeout(self, accepted: dict[str, Any]) -> dict[str, Any]:
        """The 202's body, faults applied."""
        if "no-api-timeout" in self.on:
            accepted = {k: v for k, v in accepted.items() if k != "apiTimeout"}
        return accepted

    def schema_unasked(self) -> bool:
        return "schema-unasked" in self.on

    def session_first(self, session_uuid: str, live: Container[str], ended: Container[str]) -> bool:
        """unknown-session-first: a session id the server never issued is rejected before the arguments."""
        return "unknown-session-first" in self.on and session_uuid not in live and session_uuid not in ended

    def sees_all(self) -> bool:
        return "tenant-sees-all" in self.on

    def admin_not_owner(self) -> bool:
        return "admin-not-owner" in self.on

    def echo(self, action: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """The inventory an updateImage or recoverImage replies with (the image after its write)."""
        return before if "stale-echo" in self.on and action in ("updateImage", "recoverImage") else after

    def job_result(
        self, status: int, payload: dict[str, Any], other_image: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        """The rendered job result (rest dialect), faults applied."""
        if "inventory" in payload:
            inventory = dict(payload["inventory"])
            if "success-with-error" in self.on:
                payload = {**payload, "error": {"code": "SYS.1000", "description": "x", "details": "x"}}
            if "missing-status" in self.on:
                inventory.pop("status", None)
            if "iso-timestamps" in self.on:
                inventory["createDate"] = inventory["lastOpDate"] = "2025-10-28T14:09:26Z"
            if "null-fields" in self.on:
                inventory = {k: inventory.get(k) for k in (*inventory, "description", "md5Sum", "guestOsType")}
            if "wrong-inventory" in self.on and other_image is not None:
                inventory = other_image
            if "echo-drops-field" in self.on:
                inventory.pop("url", None)
                inventory.pop("size", None)
            payload = {**payload, "inventory": inventory}
        if "error" in payload and status == 503:
            error = dict(payload["error"])
            if "wrong-error-code" in self.on and error["code"] == "SYS.1007":
                error["code"], error["description"] = "SYS.1000", "An internal error happened in system"
            if "error-code-shape" in self.on:
                error["code"] = error["code"].split(".")[-1]
                error.pop("description", None)
            if "wrong-description" in self.on:
                # Another code's description: the one a server that shares one message table would give.
                error["description"] = (
                    "An operation failed" if error.get("code") != "SYS.1006" else "An internal error happened in system"
                )
            payload = {**payload, "error": error}
            if "business-error-500" in self.on:
                status = 500
        if "success-field" in self.on:
            payload = {"success": status == 200, **payload}
        return status, payload

    def pending_body(self, job_uuid: str, location: str) -> bytes | None:
        """A fault's body for a poll of a finished job that should still look pending, else None."""
        if "job-never-finishes" in self.on:
            return b"{}"
        if "pending-body-location" in self.on and job_uuid not in self._polled:
            self._polled.add(job_uuid)
            return f'{{"location":"{location}"}}'.encode()
        return None

    # ------------------------------------------------------------------------------ load faults

    def drops(self) -> bool:
        """drop-connections: whether this changeImageState PUT or poll is closed unanswered."""
        if not self.dropping:
            return False
        self._since_drop += 1
        if self._drop_rng.random() < DROP_SHARE and self._since_drop >= DROP_SPACING:
            self._since_drop = 0
            return True
        return False

    def session_dropped(self) -> bool:
        """session-drop: whether this request with a valid live session is answered ID.1001 anyway."""
        return "session-drop" in self.on and self._session_rng.random() < SESSION_DROP_SHARE

    def unstored(self) -> bool:
        """ack-unstored: whether this real state change is acknowledged without being stored."""
        if "ack-unstored" not in self.on:
            return False
        self._real_changes += 1
        return self._real_changes % ACK_UNSTORED_EVERY == 0

    async def _late(self, response: Response) -> Response:
        self._in_flight += 1
        try:
            await asyncio.sleep(min(LATENCY_MAX, LATENCY_PER_REQUEST * self._in_flight))
        finally:
            self._in_flight -= 1
        return response

    def answer(self, response: Response) -> Response | Coroutine[Any, Any, Response]:
        """A changeImageState PUT's answer: latency-under-load sends it late (the server awaits it)."""
        return self._late(response) if self.slow else response

    def accepted(self, job_uuid: str, delay: float) -> float:
        """stalled-jobs: how long a new changeImageState job stays processing (`delay` is the configured one)."""
        if not self.stalling:
            return delay
        now = time.monotonic()
        open_jobs = self._open_jobs
        while open_jobs:
            oldest = next(iter(open_jobs))
            if open_jobs[oldest] > now - STALL_FORGET:
                break
            del open_jobs[oldest]
        stalled = len(open_jobs) >= STALL_THRESHOLD
        open_jobs[job_uuid] = now
        return max(delay, STALL) if stalled else delay

    def polled(self, job_uuid: str, response: Response) -> Response | Coroutine[Any, Any, Response]:
        """A poll's answer for a changeImageState job: its final answer ends its flight (stalled-jobs), and
        latency-under-load sends it late."""
        if response.status != 202:
            self._open_jobs.pop(job_uuid, None)
        return self._late(response) if self.slow else response

    def after_read(self, schedule: Callable[[float, Callable[[], None]], Any], write: Callable[[], None]) -> None:
        """lost-update-race: a state change has read its row; it writes it (and finishes) after a gap."""
        schedule(RACE_GAP, write)

    def state_write(
        self,
        store: Store,
        schedule: Callable[[float, Callable[[], None]], Any],
        read: dict[str, Any],
        changed: dict[str, Any],
        owner: str,
    ) -> Callable[[Job | None], None]:
        """The write of a state change computed from `read`, with the load faults that touch it."""
        image_uuid = read["uuid"]

        def write(job: Job | None) -> None:
            before = store.images.get(image_uuid)
            if self.racy and job is not None and before is not read:
                # Another change wrote the row since it was read (every write stores a new dict): the version
                # check fails. The job answers with what it computed all the same, and its stale row is
                # retried RACE_RETRY later without reading again, over changes acknowledged meanwhile.
                store.save_job(job)
                schedule(RACE_RETRY, retry)
                return
            store.put_image(changed, owner, job)
            self._changed(image_uuid, before)

        def retry() -> None:
            before = store.images.get(image_uuid)
            if before is not None:  # deleted meanwhile: the retry finds no row
                store.put_image(changed, owner)
                self._changed(image_uuid, before)

        return write

    def _changed(self, image_uuid: str, before: dict[str, Any] | None) -> None:
        """stale-read: remember the image as it was before a state change, for the replica's lag."""
        if not self.lagging or before is None:
            return
        now = time.monotonic()
        horizon = now - self.lag
        log = self._changes.setdefault(image_uuid, deque())
        while log and log[0][0] <= horizon:  # applied by the replica: one lag of changes at most is kept
            log.popleft()
        log.append((now, before))
        if len(self._changes) > 1024:  # forget images whose last change the replica has applied
            for uuid in [u for u, changes in self._changes.items() if changes[-1][0] <= horizon]:
                del self._changes[uuid]

    def replica(self, images: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """stale-read: the images a query sees, each as it was the replica's lag ago."""
        if not self._changes:
            return images
        horizon = time.monotonic() - self.lag
        seen = []
        for image in images:
            log = self._changes.get(image["uuid"])
            if log is not None:
                while log and log[0][0] <= horizon:
                    log.popleft()
                if log:
                    image = log[0][1]  # before the oldest change the replica has not applied yet
                else:
                    del self._changes[image["uuid"]]
            seen.append(image)
        return seen
