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

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from zscheck import _wire
from zscheck._models import ApiResult, Exchange, Outcome, Session, read_outcome
from zscheck._transport import Timeouts, Transport
from zscheck._wire import Dialect, WireRequest
from zscheck.errors import ConfigError, LoginError, TargetError


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        dialect: Dialect = "rest",
        timeouts: Timeouts | None = None,
        poll_interval: float = 0.02,
        poll_max_interval: float = 1.0,
        poll_deadline: float = 30.0,
        verify: bool | str = True,
        auto_relogin: bool = True,
    ) -> None:
        if dialect not in _wire.DIALECTS:
            raise ConfigError(f"dialect {dialect!r} is not one of {', '.join(_wire.DIALECTS)}")
        if poll_interval <= 0 or poll_deadline <= 0:
            raise ConfigError(f"poll_interval ({poll_interval}) and poll_deadline ({poll_deadline}) must be positive")
        self.base_url = base_url.rstrip("/")
        self.dialect = dialect
        self.poll_interval = poll_interval
        self.poll_max_interval = max(poll_interval, poll_max_interval)
        self.poll_deadline = poll_deadline
        self.auto_relogin = auto_relogin
        self.session: Session | None = None
        self.requests_sent = 0  # every HTTP request this client made, for rates in reports
        self._credentials: tuple[str, str] | None = None  # (account, SHA-512 hex); never the clear text
        self._transport = Transport(self.base_url, timeouts=timeouts or Timeouts(), verify=verify)

    # ------------------------------------------------------------------------------- plumbing

    def send(self, request: WireRequest) -> Exchange:
        """One request, no following: the raw exchange."""
        self.requests_sent += 1
        return self._transport.send(request)

    def call(self, request: WireRequest, *, follow: bool = True) -> ApiResult:
        """Send `request`; if the answer is a 202 with a job location, poll it to its end."""
        first = self.send(request)
        exchanges = [first]
        if first.error is not None:
            return ApiResult(Outcome.TRANSPORT_ERROR, exchanges)
        assert first.status is not None
        location = _wire.job_location(first.status, first.json)
        if location is None or not follow:
            return ApiResult(read_outcome(first), exchanges, first.json)
        return self._follow(location, exchanges)

    def _follow(self, location: str, exchanges: list[Exchange]) -> ApiResult:
        deadline = time.monotonic() + self.poll_deadline
        interval = self.poll_interval
        poll = _wire.poll(location)
        while True:
            answer = self.send(poll)
            exchanges.append(answer)
            if answer.error is not None:
                return ApiResult(Outcome.TRANSPORT_ERROR, exchanges)
            assert answer.status is not None
            if not _wire.is_job_pending(answer.status):
                return ApiResult(read_outcome(answer), exchanges, answer.json)
            if time.monotonic() + interval > deadline:
                return ApiResult(Outcome.TIMEOUT, exchanges, answer.json)
            time.sleep(interval)
            interval = min(interval * 2, self.poll_max_interval)

    def _session_uuid(self, session: Session | str | None) -> str | None:
        if isinstance(session, Session):
            return session.uuid
        if isinstance(session, str):
            return session
        return None if self.session is None else self.session.uuid

    def _with_relogin(self, build: Callable[[str | None], WireRequest], session: Session | str | None) -> ApiResult:
        """Run `build(session_uuid)`; on ID.1001 with our own session, log in again and retry once."""
        result = self.call(build(self._session_uuid(session)))
        if (
            session is None
            and self.auto_relogin
            and self._credentials is not None
            and _wire.session_expired(result.data)
        ):
            self.relogin()
            retry = self.call(build(self._session_uuid(None)))
            retry.exchanges[:0] = result.exchanges
            return retry
        return result

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
            raise LoginError(f"login as {account!r} at {self.base_url} failed: {reason}: {details}")
        self.session = Session(inventory["uuid"], account, inventory.get("accountUuid"))
        self._credentials = (account, password_hash)
        return self.session

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

    # ------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _describe(result: ApiResult) -> str:
    if result.final.error is not None:
        return result.final.error
    if result.error_code is not None:
        return f"{result.error_code}: {(result.error or {}).get('details', '')}"
    return f"HTTP {result.final.status}: {result.final.text(200)}"
