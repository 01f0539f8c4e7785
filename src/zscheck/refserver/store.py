"""The reference server's durable state: accounts, sessions, images and api-jobs in SQLite.

Reads are served from memory; every change is written through and committed before the server
acknowledges it, so an acknowledged change survives a restart or `kill -9` (WAL with
synchronous=NORMAL is durable against a process crash; `durable_fsync` adds an fsync per commit for
power loss). The server is single-threaded, so there is no locking here.

Group commit: writes that finish an api-job join one transaction per event-loop turn, committed by
`flush()` at the start of the next turn. Until then their job results stay unpublished (a poll answers
202, "processing"), so no client sees a result that is not yet on disk; the server holds every answer
given while a batch is open until it commits (`after_commit`), so a 202 is never sent for a job that is
not saved.

Isolation: each write is a savepoint inside the batch, so one write that cannot be stored (a value
SQLite refuses) is undone alone and raises `WriteError`; the others commit. A batch whose commit fails
(a full disk) is rolled back whole, memory reloaded from the file, every answer it held becomes a 500,
and jobs accepted earlier whose results it carried get an error result instead: nothing answered 500
is committed and no job stays at 202. The next write starts afresh, so freeing space is the whole
recovery; the failure is logged once per episode, not once per request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sqlite3
import time
import uuid as uuidlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zscheck.refserver.model import ADMIN_UUID, error, sha512_hex

log = logging.getLogger("zscheck.refserver")

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
# PRAGMA user_version of the files this code writes. 0 is a file from before versioning (or a new one);
# a larger number is a newer zscheck's, which this one refuses rather than misread.
SCHEMA_VERSION = 1
# What a zscheck file holds: each table and the columns this code reads (migrations included).
_TABLES = {
    "meta": {"key", "value"},
    "accounts": {"uuid", "name", "password", "type", "created"},
    "sessions": {"uuid", "account", "created", "expires"},
    "images": {"uuid", "owner", "seq", "data"},
    "api_jobs": {"uuid", "action", "done", "status", "payload", "request", "finished", "created"},
}
_ORIGINAL = {table: columns - {c for t, c, _ in _MIGRATIONS if t == table} for table, columns in _TABLES.items()}


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


class WriteError(StoreError):
    """One write could not be stored (undone alone), or its batch could not be committed."""


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


def _sqlite_cause(exc: BaseException) -> str:
    """SQLite's words, with the likely reason when they are terse."""
    text = str(exc)
    if "locked" in text:
        return f"{text} (another zscheck serve uses it)"
    if "not a database" in text or "malformed" in text:
        return f"{text} (the file is damaged or not an SQLite database)"
    return text


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
        if path != ":memory:" and Path(path).is_dir():
            raise StoreError(f"cannot open the database {path}: it is a directory; give a file path to --db")
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from None
        try:
            # Before anything is written: a file that is not zscheck's is refused untouched.
            self._check_schema()
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
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot open the database {path}: {_sqlite_cause(exc)}") from None
        except StoreError:
            self._db.close()
            raise
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
        self._waiting: list[Callable[[bool], None]] = []  # told whether the open batch committed
        self._failed_results: dict[str, Job] = {}  # error results of jobs whose batch failed, to save again
        self._failing: str | None = None  # the error of the current failure episode, logged once
        self._wrote = False  # the open batch holds a write that succeeded: its commit ends an episode
        try:
            self._load()
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            self._db.close()
            raise StoreError(
                f"cannot read the database {path}: {_sqlite_cause(exc)}; it is damaged: restore a copy or "
                "start afresh with another --db"
            ) from None
        created = self.meta("created")
        self.created = float(created) if created is not None else time.time()
        if created is None:
            self.set_meta("created", str(self.created))

    # -- opening, loading and seeding ---------------------------------------------------------------

    def _check_schema(self) -> None:
        """Refuse, before writing anything, a file this code would misread or spoil: another application's
        SQLite file, a schema whose tables lack columns this code reads, a newer zscheck's file."""
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {str(row[0]) for row in rows if not str(row[0]).startswith("sqlite_")}
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if not tables:
            if version:
                raise StoreError(f"{self.path} is not a zscheck database (user_version {version}, no tables)")
            return  # a new file
        # A damaged b-tree is found now, by a read, rather than half-way through loading (or later, by a
        # write): quick_check reads every page once (milliseconds for the files a load test leaves).
        problem = " ".join(str(self._db.execute("PRAGMA quick_check(1)").fetchone()[0]).split())
        if problem != "ok":
            raise StoreError(
                f"cannot open the database {self.path}: it is damaged ({problem}); restore a copy or give another --db"
            )
        unknown = sorted(tables - set(_TABLES))
        if unknown:
            raise StoreError(
                f"{self.path} is not a zscheck database: it holds tables zscheck never writes "
                f"({', '.join(unknown[:6])}); give another --db"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer zscheck (schema version {version}; this one reads up "
                f"to {SCHEMA_VERSION}): run that version, or give another --db"
            )
        for table in sorted(tables):  # a table missing whole is created; one that exists must be ours
            columns = {str(row[1]) for row in self._db.execute(f'PRAGMA table_info("{table}")')}
            missing = sorted(_ORIGINAL[table] - columns)
            if missing:
                raise StoreError(
                    f"{self.path} is not a zscheck database of a known schema: its table {table} lacks "
                    f"{', '.join(missing)}; give another --db"
                )

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
        if account_uuid not in self.accounts:
            return
        with self._transaction():  # first: memory changes only once the database has
            self._db.execute("DELETE FROM accounts WHERE uuid = ?", (account_uuid,))
            self._db.execute("DELETE FROM sessions WHERE account = ?", (account_uuid,))
        del self.accounts[account_uuid]
        for session_uuid in [s.uuid for s in self.sessions.values() if s.account == account_uuid]:
            del self.sessions[session_uuid]
            self._ended(session_uuid)

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
        # A renewal that cannot be written (a full disk) is kept in memory: a read must not fail for it.
        if expires - session.persisted_expires >= 1.0:
            with contextlib.suppress(WriteError), self._transaction():
                self._db.execute("UPDATE sessions SET expires = ? WHERE uuid = ?", (expires, session.uuid))
                session.persisted_expires = expires

    def _ended(self, session_uuid: str) -> None:
        self.ended_sessions[session_uuid] = None
        while len(self.ended_sessions) > ENDED_SESSIONS:
            self.ended_sessions.popitem(last=False)

    def drop_session(self, session_uuid: str) -> None:
        if session_uuid in self.sessions:
            with self._transaction():
                self._db.execute("DELETE FROM sessions WHERE uuid = ?", (session_uuid,))
            del self.sessions[session_uuid]
        self._ended(session_uuid)

    def drop_expired_sessions(self, now: float) -> int:
        expired = [s.uuid for s in self.sessions.values() if s.expires <= now]
        if expired:
            with self._transaction():
                self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
        for session_uuid in expired:
            del self.sessions[session_uuid]
            self._ended(session_uuid)
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
        self._write_job_row(job)
        self._job_ids.add(job.uuid)
        if job.done:
            self._unpublished[job.uuid] = job

    def _write_job_row(self, job: Job) -> None:
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

    # -- plumbing ---------------------------------------------------------------------------------------------

    def enable_group_commit(self, schedule: Callable[[Callable[[], None]], Any]) -> None:
        """Commit job-finishing writes once per event-loop turn; `schedule` is the loop's call_soon."""
        self._schedule = schedule

    @property
    def uncommitted(self) -> bool:
        """A batch is open: an answer given now must wait for `after_commit`."""
        return self._open

    def after_commit(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(committed)` once the open batch has committed (True) or failed (False)."""
        if not self._open:
            callback(True)
            return
        self._waiting.append(callback)

    def _begin(self) -> None:
        if self._open:
            return
        self._db.execute("BEGIN")
        self._open = True
        for job in self._failed_results.values():  # error results a failed batch could not save
            self._write_job_row(job)

    @contextlib.contextmanager
    def _transaction(self, *, deferred: bool = False) -> Iterator[sqlite3.Connection]:
        """A write, as a savepoint of the open batch. Deferred writes join the turn's batch; any other
        write commits at once (and with it whatever the turn had deferred). A write that fails is undone
        alone and raises WriteError; the batch goes on."""
        try:
            self._begin()
            self._db.execute("SAVEPOINT write")
        except sqlite3.Error as exc:
            self._batch_failed(exc)
            raise WriteError(f"cannot write to the database {self.path}: {exc}") from None
        if deferred and self._schedule is not None and not self._flush_scheduled:
            self._flush_scheduled = True
            self._schedule(self._flush_soon)
        try:
            yield self._db
            self._db.execute("RELEASE write")
            self._wrote = True
        except (sqlite3.Error, UnicodeError, OverflowError, ValueError) as exc:
            self._undo_write(exc)
            if not (deferred and self._flush_scheduled):
                self.flush()
            raise WriteError(f"cannot store this change in {self.path}: {exc}") from None
        except BaseException as exc:
            self._undo_write(exc)
            raise
        if not (deferred and self._flush_scheduled):
            self.flush()

    def _undo_write(self, exc: BaseException) -> None:
        """Undo the failed write only; if SQLite rolled back the whole batch itself (it may, on a full
        disk or an I/O error), the batch has failed."""
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK TO write")
                self._db.execute("RELEASE write")
                return
            except sqlite3.Error as again:
                exc = again
        self._batch_failed(exc)

    def flush(self) -> None:
        """Commit the open batch, then publish the job results it carried. A failed commit is answered
        by `_batch_failed` and raises WriteError."""
        self._flush_scheduled = False
        if not self._open:
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._batch_failed(exc)
            raise WriteError(f"cannot commit to the database {self.path}: {exc}") from None
        self._open = False
        if self._failing is not None and self._wrote:
            log.warning("the database %s is written again (after: %s)", self.path, self._failing)
            self._failing = None
        self._wrote = False
        self._failed_results.clear()
        for job in self._unpublished.values():
            self._recent[job.uuid] = job
        self._unpublished.clear()
        while len(self._recent) > RECENT_JOBS:
            self._recent.popitem(last=False)
        self._tell(True)

    def _flush_soon(self) -> None:
        """The scheduled flush: a failure has been answered (500s, error results) and logged once."""
        with contextlib.suppress(WriteError):
            self.flush()

    def _tell(self, committed: bool) -> None:
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback(committed)

    def _batch_failed(self, exc: BaseException) -> None:
        """The batch is lost: roll back, give the jobs accepted earlier an error result (their 202 is
        out), reload memory from the file, and tell the held answers (they become 500s)."""
        if self._failing is None:
            self._failing = str(exc)
            log.error(
                "cannot write the database %s: %s; changes are refused (500) until it can be written again",
                self.path,
                exc,
            )
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        self._open = False
        self._flush_scheduled = False
        self._wrote = False
        lost = list(self._unpublished.values())
        self._unpublished.clear()
        self._reload()
        for job in lost:
            if job.uuid in self._job_ids:  # saved as pending before: accepted, so it needs a result
                failed = Job(
                    job.uuid,
                    done=True,
                    status=503,
                    payload=json.dumps(
                        {"error": error("SYS.1000", f"the job's result could not be saved: {exc}")},
                        separators=(",", ":"),
                    ),
                    action=job.action,
                    created=job.created,
                )
                self.keep_failed(failed)
        self._tell(False)

    def keep_failed(self, job: Job) -> None:
        """A finished job whose result cannot be saved now: answered from memory, saved with the next
        batch that commits (a restart before then finds it pending, as ZStack would)."""
        self._failed_results[job.uuid] = job
        self._recent[job.uuid] = job
        self._job_ids.add(job.uuid)

    def _reload(self) -> None:
        """Memory as the file has it: it must not keep what the database lost."""
        self.accounts.clear()
        self.sessions.clear()
        self.images.clear()
        self.owners.clear()
        self._job_ids.clear()
        self._load()
        self._job_ids.update(self._failed_results)
        for image_uuid in self.versions:
            self.versions[image_uuid] += 1

    def close(self) -> None:
        with contextlib.suppress(WriteError):
            self.flush()
        self._db.close()
