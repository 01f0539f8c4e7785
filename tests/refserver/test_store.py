"""Durability: an acknowledged change survives a clean restart and a `kill -9`."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess, ServerFactory, image_uuids
from zscheck import Client
from zscheck.refserver.store import Store, StoreError


def test_change_survives_a_restart(make_server: ServerFactory, db_path: str) -> None:
    first = make_server(db=db_path)
    with Client(first.url) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[2]
        assert zs.change_state(image, "disable").ok
    first.stop()
    second = make_server(db=db_path, seed_images=99)  # seeding happens on the first start only
    with Client(second.url) as zs:
        zs.login("admin", PASSWORD)
        assert len(image_uuids(zs)) == 16
        assert zs.get_image(image)["state"] == "Disabled"


@pytest.mark.slow
def test_every_acknowledged_change_survives_kill_9(serve_process: Callable[..., ServeProcess], db_path: str) -> None:
    proc = serve_process("--db", db_path)
    expected: dict[str, str] = {}
    with Client(proc.url) as zs:
        zs.login("admin", PASSWORD)
        images = image_uuids(zs)
        for i in range(60):
            image, event = images[i % len(images)], ("disable", "enable")[(i // len(images)) % 2]
            result = zs.change_state(image, event)
            assert result.ok
            expected[image] = result.inventory["state"]
    os.kill(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(10)
    again = serve_process("--db", db_path)
    with Client(again.url) as zs:
        zs.login("admin", PASSWORD)
        for image, state in expected.items():
            assert zs.get_image(image)["state"] == state


def test_sessions_survive_a_restart(make_server: ServerFactory, db_path: str) -> None:
    first = make_server(db=db_path)
    with Client(first.url) as zs:
        session = zs.login("admin", PASSWORD)
    first.stop()
    second = make_server(db=db_path)
    with Client(second.url) as zs:
        assert zs.session_valid(session)


def test_job_pending_at_a_restart_is_not_run_again(make_server: ServerFactory, db_path: str) -> None:
    """ZStack's AsyncRestVO row stays `processing` across a restart (§10): polls answer 202 until it expires."""
    from zscheck import _wire

    first = make_server(db=db_path, job_delay=30.0)
    with Client(first.url) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        accepted = zs.send(_wire.change_state(image, "disable", zs.session.uuid))
        assert accepted.status == 202
    first.stop()  # the job was still processing
    second = make_server(db=db_path)
    with Client(second.url) as zs:
        zs.login("admin", PASSWORD)
        pending = zs.send(_wire.poll(accepted.json["location"]))
        assert (pending.status, pending.body) == (202, b"{}")
        assert zs.get_image(image)["state"] == "Enabled"  # the change was never made
    second.stop()
    third = make_server(db=db_path, job_ttl=1.0)
    time.sleep(1.1)
    third.call(third.server.app.maintain)
    with Client(third.url) as zs:
        assert zs.send(_wire.poll(accepted.json["location"])).status == 404  # expiry counts from creation


def test_unreadable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"cannot open the database .*garbage\.db"):
        Store(str(bad))
