"""Item 7 of issue 15: `zscheck serve --db FILE` on files that are not a good zscheck database. Each is
refused with one line and exit 2, the file left as it was; an older zscheck file and an empty one open."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess
from zscheck import Client
from zscheck.refserver.store import SCHEMA_VERSION, Store

pytestmark = pytest.mark.slow


def _zscheck_file(path: Path) -> None:
    Store(str(path)).close()


def _sql(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def text_file(path: Path) -> None:
    path.write_text("[tool.zscheck]\ntarget = 'http://127.0.0.1:8080'\n" * 50)


def truncated(path: Path) -> None:
    _zscheck_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def damaged_pages(path: Path) -> None:
    _zscheck_file(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(page, len(data), page):  # every page but the first: the tables' b-trees
        data[start : start + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


def other_application(path: Path) -> None:
    _sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)", "INSERT INTO users VALUES (1, 'a@b')")


def other_schema_same_names(path: Path) -> None:
    _sql(path, "CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT)")


def zscheck_plus_foreign_table(path: Path) -> None:
    _zscheck_file(path)
    _sql(path, "CREATE TABLE orders (id INTEGER)")


def newer_zscheck(path: Path) -> None:
    _zscheck_file(path)
    _sql(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


def foreign_version_no_tables(path: Path) -> None:
    _sql(path, "PRAGMA user_version = 42")


def unreadable_row(path: Path) -> None:
    _zscheck_file(path)
    _sql(path, "INSERT INTO images VALUES ('x', 'y', 1, '{not json')")


def a_directory(path: Path) -> None:
    path.mkdir()


REFUSED: list[tuple[Callable[[Path], None], str]] = [
    (random_bytes, "not a database"),
    (text_file, "not a database"),
    (truncated, "damaged"),
    (damaged_pages, "damaged"),
    (other_application, "not a zscheck database"),
    (other_schema_same_names, "lacks"),
    (zscheck_plus_foreign_table, "not a zscheck database"),
    (newer_zscheck, "newer zscheck"),
    (foreign_version_no_tables, "not a zscheck database"),
    (unreadable_row, "damaged"),
    (a_directory, "directory"),
]


def _digest(path: Path) -> str:
    return "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("make", "cause"), REFUSED, ids=[make.__name__ for make, _ in REFUSED])
def test_a_bad_database_is_refused_in_one_line(tmp_path: Path, make: Callable[[Path], None], cause: str) -> None:
    path = tmp_path / "bad.db"
    make(path)
    before = _digest(path)
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "serve", "--port", "0", "--db", str(path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("zscheck serve: error: ") and str(path) in lines[0], lines[0]
    assert cause in lines[0], lines[0]
    if make is not unreadable_row:  # found while loading, once the file had been opened for writing
        assert _digest(path) == before, "the refused file was changed"


def older_zscheck(path: Path) -> None:
    """A file from before the schema version and the `created` columns."""
    _sql(
        path,
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE accounts (uuid TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, password TEXT NOT NULL, "
        "type TEXT NOT NULL)",
        "CREATE TABLE sessions (uuid TEXT PRIMARY KEY, account TEXT NOT NULL, created REAL NOT NULL, "
        "expires REAL NOT NULL)",
        "CREATE TABLE images (uuid TEXT PRIMARY KEY, owner TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL)",
        "CREATE TABLE api_jobs (uuid TEXT PRIMARY KEY, action TEXT, done INTEGER NOT NULL, status INTEGER, "
        "payload TEXT, request TEXT, finished REAL)",
    )


def empty_file(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("make", [older_zscheck, empty_file, _zscheck_file])
def test_good_files_open_and_get_the_schema_version(
    serve_process: Callable[..., ServeProcess], tmp_path: Path, make: Callable[[Path], None]
) -> None:
    path = tmp_path / "ok.db"
    make(path)
    proc = serve_process("--db", str(path))
    with Client(proc.url) as zs:
        zs.login("admin", PASSWORD)
        assert len(zs.query_images().data["inventories"]) == 16
    proc.stop()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
