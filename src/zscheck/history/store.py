"""The run store: run records in SQLite (a file, the default) or PostgreSQL (a `postgresql://` URL, so that
ephemeral CI runners share one history), with the queries compare and trend need, and JSON lines in and out.

Both backends hold the same one table: the columns a query filters on, and the whole record as JSON text
(`body`), so what comes back is exactly what went in, typed again by `RunRecord.from_json`. The store's
own layout is versioned (`STORE_VERSION` in table `zscheck_store`): a store written by a newer layout is
refused with the version it has, rather than misread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from zscheck.errors import ZscheckError
from zscheck.history.record import RecordError, RunRecord

STORE_VERSION = 1
DEFAULT_STORE = "reports/history.sqlite"
OFF = "off"  # `--store off`: record nothing

_COLUMNS = (
    "id",
    "command",
    "verdict",
    "exit_code",
    "started",
    "recorded",
    "target",
    "target_version",
    "dialect",
    "seed",
    "scenario",
    "harness_version",
    "host_name",
    "body",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS zscheck_store (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs ("
    " id TEXT PRIMARY KEY, command TEXT NOT NULL, verdict TEXT NOT NULL, exit_code INTEGER NOT NULL,"
    " started DOUBLE PRECISION NOT NULL, recorded DOUBLE PRECISION NOT NULL, target TEXT NOT NULL,"
    " target_version TEXT, dialect TEXT, seed BIGINT, scenario TEXT, harness_version TEXT NOT NULL,"
    " host_name TEXT, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS runs_by_series ON runs (command, target, scenario, started)",
)


class StoreError(ZscheckError):
    """The store cannot be opened, read or written: which store, what went wrong, the fix."""


@dataclass(frozen=True)
class Query:
    """Which runs: every field given narrows it; newest first, at most `limit`."""

    command: str | None = None
    target: str | None = None
    scenario: str | None = None
    verdict: str | None = None
    host: str | None = None
    limit: int | None = None


class _Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class Store:
    """An open store. Use as a context manager, or call `close()`."""

    def __init__(self, connection: _Connection, where: str, placeholder: str) -> None:
        self._db = connection
        self.where = where  # the path or the URL with its password masked, for messages
        self._ph = placeholder
        self._prepare()

    # ------------------------------------------------------------------ life

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", self._ph)

    def _run(self, text: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self._db.execute(self._sql(text), params)
        except Exception as exc:  # sqlite3.Error or psycopg.Error: both become one line with the store named
            raise StoreError(f"store {self.where}: {type(exc).__name__}: {exc}".strip()) from exc

    def _prepare(self) -> None:
        for ddl in _DDL:
            self._run(ddl)
        rows = self._run("SELECT version FROM zscheck_store").fetchall()
        if not rows:
            self._run("INSERT INTO zscheck_store (version) VALUES (?)", (STORE_VERSION,))
        elif int(rows[0][0]) > STORE_VERSION:
            raise StoreError(
                f"store {self.where}: its layout is version {rows[0][0]}, this zscheck knows up to "
                f"{STORE_VERSION}: use a newer zscheck, or another --store"
            )
        self._db.commit()

    # ------------------------------------------------------------------ writing

    def add(self, record: RunRecord) -> bool:
        """Store `record`; False (and nothing changed) when a run with its id is already there."""
        if self._run("SELECT 1 FROM runs WHERE id = ?", (record.id,)).fetchall():
            return False
        values = (
            record.id,
            record.command,
            record.verdict,
            record.exit_code,
            record.started,
            record.recorded,
            record.target,
            record.target_version,
            record.dialect,
            record.seed,
            record.scenario,
            record.harness_version,
            record.host.get("name"),
            json.dumps(record.to_json(), sort_keys=True),
        )
        self._run(f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", values)
        self._db.commit()
        return True

    # ------------------------------------------------------------------ reading

    def find(self, run_id: str) -> RunRecord | None:
        """The run with exactly this id, or None."""
        rows = self._run("SELECT body FROM runs WHERE id = ?", (run_id,)).fetchall()
        return self._record(rows[0][0]) if rows else None

    def get(self, run_id: str) -> RunRecord:
        """The run with this id, or the one run whose id starts with it."""
        rows = self._run("SELECT body FROM runs WHERE id = ?", (run_id,)).fetchall()
        if not rows:
            rows = self._run("SELECT body FROM runs WHERE id LIKE ? ORDER BY id", (run_id + "%",)).fetchall()
        if len(rows) != 1:
            problem = "no run" if not rows else f"{len(rows)} runs"
            raise StoreError(
                f"store {self.where}: {problem} with id {run_id!r}: `zscheck runs list` shows the ids"
                + ("; give more of it" if rows else "")
            )
        return self._record(rows[0][0])

    def query(self, query: Query = Query()) -> list[RunRecord]:
        where, params = [], []
        for column, value in (
            ("command", query.command),
            ("target", query.target),
            ("scenario", query.scenario),
            ("verdict", query.verdict),
            ("host_name", query.host),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        text = "SELECT body FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        text += " ORDER BY started DESC, id DESC"
        if query.limit is not None:
            text += f" LIMIT {int(query.limit)}"
        return [self._record(row[0]) for row in self._run(text, params).fetchall()]

    def __iter__(self) -> Iterator[RunRecord]:
        """Every run, oldest first (the order an export replays in)."""
        return iter(reversed(self.query()))

    def _record(self, body: str) -> RunRecord:
        try:
            return RunRecord.from_json(json.loads(body), f"store {self.where}")
        except (ValueError, RecordError) as exc:
            raise StoreError(f"store {self.where}: a stored run does not read back: {exc}") from exc

    # ------------------------------------------------------------------ JSON lines

    def export_lines(self, out: IO[str], runs: Iterable[RunRecord] | None = None) -> int:
        """Every run (or `runs`) as one JSON object per line, oldest first; the number written."""
        n = 0
        for record in self if runs is None else runs:
            out.write(json.dumps(record.to_json(), sort_keys=True) + "\n")
            n += 1
        return n

    def import_lines(self, lines: Iterable[str], source: str) -> tuple[int, int]:
        """Runs from JSON lines (a CI artifact): (added, already there). Nothing is added unless every
        line reads, so a truncated file does not leave half of itself behind."""
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{source}:{number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise StoreError(f"{where}: not JSON ({exc}); each line must be one `zscheck runs export` run") from exc
            try:
                records.append(RunRecord.from_json(data, where))
            except RecordError as exc:
                raise StoreError(str(exc)) from exc
        added = sum(self.add(record) for record in records)
        return added, len(records) - added


def masked(spec: str) -> str:
    """A store's name for messages: `postgresql://user:secret@host/db` shows no password."""
    if "://" in spec and "@" in spec:
        scheme, rest = spec.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"
    return spec


def open_store(spec: str, *, existing: bool = False) -> Store:
    """The store named by `spec`: a `postgresql://` (or `postgres://`) URL, else an SQLite file's path.
    `existing`: a command that only reads it (runs, compare, trend) refuses an SQLite file that is not
    there, so a mistyped path is said, not read as an empty store and left behind as an empty file."""
    if spec.startswith(("postgresql://", "postgres://")):
        return _open_postgres(spec)
    path = Path(spec)
    if existing and not path.is_file():
        raise StoreError(
            f"store {spec}: no such file: nothing was recorded there; check the path (every command records "
            "into reports/history.sqlite unless --store says otherwise)"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30)  # concurrent CI jobs on one file wait, not fail
        connection.execute("PRAGMA journal_mode=WAL")
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"store {spec}: cannot open it as an SQLite file ({exc}); give --store a writable path"
        ) from exc
    return Store(connection, spec, "?")


def _open_postgres(url: str) -> Store:
    try:
        import psycopg  # the optional extra `zscheck[postgres]`: SQLite needs nothing
    except ImportError as exc:
        raise StoreError(
            f"store {masked(url)}: PostgreSQL needs the psycopg driver: pip install 'zscheck[postgres]'"
        ) from exc
    try:
        connection = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"store {masked(url)}: cannot connect ({str(exc).strip()})") from exc
    return Store(connection, masked(url), "%s")
