"""The wire client: log in, change an image's state in either dialect, follow api-jobs, query, fixtures.

Every call returns an `ApiResult` holding each HTTP exchange it made (request, status, headers, raw
body, parsed JSON, timings), so that a check can judge any of them and a report can reproduce it.
The client never judges correctness; it only follows the protocol.

    with Client("http://127.0.0.1:8080") as zs:
        zs.login("admin", "password")
        result = zs.change_state(image_uuid, "disable")
        result.inventory["state"]   # "Disabled"
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from zscheck import _wire
from zscheck._jobs import JobFollower, Poll, PollSchedule
from zscheck._models import ApiResult, Exchange, HarnessAction, Outcome, Session
from zscheck._transport import Timeouts, Transport
from zscheck._wire import Dialect, WireRequest
from zscheck.errors import ConfigError, LoginError, SetupFailed, TargetError

# Each wait between polls of one job is this much longer than the last (up to `poll_max_interval`). Gentle
# growth: a real node's jobs mostly take 30-300 ms, where doubling overshoots by up to 2x.
POLL_GROWTH = 1.25

# The calls made in this context, when someone keeps them (None: nobody does): each request as sent, and
# whether its api-job was followed. The state machine keeps an example's calls, so that a violation it
# finds carries the sequence that led to it (`zscheck replay` re-sends it from the same start).
CALLS: ContextVar[list[tuple[WireRequest, bool]] | None] = ContextVar("zscheck_calls", default=None)


class RequestLimiter:
    """At most `slots` HTTP requests in flight across every client that shares it, granted first come first
    served: a run whose parts go out side by side (the conformance suites and the state machine's lanes)
    loads the target no more than `--workers` would. A slot is held for one exchange only, never across
    the wait between job polls, so no holder ever waits for another slot (no deadlock)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ConfigError(f"a request limiter needs at least 1 slot, not {slots}")
        self.slots = slots
        self.in_flight = 0
        self.peak = 0  # the most requests in flight at once, for tests and reports
        self.waited = 0  # requests that had to queue for a slot
        self._lock = threading.Lock()
        self._queue: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._lock:
            if self.in_flight < self.slots and not self._queue:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                return
            ticket = threading.Event()
            self._queue.append(ticket)
            self.waited += 1
        try:
            ticket.wait()  # the releaser hands its slot over: `in_flight` is already counted
        except BaseException:
            with self._lock:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    raise
            self.release()  # handed over as we were interrupted: give it on
            raise

    def release(self) -> None:
        with self._lock:
            if self._queue:
                self._queue.popleft().set()
            else:
                self.in_flight -= 1

    def __enter__(self) -> RequestLimiter:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        dialect: Dialect = "rest",
        timeouts: Timeouts | None = None,
        poll_interval: float = 0.01,
        poll_max_interval: float = 1.0,
        poll_deadline: float = 30.0,
        verify: bool | str = True,
        auto_relogin: bool = True,
        session_timeout: float | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """`session_timeout`: the target's session timeout in seconds, if known (ZStack's
        `identity.session.timeout`); by default it is read from each login answer (to +-1 s). `limiter`:
        a bound on requests in flight shared with other clients (None: no bound but the caller's threads)."""
        if dialect not in _wire.DIALECTS:
            raise ConfigError(f"dialect {dialect!r} is not one of {', '.join(_wire.DIALECTS)}")
        if poll_interval <= 0 or poll_deadline <= 0:
            raise ConfigError(f"poll_interval ({poll_interval}) and poll_deadline ({poll_deadline}) must be positive")
        if session_timeout is not None and session_timeout <= 0:
            raise ConfigError(f"session_timeout ({session_timeout}) must be positive, or None to read it from login")
        if "@" in base_url.partition("://")[2]:
            # httpx would send user:password@ as Basic auth in place of the session (every call breaks),
            # and the URL is written to journals and reports: the password has its own ways in.
            raise ConfigError(
                "a target URL with user:password@ is refused: give the password in ZSCHECK_PASSWORD (or "
                "--password-env, --password-file) and the account with --account"
            )
        self.base_url = base_url.rstrip("/")
        self.dialect = dialect
        self.poll_interval = poll_interval
        self.poll_max_interval = max(poll_interval, poll_max_interval)
        self.poll_deadline = poll_deadline
        self.auto_relogin = auto_relogin
        self.session_timeout = session_timeout
        self.limiter = limiter
        self.session: Session | None = None
        self.requests_sent = 0  # every HTTP request this client made, for rates in reports
        # When the latest request the target accepted with our own session was sent: ZStack's expiry slides
        # from there (§4.2), so a rejection before it + timeout rejected a valid session.
        self._renewed: float | None = None
        # Every re-login and reconnect this client did, in order, for the run's record (each result has its own).
        self.actions: list[HarnessAction] = []
        self._credentials: tuple[str, str] | None = None  # (account, SHA-512 hex); never the clear text
        self._transport = Transport(self.base_url, timeouts=timeouts or Timeouts(), verify=verify)

    # ------------------------------------------------------------------------------- plumbing

    def send(self, request: WireRequest) -> Exchange:
        """One request, no following: the raw exchange."""
        self.requests_sent += 1
        if self.limiter is None:
            return self._transport.send(request)
        with self.limiter:
            return self._transport.send(request)

    def call(self, request: WireRequest, *, follow: bool = True) -> ApiResult:
        """Send `request`; if the answer is a 202 with a job location, poll it to its end. Each request is
        sent once; a reconnect under one of them is in `actions`."""
        result = self._call(request, follow=follow)
        kept = CALLS.get()
        if kept is not None:
            kept.append((request, follow))
        for exchange in result.exchanges:
            if exchange.reconnect is not None:
                at = exchange.started + exchange.elapsed
                action = HarnessAction("reconnect", f"{exchange.request.method}: {exchange.reconnect}", at)
                result.actions.append(action)
                self.actions.append(action)
        return result

    def _call(self, request: WireRequest, *, follow: bool) -> ApiResult:
        # Read at each call: the conformance harness shortens a live client's `poll_deadline`.
        polls = PollSchedule(self.poll_interval, POLL_GROWTH, self.poll_max_interval)
        follower = JobFollower(polls, self.poll_deadline, follow=follow)
        step = follower.answer(self.send(request), time.monotonic())
        while isinstance(step, Poll):
            if step.after:
                time.sleep(step.after)
            step = follower.answer(self.send(step.request), time.monotonic())
        return step

    def _session_uuid(self, session: Session | str | None) -> str | None:
        if isinstance(session, Session):
            return session.uuid
        if isinstance(session, str):
            return session
        return None if self.session is None else self.session.uuid

    def _with_relogin(self, build: Callable[[str | None], WireRequest], session: Session | str | None) -> ApiResult:
        """Run `build(session_uuid)`; on ID.1001 with our own session, log in again and retry once. The
        re-login is recorded in the result's `actions` with what was known of the rejected session, and
        the exchanges hold both attempts: a retry never hides the rejection."""
        used = self.session if session is None else None  # our own session, as this request carries it
        result = self.call(build(self._session_uuid(session)))
        if used is not None and result.ok and self.session is used:
            self._renewed = result.started
        if used is None or not self.auto_relogin or not _wire.session_expired(result.data):
            return result
        action = self._relogin_action(result, used)
        if self.session is used:  # not already replaced by another thread's re-login
            try:
                self.relogin()
            except (LoginError, TargetError, ConfigError) as exc:
                # The credentials logged in before: a target that now refuses them is judged, not a crash.
                failed = dataclasses.replace(action, kind="relogin-failed", detail=f"{action.detail}; failed: {exc}")
                result.actions.append(failed)
                self.actions.append(failed)
                return result
        self.actions.append(action)
        retry = self.call(build(self._session_uuid(None)))
        if retry.ok:
            self._renewed = retry.started
        retry.exchanges[:0] = result.exchanges
        retry.actions[:0] = [*result.actions, action]
        return retry

    def _relogin_action(self, rejected: ApiResult, used: Session) -> HarnessAction:
        at = rejected.finished
        renewed = self._renewed if self.session is used else None  # ours is about `used` only while it is current
        action = HarnessAction(
            "relogin", "", at, session_issued=used.issued, session_renewed=renewed, session_timeout=used.timeout
        )
        parts = [f"re-login and retry after ID.1001 on a session issued {_ago(used.issued, at)}"]
        if renewed is not None:
            parts.append(f"last accepted {_ago(renewed, at)}")
        if used.timeout is None:
            parts.append("timeout unknown")
        else:
            left = action.seconds_left
            assert left is not None
            state = f"{left:.1f} s before its expiry" if left > 0 else f"{-left:.1f} s after its expiry"
            parts.append(f"timeout {used.timeout:g} s: rejected {state}")
        return dataclasses.replace(action, detail=", ".join(parts))

    # ------------------------------------------------------------------------------- sessions

    def login(self, account: str, password: str) -> Session:
        """Log in (the password is hashed here; only the hash is kept, for re-login on ID.1001)."""
        return self._login_hashed(account, _wire.hash_password(password))

    def _login_hashed(self, account: str, password_hash: str) -> Session:
        result = self.call(_wire.login(account, password_hash))
        if result.outcome is Outcome.TRANSPORT_ERROR:
            raise TargetError(f"cannot reach {self.base_url}: {result.final.error}")
        inventory = result.inventory
        if not result.ok or inventory is None or not isinstance(inventory.get("uuid"), str):
            reason = result.error_code or f"HTTP {result.final.status}"
            details = (result.error or {}).get("details") or result.final.text(200)
            if _malformed_login(result):  # a ZStack-like JSON answer that breaks the contract: judged
                raise SetupFailed(
                    f"login as {account!r} at {self.base_url}: the answer breaks the contract ({reason}: {details})",
                    result,
                    "LogInByAccount",
                )
            raise LoginError(f"login as {account!r} at {self.base_url} failed: {reason}: {details}")
        timeout = self.session_timeout if self.session_timeout is not None else _wire.session_timeout(inventory)
        self.session = Session(
            inventory["uuid"], account, inventory.get("accountUuid"), issued=result.started, timeout=timeout
        )
        self._credentials = (account, password_hash)
        self._renewed = None  # the login itself is the first renewal: `issued`
        return self.session

    def session_age(self) -> float | None:
        """Seconds since this client's own session was issued (None when logged out)."""
        return None if self.session is None else self.session.age()

    def relogin(self) -> Session:
        """Log in again with the account of the last login (the hash kept in memory, never the password)."""
        if self._credentials is None:
            raise ConfigError("relogin() needs an earlier login()")
        return self._login_hashed(*self._credentials)

    def extra_session(self) -> str:
        """A second session for the same account, leaving this client's own session as it is."""
        if self._credentials is None:
            raise ConfigError("extra_session() needs an earlier login()")
        account, password_hash = self._credentials
        result = self.call(_wire.login(account, password_hash))
        if result.inventory is None or not isinstance(result.inventory.get("uuid"), str):
            raise TargetError(f"could not open an extra session for {account!r}: {_describe(result)}")
        return str(result.inventory["uuid"])

    def logout(self, session: Session | str | None = None) -> ApiResult:
        uuid = self._session_uuid(session)
        if uuid is None:
            raise ConfigError("logout() needs a session: log in first or pass one")
        result = self.call(_wire.logout(uuid))
        if session is None or (self.session is not None and uuid == self.session.uuid):
            self.session = None
            self._credentials = None
        return result

    def renew_session(
        self, session_uuid: str | None = None, *, duration: int | None = None, session: Session | str | None = None
    ) -> ApiResult:
        """RenewSession for `session_uuid` (default: this client's own session), authorised by `session`
        (default: the same). Async; the job answers `{"inventory": SessionInventory}`. No re-login: renewing
        a session the target rejects is the point of the call."""
        target = session_uuid or self._session_uuid(None)
        auth = self._session_uuid(session) if session is not None else target
        if target is None:
            raise ConfigError("renew_session() needs a session: log in first or pass one")
        result = self.call(_wire.renew_session(target, auth, duration=duration))
        if result.ok and self.session is not None and target == self.session.uuid:
            self._renewed = result.started
        return result

    def get_version(self) -> ApiResult:
        """GetVersion: sync, no session (`@SuppressCredentialCheck`); `200 {"version": "..."}`."""
        return self.call(_wire.get_version())

    def session_valid(self, session: Session | str | None = None) -> bool:
        uuid = self._session_uuid(session)
        if uuid is None:
            return False
        result = self.call(_wire.validate_session(uuid))
        return bool(isinstance(result.data, dict) and result.data.get("valid") is True)

    # ------------------------------------------------------------------------------- ChangeImageState

    def change_state(
        self,
        image_uuid: str,
        event: Any,
        *,
        session: Session | str | None = None,
        dialect: Dialect | None = None,
        job_uuid: str | None = None,
        system_tags: list[str] | None = None,
        user_tags: list[str] | None = None,
    ) -> ApiResult:
        """ChangeImageState in this client's dialect (or `dialect`), followed to its final answer.

        `event` is sent as given, so negative cases (`"Enable"`, `1`, `None`) go through the same path.
        """
        chosen = dialect or self.dialect

        def build(uuid: str | None) -> WireRequest:
            return _wire.change_state(
                image_uuid,
                event,
                uuid,
                dialect=chosen,
                job_uuid=job_uuid,
                system_tags=system_tags,
                user_tags=user_tags,
            )

        return self._with_relogin(build, session)

    # ------------------------------------------------------------------------------- query and fixtures

    def query_images(
        self, conditions: Iterable[str] = (), *, session: Session | str | None = None, **options: Any
    ) -> ApiResult:
        conds = list(conditions)
        return self._with_relogin(lambda uuid: _wire.query_images(uuid, conds, **options), session)

    def get_image(self, image_uuid: str, *, session: Session | str | None = None) -> dict[str, Any] | None:
        """The image's inventory, or None if the target does not know it. Raises if the query fails."""
        result = self._with_relogin(lambda uuid: _wire.get_image(image_uuid, uuid), session)
        inventories = result.data.get("inventories") if isinstance(result.data, dict) else None
        if not result.ok or not isinstance(inventories, list):
            raise TargetError(f"query of image {image_uuid} failed: {_describe(result)}")
        return inventories[0] if inventories else None

    def backup_storage(self, *, session: Session | str | None = None) -> list[dict[str, Any]]:
        """Backup storage inventories (where AddImage can put fixture images)."""
        result = self._with_relogin(_wire.query_backup_storage, session)
        inventories = result.data.get("inventories") if isinstance(result.data, dict) else None
        if not result.ok or not isinstance(inventories, list):
            raise TargetError(f"query of backup storage failed: {_describe(result)}")
        return [inv for inv in inventories if isinstance(inv, dict)]

    def add_image(
        self,
        name: str,
        url: str,
        backup_storage_uuids: list[str],
        *,
        session: Session | str | None = None,
        **fields: Any,
    ) -> ApiResult:
        params = {"name": name, "url": url, "backupStorageUuids": backup_storage_uuids, **fields}
        return self._with_relogin(lambda uuid: _wire.add_image(params, uuid), session)

    def delete_image(
        self, image_uuid: str, *, mode: str = "Permissive", session: Session | str | None = None
    ) -> ApiResult:
        return self._with_relogin(lambda uuid: _wire.delete_image(image_uuid, uuid, mode=mode), session)

    def expunge_image(self, image_uuid: str, *, session: Session | str | None = None) -> ApiResult:
        return self._with_relogin(lambda uuid: _wire.image_action(image_uuid, "expungeImage", {}, uuid), session)

    def recover_image(self, image_uuid: str, *, session: Session | str | None = None) -> ApiResult:
        return self._with_relogin(lambda uuid: _wire.image_action(image_uuid, "recoverImage", {}, uuid), session)

    def update_image(self, image_uuid: str, *, session: Session | str | None = None, **fields: Any) -> ApiResult:
        """UpdateImage with `fields` as given (name, description, platform...): the echoed inventory is the
        job result's `inventory`."""
        return self._with_relogin(lambda uuid: _wire.update_image(image_uuid, fields, uuid), session)

    # ------------------------------------------------------------------------------- accounts

    def create_account(
        self,
        name: str,
        password: str,
        *,
        account_type: str = "Normal",
        resource_uuid: str | None = None,
        description: str | None = None,
        session: Session | str | None = None,
    ) -> ApiResult:
        """CreateAccount (admin only). The password is hashed here, as at login; neither the password nor
        its hash is kept, and `curl()` of the request redacts the hash."""
        password_hash = _wire.hash_password(password)

        def build(uuid: str | None) -> WireRequest:
            return _wire.create_account(
                name,
                password_hash,
                uuid,
                account_type=account_type,
                resource_uuid=resource_uuid,
                description=description,
            )

        return self._with_relogin(build, session)

    def delete_account(self, account_uuid: str, *, session: Session | str | None = None) -> ApiResult:
        """DeleteAccount (admin only; the account's resources go with it). A well-formed unknown uuid is a
        success on ZStack, so deleting twice is harmless."""
        return self._with_relogin(lambda uuid: _wire.delete_account(account_uuid, uuid), session)

    # ------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _ago(then: float | None, now: float) -> str:
    return "at an unknown time" if then is None else f"{now - then:.1f} s ago"


def _malformed_login(result: ApiResult) -> bool:
    """A login answer in ZStack's JSON that is no answer the contract allows: a 200 without the session's
    inventory, or a 503 without an ErrorCode. A refusal with an ErrorCode (wrong password) is not, nor an
    answer that is not JSON at all (not a ZStack: could not run), nor any other status."""
    final = result.final
    body = final.json
    if final.error is not None or not isinstance(body, dict):
        return False
    if final.status == 200:
        inventory = body.get("inventory")
        return not (isinstance(inventory, dict) and isinstance(inventory.get("uuid"), str))
    if final.status == 503:
        error = body.get("error")
        return not (isinstance(error, dict) and isinstance(error.get("code"), str))
    return False


def _describe(result: ApiResult) -> str:
    if result.final.error is not None:
        return result.final.error
    if result.error_code is not None:
        return f"{result.error_code}: {(result.error or {}).get('details', '')}"
    return f"HTTP {result.final.status}: {result.final.text(200)}"
