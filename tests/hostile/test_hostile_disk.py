"""Item 3 of issue 15: a full disk. While it is full, changes are refused (500, or the job's SYS.1000) and
none of them is committed, reads still answer, and the failure is logged once, not once per request; once
space is freed, the next change succeeds without a restart, and after a restart every image holds the
state its last acknowledged change set.

Two ways to fill it: a real one, a 4 MiB tmpfs filled by a file until ENOSPC (needs root to mount; SQLite
then fails the WAL append at COMMIT), and SQLite's own `PRAGMA max_page_count` (anywhere; the insert that
needs a page fails). Both go through the same paths."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client
from zscheck.refserver import RunningServer

EVENTS = ("disable", "enable")


def _episode(
    make_server: ServerFactory,
    db: str,
    fill: Callable[[RunningServer], None],
    free: Callable[[RunningServer], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = make_server(db=db)
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        images = image_uuids(zs)
        expected: dict[str, str] = {}
        for image in images:
            result = zs.change_state(image, "disable")
            assert result.ok
            expected[image] = result.inventory["state"]
        fill(server)
        caplog.clear()
        refused = 0
        for n in range(400):
            image = images[n % len(images)]
            result = zs.change_state(image, EVENTS[(n // len(images) + 1) % 2])
            if result.ok:  # a write that found room (a WAL frame reused): acknowledged, so it must stay
                expected[image] = result.inventory["state"]
                continue
            refused += 1
            assert result.final.status in (500, 503), result.final.text()
            if result.final.status == 503:
                assert result.final.json["error"]["code"] == "SYS.1000"
        assert refused >= 300, refused
        query = zs.query_images()  # reads answer, and memory holds only what was committed
        assert query.ok, query.final.text()
        assert {i["uuid"]: i["state"] for i in query.data["inventories"]} == expected
        errors = [r for r in caplog.records if r.name == "zscheck.refserver" and r.levelno >= logging.ERROR]
        assert 1 <= len(errors) <= 3, [r.getMessage() for r in errors]  # once per episode, not per request
        assert not any(r.exc_info for r in caplog.records), "a traceback was logged"
        free(server)
        result = zs.change_state(images[0], "enable")  # no restart
        assert result.ok, result.final.text()
        expected[images[0]] = "Enabled"
    server.stop()
    again = make_server(db=db)
    with Client(again.url) as zs:
        zs.login("admin", PASSWORD)
        assert {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]} == expected


def test_database_full_by_max_page_count(
    make_server: ServerFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def limit(server: RunningServer, pages: int | None) -> None:
        store = server.server.store
        assert store is not None
        db = store._db
        server.call(
            lambda: db.execute(
                f"PRAGMA max_page_count = {pages or db.execute('PRAGMA page_count').fetchone()[0]}"
            ).fetchone()
        )

    _episode(make_server, str(tmp_path / "full.db"), lambda s: limit(s, None), lambda s: limit(s, 1 << 30), caplog)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root only): {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_for_real(make_server: ServerFactory, tiny_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    filler = tiny_disk / "filler"

    def fill(_: RunningServer) -> None:
        with filler.open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"x" * 4096)
            except OSError:
                pass  # ENOSPC: the disk is full

    _episode(make_server, str(tiny_disk / "full.db"), fill, lambda _: filler.unlink(), caplog)
