"""A conformance run's world: the target (the embedded reference server or a real ZStack), the logged-in
clients, the fixture images and their journal, and `probe()`, which turns a described request into a
real one, sends it, and judges the answer.

The suites in `contracts/` stay thin: they decide *what* to send (Hypothesis), this module knows *how*.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck import _wire
from zscheck._models import ApiResult, Outcome, Session
from zscheck._transport import Timeouts
from zscheck._wire import Dialect, WireRequest
from zscheck.checks import ErrorTable, Facets, Probe, Violation, default_table, judge
from zscheck.client import Client
from zscheck.errors import ConfigError, LoginError, TargetError
from zscheck.fixtures import FixtureImages, Journal, restore

EMBEDDED_SESSION_TIMEOUT = 1.0  # short, so the "expired session" class can be exercised in seconds
EMBEDDED_PASSWORD = "password"
EMBEDDED_POLL_DEADLINE = 1.0  # the reference server finishes jobs at once: a job still running is a fault
TARGET_POLL_DEADLINE = 10.0
FAST_DEADLINE = 0.2  # after three job timeouts in a run


_interrupted: list[int] = []  # signals received; checked before every request the harness sends


def request_interrupt(signum: int) -> None:
    """Called from a signal handler. The KeyboardInterrupt raised there can be swallowed (a signal that
    lands inside a garbage-collector callback is 'unraisable'), so the next request raises it again."""
    _interrupted.append(signum)


def interrupted() -> bool:
    return bool(_interrupted)


def _check_interrupt() -> None:
    if _interrupted:
        raise KeyboardInterrupt(f"signal {_interrupted[0]}")


@dataclass(frozen=True)
class ContractConfig:
    report_dir: Path
    target: str | None = None  # None: start the embedded reference server
    dialect: Dialect = "rest"
    account: str = "admin"
    password: str | None = None  # the secret itself, resolved by the CLI from env/file; never printed
    tenant_account: str | None = None  # a normal account, for the ownership class (SYS.1006)
    tenant_password: str | None = None
    images: tuple[str, ...] = ()
    create_images: int = 3
    image_url: str = "http://127.0.0.1/zscheck-fixture.qcow2"
    backup_storage: str | None = None
    faults: tuple[str, ...] = ()  # embedded server only: break it on purpose
    verify: bool | str = True
    poll_deadline: float | None = None  # seconds a job may stay 202; default 10 (1 for the embedded server)
    timeout: float = 30.0  # seconds any one request may take (connect and each read)


@dataclass
class Sent:
    """One judged request: what was asked, what came back, what was wrong with it."""

    probe: Probe
    result: ApiResult
    violations: list[Violation]
    facets: Facets


@dataclass
class Harness:
    config: ContractConfig
    table: ErrorTable = field(default_factory=default_table)
    url: str = ""
    client: Client | None = None
    tenant: Client | None = None
    fixtures: FixtureImages | None = None
    journal: Journal | None = None
    admin_images: list[str] = field(default_factory=list)  # fixture images the main account owns
    _server: Any = None
    _expiring: list[tuple[float, str]] = field(default_factory=list)
    _session_timeout: float | None = None
    _last_used: dict[int, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    probes: int = 0  # judged requests, for the run's rate
    notes: list[str] = field(default_factory=list)  # things the report should mention
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # each fixture image before any change
    _job_timeouts: int = 0

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> Harness:
        config = self.config
        password = config.password
        tenant = (config.tenant_account, config.tenant_password)
        if config.target is None:
            from zscheck.refserver import ServerConfig, start_in_thread

            self._server = start_in_thread(
                ServerConfig(
                    port=0,
                    db=":memory:",
                    dialect=config.dialect,
                    faults=config.faults,
                    session_timeout=EMBEDDED_SESSION_TIMEOUT,
                    seed_images=4,
                )
            )
            self.url = self._server.url
            self._session_timeout = EMBEDDED_SESSION_TIMEOUT
            password = password or EMBEDDED_PASSWORD
            tenant = (tenant[0] or "tenant", tenant[1] or EMBEDDED_PASSWORD)
        else:
            if config.faults:
                raise ConfigError("--fault applies to the embedded reference server only; drop --target or --fault")
            self.url = config.target.rstrip("/")
        if password is None:
            raise ConfigError(
                f"no password for account {config.account!r}: set ZSCHECK_PASSWORD, or pass --password-env VAR "
                "or --password-file FILE"
            )
        self.client = self._login(config.account, password)
        if tenant[0] and tenant[1]:
            self.tenant = self._login(tenant[0], tenant[1])
        self.journal = Journal.create(config.report_dir / "journal.jsonl", self.url)
        self.fixtures = FixtureImages(self.client, self.journal)
        for uuid in config.images:
            self.snapshots[uuid] = self.fixtures.adopt(uuid)
        if config.target is None or not config.images:
            backup = config.backup_storage or self._backup_storage()
            for i in range(config.create_images):
                created = self.fixtures.create(f"zscheck-fixture-{i}", config.image_url, backup)
                self.snapshots[created["uuid"]] = created
        self.admin_images = list(self.fixtures.uuids)
        if self._session_timeout is not None:
            for _ in range(2):
                session = self.main.extra_session()
                self._expiring.append((time.monotonic(), session))
        return self

    def _login(self, account: str, password: str) -> Client:
        client = Client(
            self.url,
            dialect=self.config.dialect,
            verify=self.config.verify,
            poll_deadline=self._poll_deadline(),
            timeouts=Timeouts(connect=min(5.0, self.config.timeout), read=self.config.timeout),
        )
        try:
            client.login(account, password)
        except (LoginError, TargetError):
            client.close()
            raise
        self._last_used[id(client)] = time.monotonic()
        return client

    def _poll_deadline(self) -> float:
        if self.config.poll_deadline is not None:
            return self.config.poll_deadline
        return EMBEDDED_POLL_DEADLINE if self.config.target is None else TARGET_POLL_DEADLINE

    def _backup_storage(self) -> str:
        assert self.client is not None
        storages = self.client.backup_storage()
        usable = [bs["uuid"] for bs in storages if bs.get("status") == "Connected" and bs.get("state") == "Enabled"]
        if not usable:
            raise TargetError(
                "no connected backup storage to create fixture images on; name images with --image UUID "
                "or a backup storage with --backup-storage UUID"
            )
        return str(usable[0])

    def stop(self) -> list[str]:
        """Restore every fixture image, log out, stop the embedded server. Returns restore problems."""
        problems: list[str] = []
        if self.journal is not None and self.client is not None:
            report = restore(self.journal, self.client)
            problems = [f"{uuid}: {why}" for uuid, why in report.failed.items()]
        for client in (self.tenant, self.client):
            if client is not None:
                if client.session is not None:
                    client.logout()
                client.close()
        if self._server is not None:
            self._server.stop()
        return problems

    # ------------------------------------------------------------------------------- probing

    @property
    def main(self) -> Client:
        assert self.client is not None, "Harness.start() first"
        return self.client

    def available(self, facets: Facets) -> bool:
        """Whether this target can produce a request of this class (no tenant: no foreign images...)."""
        if facets.image == "foreign" and (self.tenant is None or not self.admin_images):
            return False
        return not (facets.session == "expired" and self._session_timeout is None)

    def probe(self, facets: Facets, image: str, event: Any, *, job_uuid: str | None = None) -> Sent:
        """Send a ChangeImageState request of the given class and judge the answer against the table."""
        _check_interrupt()
        dialect = self.config.dialect
        session = self._session_for(facets)
        request = self._request(facets, image, event, session, job_uuid)
        result = self.main.call(request)
        if result.outcome is Outcome.TIMEOUT:
            self._job_timeouts += 1
            if self._job_timeouts == 3:
                # The class of fault is established; waiting the full deadline again adds time, not facts.
                self.notes.append(
                    f"api-jobs stayed processing past {self.main.poll_deadline} s three times; later jobs were "
                    f"given {FAST_DEADLINE} s"
                )
                self.main.poll_deadline = min(self.main.poll_deadline, FAST_DEADLINE)
        expected = self.table.expect(facets, dialect)
        probe = Probe(dialect, image, event, expected, request.headers.get("X-Job-UUID"))
        return Sent(probe, result, judge(probe, result), facets)

    def _session_for(self, facets: Facets) -> str | None:
        if facets.auth != "oauth":
            return None
        if facets.session == "unknown":
            return uuidlib.uuid4().hex
        if facets.session == "logged-out":
            session = self.main.extra_session()
            self.main.logout(session)
            return session
        if facets.session == "expired":
            return self._expired_session()
        if facets.image == "foreign":
            assert self.tenant is not None
            return self.live_session(self.tenant).uuid
        return self.live_session(self.main).uuid

    def live_session(self, client: Client) -> Session:
        """The client's session, renewed by logging in again if it may have expired while idle: a probe
        that means to send a valid session must not send a stale one."""
        now = time.monotonic()
        idle = now - self._last_used.get(id(client), 0.0)
        self._last_used[id(client)] = now
        if client.session is None or (self._session_timeout is not None and idle > self._session_timeout / 2):
            return client.relogin()
        assert client.session is not None
        return client.session

    def _expired_session(self) -> str:
        assert self._session_timeout is not None and self._expiring
        created, session = self._expiring[0]
        wait = created + self._session_timeout + 0.3 - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # once per run at most: these sessions are never used while alive
        return session

    def _request(
        self, facets: Facets, image: str, event: Any, session: str | None, job_uuid: str | None
    ) -> WireRequest:
        dialect = self.config.dialect
        base = _wire.change_state(image, event, session, dialect=dialect, job_uuid=job_uuid)
        headers = dict(base.headers)
        if facets.auth == "missing":
            headers.pop("Authorization", None)
        elif facets.auth == "not-oauth":
            headers["Authorization"] = "Bearer zscheck"
        key = "changeImageState" if dialect == "rest" else "params"
        params: dict[str, Any] = {} if facets.event == "missing" else {"stateEvent": event}
        bodies: dict[str, bytes] = {
            "action": _wire.json_body({key: params}),
            "wrong-key": _wire.json_body({"params" if dialect == "rest" else "changeImageState": params}),
            "empty": b"",
            "not-json": b'{"changeImageState": {"stateEvent": ',
            "not-object": _wire.json_body({key: event if isinstance(event, str) else "enable"}),
            "bad-tags": _wire.json_body({key: params, "systemTags": "not-a-list"}),
        }
        return WireRequest(base.method, base.path, headers, bodies[facets.body])

    def query(self, image: str) -> dict[str, Any] | None:
        _check_interrupt()
        return self.main.get_image(image)
