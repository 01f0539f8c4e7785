"""Items 1 and 2 of issue 15: one request's write that cannot be stored never takes other clients' jobs with
it, never leaves a job at 202, and never spoils the database for a later start.

ZStack's answer to a lone surrogate (`"\\ud800"`, legal JSON): Gson reads it into a Java String, and Java's
UTF-8 encoder (JDBC on the way to MySQL, the servlet writer on the way out) turns it into `?`. So the
reference server replaces it at the door: stateEvent `"\\ud800"` is the usual SYS.1007 naming `?`, and an
updateImage name `"\\ud800"` is stored and echoed as `?`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile_http import login, pipeline, put_action, state_body

from tests.conftest import PASSWORD, ServeProcess, ServerFactory, image_uuids
from zscheck import Client, _wire
from zscheck.refserver.store import Job, Store, WriteError

SURROGATE_STATE = b'{"changeImageState":{"stateEvent":"\\ud800"}}'
SURROGATE_NAME = b'{"updateImage":{"name":"a\\ud800b"}}'


def poll_until_done(zs: Client, location: str, budget: float = 5.0) -> tuple[int, Any]:
    deadline = time.monotonic() + budget
    while True:
        answer = zs.send(_wire.poll(location))
        if answer.status != 202 or time.monotonic() > deadline:
            return answer.status, answer.json
        time.sleep(0.05)


@pytest.mark.parametrize("job_delay", [0.0, 0.2])
def test_a_lone_surrogate_is_an_ordinary_error_and_others_jobs_commit(
    make_server: ServerFactory, db_path: str, job_delay: float
) -> None:
    server = make_server(db=db_path, job_delay=job_delay)
    session = login(server.url)
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        images = image_uuids(zs)
    honest = [put_action(image, state_body("disable"), session) for image in images[:8]]
    hostile = [put_action(images[8], SURROGATE_STATE, session), put_action(images[9], SURROGATE_NAME, session)]
    answers = pipeline(server.url, honest[:4] + hostile + honest[4:])  # one write: one turn, one batch
    assert [status for status, _ in answers] == [202] * 10, answers
    with Client(server.url) as zs:
        results = [poll_until_done(zs, body["location"]) for _, body in answers]
        assert [status for status, _ in results] == [200, 200, 200, 200, 503, 200, 200, 200, 200, 200], results
        assert results[4][1]["error"]["code"] == "SYS.1007" and "but ? found" in results[4][1]["error"]["details"]
        assert results[5][1]["inventory"]["name"] == "a?b"
        zs.login("admin", PASSWORD)
        assert zs.change_state(images[9], "disable").ok  # the image renamed with ? is an image like any other
    server.stop()
    again = make_server(db=db_path)
    with Client(again.url) as zs:
        zs.login("admin", PASSWORD)
        for image in images[:8]:
            assert zs.get_image(image)["state"] == "Disabled"
        assert zs.get_image(images[9])["name"] == "a?b"
        for _, body in answers:  # every accepted job still answers, none expired, none processing
            assert zs.send(_wire.poll(body["location"])).status in (200, 503)


@pytest.mark.slow
def test_serve_starts_on_a_database_that_met_the_hostile_requests(
    serve_process: Callable[..., ServeProcess], db_path: str
) -> None:
    proc = serve_process("--db", db_path, "--job-delay", "0.3")
    session = login(proc.url)
    with Client(proc.url) as zs:
        zs.login("admin", PASSWORD)
        images = image_uuids(zs)
    answers = pipeline(proc.url, [put_action(images[0], SURROGATE_STATE, session)] * 3)
    assert all(status == 202 for status, _ in answers)
    proc.stop()  # kill -9 while the jobs are pending
    again = serve_process("--db", db_path)
    with Client(again.url) as zs:
        for _, body in answers:
            assert zs.send(_wire.poll(body["location"])).status == 202  # pending at the kill: stays processing


def _batch_store(path: Path) -> tuple[Store, list[Callable[[], None]]]:
    store = Store(str(path))
    turn: list[Callable[[], None]] = []
    store.enable_group_commit(turn.append)
    return store, turn


def test_a_write_sqlite_refuses_is_undone_alone(tmp_path: Path) -> None:
    """Below the door: whatever a write carries that SQLite refuses, the batch's other writes commit."""
    store, turn = _batch_store(tmp_path / "s.db")
    store.save_job(Job("a" * 32, done=True, status=200, payload="{}"))
    with pytest.raises(WriteError, match="cannot store"):
        store.save_job(Job("b" * 32, done=True, status=200, payload='{"x":"\ud800"}'))
    with pytest.raises(WriteError):
        store.save_job(Job("c" * 32, done=True, status=2**70, payload="{}"))
    store.save_job(Job("d" * 32, done=True, status=200, payload="{}"))
    assert len(turn) == 1
    turn[0]()  # the next turn: the batch commits
    assert [store.get_job(u * 32) is not None for u in "abcd"] == [True, False, False, True]
    store.close()
    reopened = Store(str(tmp_path / "s.db"))
    assert [reopened.get_job(u * 32) is not None for u in "abcd"] == [True, False, False, True]
    reopened.close()


def test_a_job_whose_write_fails_ends_with_an_error_not_at_202(make_server: ServerFactory) -> None:
    """If an API's write still fails (a bug, a value no check foresaw), the job answers SYS.1000."""
    server = make_server()
    app = server.server.app
    assert app is not None
    original = app.store.set_state

    def failing(image: dict[str, Any], job: Job | None = None) -> None:
        original(dict(image, state="\ud800"), job)

    server.call(lambda: setattr(app.store, "set_state", failing))
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        accepted = zs.call(_wire.change_state(image, "disable", zs.session.uuid if zs.session else ""), follow=False)
        status, body = poll_until_done(zs, accepted.final.json["location"])
        assert status == 503 and body["error"]["code"] == "SYS.1000", body
        server.call(lambda: setattr(app.store, "set_state", original))
        assert zs.get_image(image)["state"] == "Enabled"
        assert zs.change_state(image, "disable").ok
