"""The reference server's durable state: accounts, sessions, images and api-jobs in SQLite.

Reads are served from memory; every change is written through and committed before the server
acknowledges it, so an acknowledged change survives a restart or `kill -9` (WAL with
synchronous=NORMAL is durable against a process crash; `durable_fsync` adds an fsync per commit for
power loss). The server is single-threaded, so there is no locking here.

Group commit: writes that finish an api-job join one transaction per event-loop turn, committed by
`flush()` at the start of the next turn. Until then their job results stay unpublished (a poll answers
202, "processing"), so no client sees a result that is not yet on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
import uuid as uuidlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zscheck.refserver.model import ADMIN_UUID, sha512_hex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    uuid TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, password TEXT NOT NULL, type TEXT NOT NULL,
    created REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (
    uuid TEXT PRIMARY KEY, account TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    uuid TEXT PRIMARY KEY, owner TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_jobs (
    uuid TEXT PRIMARY KEY, action TEXT, done INTEGER NOT NULL, status INTEGER, payload TEXT,
    request TEXT, finished REAL, created REAL);
"""
# Columns added since the first release: (table, column, declaration), added to older databases on open.
_MIGRATIONS = (("accounts", "created", "REAL NOT NULL DEFAULT 0"), ("api_jobs", "created", "REAL"))


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


@dataclass(slots=True)
class Account:
    uuid: str
    name: str
    password: str  # SHA-512 hex, as ZStack stores it
    type: str  # "SystemAdmin" or "Normal"
    created: float = 0.0


@dataclass(slots=True)
class Session:
    uuid: str
    account: str
    created: float
    expires: float
    persisted_expires: float


@dataclass(slots=True)
class Job:
    uuid: str
    done: bool
    status: int | None = None
    payload: str | None = None  # the JSON body of the result, without `schema`
    request: Any = None  # what was asked (jobs.JobRequest; a dict when read back), kept on disk while pending
    action: str | None = None
    with_schema: bytes | None = None  # the payload with `schema` added, built on the first poll that asks
    created: float = 0.0  # when the job was accepted: its expiry counts from here (MysqlAsyncRestStore)


ENDED_SESSIONS = 100_000
RECENT_JOBS = 2000  # RestGlobalProperty.MAX_CACHED_API_RESULTS: polls of recent jobs never touch the disk


def _record(value: Any) -> Any:
    """A job's request (a dataclass) as JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def new_uuid() -> str:
    return uuidlib.uuid4().hex


class Store:
    def __init__(self, path: str, *, durable_fsync: bool = False) -> None:
        self.path = path
        if path != ":memory:":
            parent = Path(path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the data directory {parent}: {exc.strerror}") from None
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # One process owns the file: exclusive locking saves the lock system calls of every transaction.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable_fsync else 'NORMAL'}")
            # Fewer, larger WAL checkpoints: each one syncs, and a load test writes on every request.
            self._db.execute("PRAGMA wal_autocheckpoint=10000")
            # Job rows are appended at the end of the table; the uuid index must stay in memory to be cheap.
            self._db.execute("PRAGMA cache_size=-32768")
            self._db.executescript(_SCHEMA)
            for table, column, declaration in _MIGRATIONS:
                columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from None
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, str] = {}
        # Sessions logged out or expired since the start (at most ENDED_SESSIONS): told apart from ids
        # never issued, for a fault that treats those differently.
        self.ended_sessions: OrderedDict[str, None] = OrderedDict()
        # Bumped by every write except a state change: lets the app cache what only those writes alter.
        self.versions: dict[str, int] = {}
        self._seq = 0
        self._job_ids: set[str] = set()
        self._recent: OrderedDict[str, Job] = OrderedDict()
        self._unpublished: dict[str, Job] = {}  # done, in the open transaction, not yet committed
        self._open = False
        self._flush_scheduled = False
        self._schedule: Callable[[Callable[[], None]], Any] | None = None
        self._load()
        created = self.meta("created")
        self.created = float(created) if created is not None else time.time()
        if created is None:
            self.set_meta("created", str(self.created))

    # -- loading and seeding --------------------------------------------------------------------------

    def _load(self) -> None:
        db = self._db
        for row in db.execute("SELECT uuid, name, password, type, created FROM accounts"):
            self.accounts[row[0]] = Account(*row)
        for row in db.execute("SELECT uuid, account, created, expires FROM sessions"):
            self.sessions[row[0]] = Session(row[0], row[1], row[2], row[3], row[3])
        for image_uuid, owner, seq, data in db.execute("SELECT uuid, owner, seq, data FROM images ORDER BY seq"):
            self.images[image_uuid] = json.loads(data)
            self.owners[image_uuid] = owner
            self._seq = max(self._seq, seq)
        self._job_ids.update(row[0] for row in db.execute("SELECT uuid FROM api_jobs"))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def ensure_account(self, name: str, password: str, type_: str, uuid: str | None = None) -> Account:
        for account in self.accounts.values():
            if account.name == name:
                return account
        return self.add_account(name, sha512_hex(password), type_, uuid)

    def add_account(
        self, name: str, password_hash: str, type_: str, uuid: str | None = None, created: float | None = None
    ) -> Account:
        """A new account; the password is stored as given (CreateAccount stores what the client sent)."""
        when = float(int(time.time())) if created is None else created
        account = Account(uuid or new_uuid(), name, password_hash, type_, when)
        with self._transaction():
            self._db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
                (account.uuid, account.name, account.password, account.type, account.created),
            )
        self.accounts[account.uuid] = account
        return account

    def remove_account(self, account_uuid: str) -> None:
        """The account and its sessions (its images are the caller's: see accounts.Accounts.delete_account)."""
        if self.accounts.pop(account_uuid, None) is None:
            return
        for session_uuid in [s.uuid for s in self.sessions.values() if s.account == account_uuid]:
            del self.sessions[session_uuid]
            self._ended(session_uuid)
        with self._transaction():
            self._db.execute("DELETE FROM accounts WHERE uuid = ?", (account_uuid,))
            self._db.execute("DELETE FROM sessions WHERE account = ?", (account_uuid,))

    def set_password(self, account_uuid: str, password: str) -> None:
        account = self.accounts[account_uuid]
        account.password = sha512_hex(password)
        with self._transaction():
            self._db.execute("UPDATE accounts SET password = ? WHERE uuid = ?", (account.password, account_uuid))

    def ensure_admin(self) -> Account:
        return self.ensure_account("admin", "password", "SystemAdmin", ADMIN_UUID)

    # -- sessions ---------------------------------------------------------------------------------------

    def add_session(self, account: str, timeout: float) -> Session:
        now = time.time()
        session = Session(new_uuid(), account, now, now + timeout, now + timeout)
        with self._transaction():
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session.uuid, account, now, session.expires))
        self.sessions[session.uuid] = session
        return session

    def renew_session(self, session: Session, expires: float) -> None:
        session.expires = expires
        # Sliding expiry moves on every call; writing it each time would put a commit on every query.
        # Persisting once a second loses at most one second of renewal on a crash.
        if expires - session.persisted_expires >= 1.0:
            with self._transaction():
                self._db.execute("UPDATE sessions SET expires = ? WHERE uuid = ?", (expires, session.uuid))
            session.persisted_expires = expires

    def _ended(self, session_uuid: str) -> None:
        self.ended_sessions[session_uuid] = None
        while len(self.ended_sessions) > ENDED_SESSIONS:
            self.ended_sessions.popitem(last=False)

    def drop_session(self, session_uuid: str) -> None:
        self._ended(session_uuid)
        if self.sessions.pop(session_uuid, None) is not None:
            with self._transaction():
                self._db.execute("DELETE FROM sessions WHERE uuid = ?", (session_uuid,))

    def drop_expired_sessions(self, now: float) -> int:
        expired = [s.uuid for s in self.sessions.values() if s.expires <= now]
        for session_uuid in expired:
            del self.sessions[session_uuid]
            self._ended(session_uuid)
        if expired:
            with self._transaction():
                self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
        return len(expired)

    # -- images -------------------------------------------------------------------------------------------

    def put_image(self, image: dict[str, Any], owner: str, job: Job | None = None) -> None:
        """Insert or replace an image; with `job`, record the job's result in the same transaction."""
        image_uuid = image["uuid"]
        if image_uuid not in self.images:
            self._seq += 1
        with self._transaction(deferred=job is not None):
            self._db.execute(
                "INSERT INTO images VALUES (?, ?, ?, ?) ON CONFLICT(uuid) DO UPDATE SET data = excluded.data",
                (image_uuid, owner, self._seq, json.dumps(image, separators=(",", ":"))),
            )
            if job is not None:
                self._write_job(job)
        self.images[image_uuid] = image
        self.owners[image_uuid] = owner
        self.versions[image_uuid] = self.versions.get(image_uuid, 0) + 1

    def set_state(self, image: dict[str, Any], job: Job | None = None) -> None:
        """The hot path of a state change: two fields updated in SQL, no re-serialising of the image."""
        with self._transaction(deferred=job is not None):
            self._db.execute(
                "UPDATE images SET data = json_set(data, '$.state', ?, '$.lastOpDate', ?) WHERE uuid = ?",
                (image["state"], image["lastOpDate"], image["uuid"]),
            )
            if job is not None:
                self._write_job(job)
        self.images[image["uuid"]] = image

    def remove_image(self, image_uuid: str, job: Job | None = None) -> None:
        with self._transaction(deferred=job is not None):
            self._db.execute("DELETE FROM images WHERE uuid = ?", (image_uuid,))
            if job is not None:
                self._write_job(job)
        self.images.pop(image_uuid, None)
        self.owners.pop(image_uuid, None)
        self.versions[image_uuid] = self.versions.get(image_uuid, 0) + 1

    # -- jobs -----------------------------------------------------------------------------------------------

    def job_exists(self, job_uuid: str) -> bool:
        return job_uuid in self._job_ids

    def get_job(self, job_uuid: str) -> Job | None:
        job = self._recent.get(job_uuid)
        if job is not None:
            return job
        if job_uuid in self._unpublished:
            return Job(job_uuid, done=False, action=self._unpublished[job_uuid].action)
        if job_uuid not in self._job_ids:
            return None
        row = self._db.execute(
            "SELECT done, status, payload, request, action, created FROM api_jobs WHERE uuid = ?", (job_uuid,)
        ).fetchone()
        if row is None:
            return None
        request = None if row[3] is None else json.loads(row[3])
        return Job(job_uuid, bool(row[0]), row[1], row[2], request, row[4], created=row[5] or 0.0)

    def save_job(self, job: Job) -> None:
        with self._transaction(deferred=True):
            self._write_job(job)

    def pending_jobs(self) -> list[Job]:
        rows = self._db.execute("SELECT uuid, request, action FROM api_jobs WHERE done = 0").fetchall()
        return [Job(uuid, False, request=json.loads(request), action=action) for uuid, request, action in rows]

    def expire_jobs(self, older_than: float) -> int:
        """Forget the jobs accepted before `older_than`, finished or not (the cleanup reads createDate).
        Rows from before the `created` column fall back to their finish time."""
        where = "COALESCE(created, finished) < ?"
        with self._transaction():
            expired = [row[0] for row in self._db.execute(f"SELECT uuid FROM api_jobs WHERE {where}", (older_than,))]
            self._db.execute(f"DELETE FROM api_jobs WHERE {where}", (older_than,))
        for job_uuid in expired:
            self._job_ids.discard(job_uuid)
            self._recent.pop(job_uuid, None)
        return len(expired)

    def _write_job(self, job: Job) -> None:
        # The request is kept only while the job is pending: it is what a restart must run.
        request = None if job.done or job.request is None else json.dumps(job.request, default=_record)
        self._db.execute(
            "INSERT OR REPLACE INTO api_jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.uuid,
                job.action,
                int(job.done),
                job.status,
                job.payload,
                request,
                time.time() if job.done else None,
                job.created or time.time(),
            ),
        )
        self._job_ids.add(job.uuid)
        if job.done:
            self._unpublished[job.uuid] = job

    # -- plumbing ---------------------------------------------------------------------------------------------

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], Any]) -> None:
        """Commit job-finishing writes once per event-loop turn; `schedule` is the loop's call_soon."""
        self._schedule = schedule

    @contextlib.contextmanager
    def _transaction(self, *, deferred: bool = False) -> Iterator[sqlite3.Connection]:
        """A write. Deferred writes join the turn's open transaction; any other write commits at once
        (and with it whatever the turn had deferred)."""
        if not self._open:
            self._db.execute("BEGIN")
            self._open = True
        if deferred and self._schedule is not None and not self._flush_scheduled:
            self._flush_scheduled = True
            self._schedule(self.flush)
        try:
            yield self._db
        except BaseException:
            self._abort()
            raise
        if not (deferred and self._flush_scheduled):
            self.flush()

    def flush(self) -> None:
        """Commit the open transaction, then publish the job results it carried."""
        self._flush_scheduled = False
        if not self._open:
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._abort()
            raise
        self._open = False
        for job in self._unpublished.values():
            self._recent[job.uuid] = job
        self._unpublished.clear()
        while len(self._recent) > RECENT_JOBS:
            self._recent.popitem(last=False)

    def _abort(self) -> None:
        """Roll back, and reload from disk: memory must not keep what the database lost."""
        if self._open:
            self._db.execute("ROLLBACK")
        self._open = False
        self._unpublished.clear()
        self.accounts.clear()
        self.sessions.clear()
        self.images.clear()
        self.owners.clear()
        self._job_ids.clear()
        self._load()
        for image_uuid in self.versions:
            self.versions[image_uuid] += 1

    def close(self) -> None:
        self.flush()
        self._db.close()
