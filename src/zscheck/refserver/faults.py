"""Deliberate faults (`zscheck serve --fault NAME`): each one a realistic way a server gets the contract
wrong, so the tests can prove that every check catches the class of fault it claims to.

Each fault is a small class below whose methods are named after the hook points it needs (hooks.py
documents every point); `make_hooks` registers the ones switched on, and the correct path never names a
fault. When several faults are on, the ones sharing a hook point run in the order the classes are defined
here (it matters for a few: see the notes at each point). The harness's checks are written without
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from zscheck.refserver import model
from zscheck.refserver.hooks import Hooks
from zscheck.refserver.jobs import JobRequest, Outcome, Write
from zscheck.refserver.rest import Answer, Response, json_bytes
from zscheck.refserver.store import Account, Job, Session, Store

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
    "login-reuses-session": ("sessions", "a login answers with a live session issued before (to anyone)"),
    "login-ends-sessions": ("sessions", "a login logs the account's other sessions out (not the default)"),
    "delete-direct": ("deletion", "DeleteImage removes the image at once; the Delay policy keeps it, Deleted"),
    "enforcing-expunges": ("deletion", "DeleteImage with deleteMode=Enforcing expunges the image, not keeps it"),
    "delete-mode-unchecked": ("deletion", "an invalid deleteMode is accepted (the image deleted), not SYS.1000"),
    "validation-only-writes": ("validation", "a validationOnly system tag is ignored: the request is carried out"),
    "tenant-deletes-any": ("ownership", "a normal account may delete another account's image"),
    "api-timeout-ignored": ("job handling", "X-API-Timeout is ignored: the 202 reports the default apiTimeout"),
}

# Load faults: name -> (area, what goes wrong) as in FAULTS, all in area "load"; their numbers are below.
# Kept out of FAULTS, the contract faults that tests/conformance/test_faults.py proves the checks catch
# (one sequential client cannot see these). `make_hooks` accepts names from both (ALL_FAULTS).
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


def check(names: Iterable[str]) -> None:
    """Refuse names that are no fault (the server refuses to start with one)."""
    unknown = [n for n in names if n not in ALL_FAULTS]
    if unknown:
        raise UnknownFault(f"unknown fault {', '.join(unknown)}; known faults: {', '.join(sorted(ALL_FAULTS))}")


@dataclass
class Env:
    """What a fault may use: the server's state, its scheduler, and two of its functions."""

    store: Store
    schedule: Callable[[float, Callable[[], None]], Any]
    admin_uuid: str
    authorize: Callable[[str, str | None], tuple[dict[str, Any] | None, Session]]
    location: Callable[[str], str]  # a job's poll URL
    shared: dict[str, Any] = field(default_factory=dict)  # state that faults working together share


class Fault:
    """One fault. Its public methods are hook implementations, named after hook points (hooks.POINTS)."""

    name: ClassVar[str]

    def __init__(self, env: Env) -> None:
        self.env = env


_CLASSES: dict[str, type[Fault]] = {}  # in definition order: the order hooks run in
_F = TypeVar("_F", bound=type[Fault])


def _fault(cls: _F) -> _F:
    _CLASSES[cls.name] = cls
    return cls


def make_hooks(names: Iterable[str], env: Env) -> Hooks:
    """The hook points with the named faults registered (none: every point is a no-op)."""
    names = frozenset(names)
    check(names)
    return Hooks([cls(env) for name, cls in _CLASSES.items() if name in names])


# ------------------------------------------------------------------ job results (envelope, inventory)
# `change_result` runs these in this order: inventory rewrites first, then the ErrorCode ones, with
# business-error-500 last among them (the others look for a 503), and success-field last of all.


def _inventory(payload: dict[str, Any]) -> dict[str, Any] | None:
    return dict(payload["inventory"]) if "inventory" in payload else None


def _error(status: int, payload: dict[str, Any]) -> dict[str, Any] | None:
    return dict(payload["error"]) if "error" in payload and status == 503 else None


Result = tuple[int, dict[str, Any]]


@_fault
class SuccessWithError(Fault):
    name = "success-with-error"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        if "inventory" in payload:
            payload = {**payload, "error": {"code": "SYS.1000", "description": "x", "details": "x"}}
        return status, payload


@_fault
class MissingStatus(Fault):
    name = "missing-status"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        inventory = _inventory(payload)
        if inventory is not None:
            inventory.pop("status", None)
            payload = {**payload, "inventory": inventory}
        return status, payload


@_fault
class IsoTimestamps(Fault):
    name = "iso-timestamps"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        inventory = _inventory(payload)
        if inventory is not None:
            inventory["createDate"] = inventory["lastOpDate"] = "2025-10-28T14:09:26Z"
            payload = {**payload, "inventory": inventory}
        return status, payload


@_fault
class NullFields(Fault):
    name = "null-fields"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        inventory = _inventory(payload)
        if inventory is not None:
            inventory = {k: inventory.get(k) for k in (*inventory, "description", "md5Sum", "guestOsType")}
            payload = {**payload, "inventory": inventory}
        return status, payload


@_fault
class WrongInventory(Fault):
    name = "wrong-inventory"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        other = next((i for u, i in self.env.store.images.items() if u != request.target), None)
        if "inventory" in payload and other is not None:
            payload = {**payload, "inventory": model.render_image(other, keep_nulls=False)}
        return status, payload


@_fault
class EchoDropsField(Fault):
    name = "echo-drops-field"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        inventory = _inventory(payload)
        if inventory is not None:
            inventory.pop("url", None)
            inventory.pop("size", None)
            payload = {**payload, "inventory": inventory}
        return status, payload


@_fault
class WrongErrorCode(Fault):
    name = "wrong-error-code"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        error = _error(status, payload)
        if error is not None:
            if error["code"] == "SYS.1007":
                error["code"], error["description"] = "SYS.1000", "An internal error happened in system"
            payload = {**payload, "error": error}
        return status, payload


@_fault
class ErrorCodeShape(Fault):
    name = "error-code-shape"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        error = _error(status, payload)
        if error is not None:
            error["code"] = error["code"].split(".")[-1]
            error.pop("description", None)
            payload = {**payload, "error": error}
        return status, payload


@_fault
class WrongDescription(Fault):
    name = "wrong-description"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        error = _error(status, payload)
        if error is not None:
            # Another code's description: the one a server that shares one message table would give.
            error["description"] = (
                "An operation failed" if error.get("code") != "SYS.1006" else "An internal error happened in system"
            )
            payload = {**payload, "error": error}
        return status, payload


@_fault
class BusinessError500(Fault):
    name = "business-error-500"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        return (500 if "error" in payload and status == 503 else status), payload


@_fault
class SuccessField(Fault):
    name = "success-field"

    def change_result(self, status: int, payload: dict[str, Any], request: JobRequest) -> Result:
        return status, {"success": status == 200, **payload}


# ------------------------------------------------------------------- requests and their validation
# before_arguments: session-before-arguments, then unknown-session-first.


@_fault
class CaseInsensitiveEvent(Fault):
    name = "case-insensitive-event"

    def state_event(self, event: str) -> str:
        return event.lower()


@_fault
class SessionBeforeArguments(Fault):
    name = "session-before-arguments"

    def before_arguments(self, session_uuid: str) -> dict[str, Any] | None:
        denied, _ = self.env.authorize(session_uuid, None)
        return denied


@_fault
class UnknownSessionFirst(Fault):
    """A session id the server never issued is rejected before the arguments (ended ones are not)."""

    name = "unknown-session-first"

    def before_arguments(self, session_uuid: str) -> dict[str, Any] | None:
        store = self.env.store
        if session_uuid not in store.sessions and session_uuid not in store.ended_sessions:
            return model.session_expired()
        return None


@_fault
class NullTagAccepted(Fault):
    name = "null-tag-accepted"

    def tags_error(self, error: dict[str, Any] | None) -> dict[str, Any] | None:
        return None


@_fault
class SameStateError(Fault):
    name = "same-state-error"

    def same_state(self, image: dict[str, Any], new_state: str) -> dict[str, Any] | None:
        return model.error("SYS.1006", f"image[uuid:{image['uuid']}] is already {new_state}")


@_fault
class SyncValidation(Fault):
    name = "sync-validation"

    def sync_answer(self, action: str, params: dict[str, Any]) -> Response | None:
        if action != "changeImageState":
            return None
        event = params.get("stateEvent")
        if event is None or model.java_trim(event) not in model.STATE_EVENTS:
            error = model.invalid_value("stateEvent", ["enable", "disable"], str(event))
            return Response(400, json_bytes({"error": error}))
        return None


@_fault
class ParamsAccepted(Fault):
    """The documented dialect's `params` key in a rest-dialect body (the documented dialect reads `params`
    before this point, so only rest-dialect bodies reach it with one)."""

    name = "params-accepted"

    def action_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "changeImageState": body["params"]} if "params" in body else body


# ---------------------------------------------------------------------------- sessions and ownership
# owner_denied: admin-not-owner, then no-ownership (which wins).


@_fault
class AnySession(Fault):
    name = "any-session"

    def no_session(self, session_uuid: str) -> Session | None:
        return Session(session_uuid, self.env.admin_uuid, 0, 0, 0)


@_fault
class AdminNotOwner(Fault):
    name = "admin-not-owner"

    def owner_denied(self, denied: bool, session: Session, image_uuid: str) -> bool:
        return self.env.store.owners.get(image_uuid) != session.account


@_fault
class NoOwnership(Fault):
    name = "no-ownership"

    def owner_denied(self, denied: bool, session: Session, image_uuid: str) -> bool:
        return False


@_fault
class TenantSeesAll(Fault):
    name = "tenant-sees-all"

    def visible_images(self, images: list[dict[str, Any]], account: Account | None) -> list[dict[str, Any]]:
        return list(self.env.store.images.values())


# ------------------------------------------------------------------------- session and deletion policy


@_fault
class LoginReusesSession(Fault):
    name = "login-reuses-session"

    def login_session(self, session: Session, account: Account) -> Session:
        now = time.time()
        earlier = [s for s in self.env.store.sessions.values() if s.uuid != session.uuid and s.expires > now]
        if not earlier:
            return session
        self.env.store.drop_session(session.uuid)  # the new one is never handed out
        return earlier[-1]


@_fault
class LoginEndsSessions(Fault):
    name = "login-ends-sessions"

    def login_session(self, session: Session, account: Account) -> Session:
        for other in list(self.env.store.sessions.values()):
            if other.account == account.uuid and other.uuid != session.uuid:
                self.env.store.drop_session(other.uuid)
        return session


def _expunge(store: Store, image_uuid: str) -> Write:
    return lambda job: store.remove_image(image_uuid, job)


@_fault
class DeleteDirect(Fault):
    name = "delete-direct"

    def deletion(self, write: Write, image: dict[str, Any], mode: str | None) -> Write:
        return _expunge(self.env.store, image["uuid"])


@_fault
class EnforcingExpunges(Fault):
    name = "enforcing-expunges"

    def deletion(self, write: Write, image: dict[str, Any], mode: str | None) -> Write:
        return _expunge(self.env.store, image["uuid"]) if mode == "Enforcing" else write


@_fault
class DeleteModeUnchecked(Fault):
    name = "delete-mode-unchecked"

    def delete_mode(self, mode: str | None) -> str | None:
        return mode if mode in (None, "Permissive", "Enforcing") else None


@_fault
class ValidationOnlyWrites(Fault):
    """The tag is dropped from the body before the action is read, so the request is carried out."""

    name = "validation-only-writes"

    def action_body(self, body: dict[str, Any]) -> dict[str, Any]:
        out = dict(body)
        for key, value in body.items():
            if key in ("systemTags", "userTags") and isinstance(value, list):
                out[key] = [t for t in value if t != model.VALIDATION_ONLY]
            elif isinstance(value, dict) and isinstance(value.get("systemTags"), list):
                out[key] = {**value, "systemTags": [t for t in value["systemTags"] if t != model.VALIDATION_ONLY]}
        return out


@_fault
class TenantDeletesAny(Fault):
    name = "tenant-deletes-any"

    def delete_denied(self, error: dict[str, Any] | None, session_uuid: str, image_uuid: str) -> dict[str, Any] | None:
        return None if error is not None and error.get("code") == "SYS.1006" else error


# ------------------------------------------------------------------------------------ job handling
# done_answer: job-never-finishes, then pending-body-location. accepted_body: no-location, then
# no-api-timeout.


@_fault
class JobNeverFinishes(Fault):
    name = "job-never-finishes"

    def done_answer(self, job: Job) -> Response | None:
        return Response(202, b"{}") if job.action == "changeImageState" else None


@_fault
class PendingBodyLocation(Fault):
    name = "pending-body-location"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._polled: set[str] = set()

    def done_answer(self, job: Job) -> Response | None:
        if job.action != "changeImageState" or job.uuid in self._polled:
            return None
        self._polled.add(job.uuid)
        return Response(202, f'{{"location":"{self.env.location(job.uuid)}"}}'.encode())


@_fault
class NoLocation(Fault):
    name = "no-location"

    def accepted_body(self, action: str, location: str, api_timeout: int) -> dict[str, Any] | None:
        return {"apiTimeout": api_timeout} if action == "changeImageState" else None


@_fault
class NoApiTimeout(Fault):
    name = "no-api-timeout"

    def accepted_body(self, action: str, location: str, api_timeout: int) -> dict[str, Any] | None:
        return {"location": location}


# The reference server's default API timeout (app.py), as a server that ignores X-API-Timeout reports it.
DEFAULT_API_TIMEOUT_MS = 1_800_000


@_fault
class ApiTimeoutIgnored(Fault):
    name = "api-timeout-ignored"

    def accepted_body(self, action: str, location: str, api_timeout: int) -> dict[str, Any] | None:
        return {"location": location, "apiTimeout": DEFAULT_API_TIMEOUT_MS}


@_fault
class JobUuidReuse(Fault):
    name = "job-uuid-reuse"

    def reuse_job_uuid(self, job_uuid: str) -> bool:
        return True


@_fault
class UnknownJobAnswers(Fault):
    name = "unknown-job-answers"

    def unknown_job(self, job_uuid: str) -> Response | None:
        return Response(200, b"{}")


@_fault
class SchemaUnasked(Fault):
    name = "schema-unasked"

    def schema_unasked(self, job: Job) -> bool:
        return True


# ------------------------------------------------------------------------------------ image rows


@_fault
class StaleEcho(Fault):
    name = "stale-echo"

    def echo(self, echo: dict[str, Any], action: str, before: dict[str, Any]) -> dict[str, Any]:
        return before if action in ("updateImage", "recoverImage") else echo


@_fault
class MangledUnicode(Fault):
    """The name and description as a latin-1-only column would keep them."""

    name = "mangled-unicode"

    def image_row(self, image: dict[str, Any]) -> dict[str, Any]:
        mangled = dict(image)
        for name in ("name", "description"):
            if isinstance(mangled.get(name), str):
                mangled[name] = "".join(c if c.isascii() else "?" for c in mangled[name])
        return mangled


# ---------------------------------------------------------------------------------- state changes
# state_write: lost-update, then ack-unstored, then the shared racing/lagging write, then the full write
# of the faults that change more than the state (its precedence is today's: the first to decide wins).


def _record_only(store: Store) -> Write:
    """The write of a change that is acknowledged and never stored: the job result only."""

    def write(job: Job | None) -> None:
        if job is not None:
            store.save_job(job)

    return write


def _full_write(store: Store, read: dict[str, Any], changed: dict[str, Any]) -> Write:
    """The whole row rewritten: what a change that touches more than state and lastOpDate needs."""
    owner = store.owners[read["uuid"]]
    return lambda job: store.put_image(changed, owner, job)


@_fault
class DisableNoop(Fault):
    name = "disable-noop"

    def change(self, changed: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
        return dict(changed, state=before["state"]) if changed["state"] == "Disabled" else changed


@_fault
class LastopdateFrozen(Fault):
    name = "lastopdate-frozen"

    def change(self, changed: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
        return dict(changed, lastOpDate=before["lastOpDate"])


@_fault
class LostUpdate(Fault):
    name = "lost-update"

    def state_write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
        return _record_only(self.env.store)


@_fault
class AckUnstored(Fault):
    """Every ACK_UNSTORED_EVERY-th real state change is acknowledged without being stored."""

    name = "ack-unstored"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._real_changes = 0

    def state_write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
        self._real_changes += 1
        return _record_only(self.env.store) if self._real_changes % ACK_UNSTORED_EVERY == 0 else None


class _RowWrites:
    """The state-change write that lost-update-race and the stale-read faults share: a write that races
    must also feed the replica's log when it lands, so the two are one write path."""

    def __init__(self, env: Env) -> None:
        self.store = env.store
        self.schedule = env.schedule
        self.racy = False
        self.lag = 0.0  # the replica's lag; 0: no replica
        self.reader: Fault | None = None  # the stale-read fault that answers queries (one, if both are on)
        self._changes: dict[str, deque[tuple[float, dict[str, Any]]]] = {}  # uuid -> (when, before)

    @staticmethod
    def of(env: Env) -> _RowWrites:
        rows: _RowWrites = env.shared.setdefault("row-writes", _RowWrites(env))
        return rows

    def write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write:
        """The write of a state change computed from `read`."""
        store, image_uuid = self.store, read["uuid"]
        owner = store.owners[image_uuid]

        def write(job: Job | None) -> None:
            before = store.images.get(image_uuid)
            if self.racy and job is not None and before is not read:
                # Another change wrote the row since it was read (every write stores a new dict): the version
                # check fails. The job answers with what it computed all the same, and its stale row is
                # retried RACE_RETRY later without reading again, over changes acknowledged meanwhile.
                store.save_job(job)
                self.schedule(RACE_RETRY, retry)
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
        """Remember the image as it was before a state change, for the replica's lag."""
        if not self.lag or before is None:
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
        """The images a query sees, each as it was the replica's lag ago."""
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


@_fault
class LostUpdateRace(Fault):
    """A state change reads its row, works RACE_GAP, then writes the row it computed (see _RowWrites)."""

    name = "lost-update-race"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.rows = _RowWrites.of(env)
        self.rows.racy = True

    def completing(
        self, job: Job, request: JobRequest, outcome: Outcome, complete: Callable[[Job, JobRequest, Outcome], None]
    ) -> bool:
        if outcome.write is None or request.action != "changeImageState":
            return False
        self.env.store.save_job(job)  # processing until the write
        self.env.schedule(RACE_GAP, lambda: complete(job, request, outcome))
        return True

    def state_write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
        return self.rows.write(read, changed)


@_fault
class StaleRead(Fault):
    """Image queries answer from a replica that applies state changes `lag` seconds late."""

    name = "stale-read"
    lag: ClassVar[float] = REPLICA_LAG

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.rows = _RowWrites.of(env)
        self.rows.lag = max(self.rows.lag, self.lag)
        if self.rows.reader is None:
            self.rows.reader = self

    def state_write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
        return self.rows.write(read, changed)

    def visible_images(self, images: list[dict[str, Any]], account: Account | None) -> list[dict[str, Any]]:
        return self.rows.replica(images) if self.rows.reader is self else images


@_fault
class StaleReadLong(StaleRead):
    name = "stale-read-long"
    lag = REPLICA_LAG_LONG


@_fault
class StatusTouched(Fault):
    name = "status-touched"

    def change(self, changed: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
        return dict(changed, status="Ready")

    def state_write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
        return _full_write(self.env.store, read, changed)


@_fault
class OtherFieldChanges(Fault):
    name = "other-field-changes"

    def change(self, changed: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
        return dict(changed, platform="Other")

    def state_write(self, read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
        return _full_write(self.env.store, read, changed)


# --------------------------------------------------------------------------------- under load only
# poll_answer: stalled-jobs, then latency-under-load (which turns the answer into a coroutine).


@_fault
class StalledJobs(Fault):
    """A job is in flight from its acceptance until a poll answers its result (or STALL_FORGET has
    passed: a client that never polls does not stall the server for good)."""

    name = "stalled-jobs"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._open_jobs: dict[str, float] = {}  # job uuid -> accepted at (monotonic), in order

    def job_delay(self, delay: float, request: JobRequest, job_uuid: str) -> float:
        if request.action != "changeImageState":
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

    def poll_answer(self, answer: Answer, job: Job) -> Answer:
        if isinstance(answer, Response) and answer.status != 202:
            self._open_jobs.pop(job.uuid, None)
        return answer


@_fault
class LatencyUnderLoad(Fault):
    """changeImageState's PUT and poll answers wait LATENCY_PER_REQUEST per delayed answer not yet sent."""

    name = "latency-under-load"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._in_flight = 0

    async def _late(self, response: Response) -> Response:
        self._in_flight += 1
        try:
            await asyncio.sleep(min(LATENCY_MAX, LATENCY_PER_REQUEST * self._in_flight))
        finally:
            self._in_flight -= 1
        return response

    def _delayed(self, answer: Answer) -> Answer:
        return self._late(answer) if isinstance(answer, Response) else answer

    def put_answer(self, answer: Answer, action: str) -> Answer:
        return self._delayed(answer) if action == "changeImageState" else answer

    def poll_answer(self, answer: Answer, job: Job) -> Answer:
        return self._delayed(answer) if job.action == "changeImageState" else answer


@_fault
class DropConnections(Fault):
    """A seeded share of changeImageState PUTs and polls, never two within DROP_SPACING of each other."""

    name = "drop-connections"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._rng = random.Random(FAULT_SEED)  # one generator per fault, seeded: a faulty run replays
        self._since_drop = DROP_SPACING

    def drops(self, action: str | None) -> bool:
        if action != "changeImageState":
            return False
        self._since_drop += 1
        if self._rng.random() < DROP_SHARE and self._since_drop >= DROP_SPACING:
            self._since_drop = 0
            return True
        return False


@_fault
class SessionDrop(Fault):
    name = "session-drop"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._rng = random.Random(FAULT_SEED + 1)

    def session_dropped(self, session: Session) -> bool:
        return self._rng.random() < SESSION_DROP_SHARE
