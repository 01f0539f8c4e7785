"""The load operations over a plain wire (the client's transport), against real reference servers."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import get_type_hints

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, _wire
from zscheck._models import ApiResult, Exchange, Outcome
from zscheck._wire import WireRequest
from zscheck.checks import default_table
from zscheck.expiry import Stamp
from zscheck.load.driver import INVALID_FACETS, POLLS, Driver, Sessions
from zscheck.load.plan import LoadPlan
from zscheck.load.recorder import Recorder


@dataclass
class RecordingWire:
    """The `Wire` seam over the wire client: what locust would be told, kept in lists."""

    client: Client
    settled: list[tuple[str, str | None]] = field(default_factory=list)
    measured: list[tuple[str, str, str | None]] = field(default_factory=list)
    # Session drop: the next request sent with `live` goes with `dead` instead, so the server answers
    # ID.1001 while the live session stays valid (a server that rejects a live session, seen from the client).
    swap: tuple[str, str] | None = None

    def send(self, request: WireRequest, name: str) -> Exchange:
        if self.swap is not None and request.headers.get("Authorization") == f"OAuth {self.swap[0]}":
            request = replace(request, headers={**request.headers, "Authorization": f"OAuth {self.swap[1]}"})
            self.swap = None
        return self.client.send(request)

    def settle(self, exchange: Exchange, name: str, failure: str | None) -> None:
        self.settled.append((name, failure))

    def measure(self, kind: str, name: str, seconds: float, failure: str | None) -> None:
        self.measured.append((kind, name, failure))


@dataclass
class Rig:
    driver: Driver
    wire: RecordingWire
    recorder: Recorder
    images: list[str]
    client: Client
    dead: str
    relogins: list[str] = field(default_factory=list)
    faults: tuple[str, ...] = ()


@pytest.fixture
def rig(make_server: ServerFactory, request: pytest.FixtureRequest) -> Iterator[Rig]:
    faults = getattr(request, "param", ())
    server = make_server(faults=faults)
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        images = image_uuids(zs, "state=Enabled")[:2]
        dead = zs.extra_session()
        zs.logout(dead)
        assert zs.session is not None
        plan = LoadPlan(target=server.url, scenario="errors", images={u: "Enabled" for u in images}, poll_deadline=0.5)
        recorder = Recorder()
        wire = RecordingWire(zs)
        sessions = Sessions(zs.session.uuid, dead, timeout=7200.0)
        relogins: list[str] = []

        def relogin(failed: str) -> bool:
            relogins.append(failed)
            sessions.live = zs.relogin().uuid
            return True

        driver = Driver(
            wire,
            recorder,
            plan,
            sessions,
            client="t",
            rng=random.Random(7),
            table=default_table(),
            relogin=relogin,
        )
        yield Rig(driver, wire, recorder, images, zs, dead, relogins, tuple(faults))


def test_a_state_change_is_timed_three_ways_and_written_to_the_history(rig: Rig) -> None:
    result = rig.driver.change(rig.images[0], "disable")
    assert result.ok
    assert rig.recorder.failures == {}
    assert [kind for kind, _, _ in rig.wire.measured] == ["JOB", "E2E"]
    assert all(failure is None for _, failure in rig.wire.settled)
    metrics = rig.recorder.metrics
    assert {name: metrics.stats(name).count for name in metrics.names()} == {
        "put": 1, "put.disable": 1, "job": 1, "job.disable": 1, "e2e": 1, "e2e.disable": 1
    }  # fmt: skip
    [op] = rig.recorder.history
    assert (op.key, op.kind, op.value) == (rig.images[0], "write", "Disabled")
    assert op.complete is not None and op.complete >= op.invoke


def test_a_read_is_checked_and_recorded(rig: Rig) -> None:
    rig.driver.change(rig.images[0], "disable")
    assert rig.driver.read(rig.images[0]) == "Disabled"
    assert rig.recorder.history[-1].kind == "read"
    assert rig.recorder.failures == {}


@pytest.mark.parametrize("kind", sorted(INVALID_FACETS))
def test_invalid_requests_get_their_error_codes_from_a_correct_server(rig: Rig, kind: str) -> None:
    for _ in range(5):
        result = rig.driver.invalid(rig.images[0], kind)
        assert not result.ok
    assert rig.recorder.failures == {}, rig.recorder.failures
    assert rig.recorder.metrics.operations[f"invalid.{kind}"].count == 5
    assert rig.recorder.history == []  # refused requests change nothing, so they are not writes


@pytest.mark.parametrize("rig", [("disable-noop",)], indirect=True)
def test_a_contract_violation_is_a_failure_named_after_its_check(rig: Rig) -> None:
    rig.driver.change(rig.images[0], "disable")
    rig.driver.change(rig.images[0], "disable")
    [group] = [g for g in rig.recorder.failures.values() if g.check == "state_matches_event"]
    assert group.count == 2 and group.operation == "changeImageState disable"
    example = group.examples[0]
    assert example["curl"].startswith("curl ") and "$ZSTACK_SESSION" in example["curl"]
    assert ("E2E", "changeImageState disable", "state_matches_event") in rig.wire.measured
    assert rig.recorder.metrics.stats("e2e").failures == 2


@pytest.mark.parametrize("rig", [("wrong-error-code",)], indirect=True)
def test_a_wrong_error_code_under_load_is_caught(rig: Rig) -> None:
    rig.driver.invalid(rig.images[0], "bad-event")
    assert {(g.check, g.code) for g in rig.recorder.failures.values()} >= {("error_code", "SYS.1000")}


@pytest.mark.parametrize("rig", [("job-never-finishes",)], indirect=True)
def test_a_job_that_never_finishes_is_an_indeterminate_write(rig: Rig) -> None:
    result = rig.driver.change(rig.images[0], "disable")
    assert not result.ok
    [op] = rig.recorder.history
    assert op.complete is None  # it may or may not have happened: the checker must allow both
    assert any(g.check == "job_completes" for g in rig.recorder.failures.values())


def checks_failed(rig: Rig) -> set[str]:
    return {g.check for g in rig.recorder.failures.values()}


def test_a_live_session_answered_id1001_is_session_rejected_and_the_run_carries_on(rig: Rig) -> None:
    live = rig.driver.sessions.live
    rig.wire.swap = (live, rig.dead)
    result = rig.driver.change(rig.images[0], "disable")
    assert result.error_code == "ID.1001"
    assert "session_rejected" in checks_failed(rig)
    assert rig.recorder.harness["session_checks"] == 1
    assert rig.relogins == [] and rig.driver.sessions.live == live  # ValidateSession: still valid, kept
    rig.recorder.failures.clear()
    assert rig.driver.read(rig.images[0]) == "Enabled"  # the refused change changed nothing
    rig.wire.swap = (live, rig.dead)
    rig.driver.read(rig.images[1])  # a read with a live session rejected: the same violation
    assert checks_failed(rig) >= {"session_rejected"}


def test_a_session_the_target_ended_is_replaced_by_a_recorded_relogin_and_still_judged(rig: Rig) -> None:
    ended = rig.driver.sessions.live
    rig.client.send(_wire.logout(ended))  # gone long before its expiry (7200 s after its last use)
    rig.driver.change(rig.images[0], "disable")
    assert rig.relogins == [ended] and rig.driver.sessions.live != ended
    assert rig.recorder.harness["relogins"] == 1 and "logged in again" in rig.recorder.actions[0]
    assert "session_rejected" in checks_failed(rig)
    rig.recorder.failures.clear()
    assert rig.driver.change(rig.images[0], "disable").ok
    assert rig.recorder.failures == {}  # carried on with the new session


def test_a_session_past_its_timeout_is_replaced_without_a_violation(rig: Rig) -> None:
    rig.driver.sessions.timeout = 0.5
    accepted = rig.driver.sessions.accepted
    rig.driver.sessions.accepted = Stamp(accepted.monotonic - 10, accepted.wall - 10)  # 10 s ago: it may have expired
    rig.client.send(_wire.logout(rig.driver.sessions.live))
    rig.driver.change(rig.images[0], "disable")
    assert rig.recorder.harness["relogins"] == 1
    assert "session_rejected" not in checks_failed(rig)


def test_an_owned_image_is_judged_in_sequence_and_read_back(rig: Rig) -> None:
    image = rig.images[0]
    assert rig.driver.adopt(image)
    rig.driver.plan = replace(rig.driver.plan, read_after_write=1.0)
    for _ in range(6):
        state = rig.driver.current(image)
        assert state is not None
        rig.driver.change(image, "disable" if state == "Enabled" else "enable")
    assert rig.recorder.failures == {}
    assert rig.recorder.harness["read_after_write"] == 6
    assert [op.kind for op in rig.recorder.history] == ["read"] + ["write", "read"] * 6


@pytest.mark.parametrize("rig", [("other-field-changes",)], indirect=True)
def test_a_change_that_touches_other_fields_of_an_owned_image_is_caught(rig: Rig) -> None:
    image = rig.images[0]  # Linux: the fault resets the platform to Other
    assert rig.driver.adopt(image)
    rig.driver.change(image, "disable")
    rig.driver.change(image, "enable")
    assert "no_other_field_changes" in checks_failed(rig)


def test_an_owned_image_changed_behind_the_users_back_fails_read_your_writes(rig: Rig) -> None:
    image = rig.images[0]
    assert rig.driver.adopt(image)
    rig.driver.plan = replace(rig.driver.plan, read_after_write=0.0)
    rig.driver.change(image, "disable")
    assert rig.recorder.failures == {}
    time.sleep(1.0)  # the revert lands in a later second: its lastOpDate moved, and that is no second finding
    assert rig.client.change_state(image, "enable").ok  # someone reverts the acknowledged change
    rig.driver.read(image)
    assert checks_failed(rig) == {"query_agrees"}


def test_the_documented_dialect_judges_owned_images_against_its_own_answers(make_server: ServerFactory) -> None:
    """Its job results hide the refs' `id` that a query shows: answers are compared with answers."""
    server = make_server(dialect="documented")
    with Client(server.url, dialect="documented") as zs:
        zs.login("admin", PASSWORD)
        assert zs.session is not None
        [image, *_] = image_uuids(zs, "state=Enabled")
        plan = LoadPlan(server.url, "toggle", {image: "Enabled"}, dialect="documented", read_after_write=1.0)
        recorder = Recorder()
        driver = Driver(
            RecordingWire(zs), recorder, plan, Sessions(zs.session.uuid), client="d", rng=random.Random(1),
            table=default_table(),
        )  # fmt: skip
        assert driver.adopt(image)
        for event in ("disable", "enable", "disable"):
            assert driver.change(image, event).ok
    assert recorder.failures == {}
    assert recorder.harness["read_after_write"] == 3


def test_a_same_state_change_of_an_owned_image_keeps_its_lastopdate(rig: Rig) -> None:
    image = rig.images[0]
    assert rig.driver.adopt(image)
    rig.driver.plan = replace(rig.driver.plan, read_after_write=1.0)
    for event in ("enable", "disable", "disable", "enable", "enable"):
        result = rig.driver.change(image, event)
        assert result.ok
    assert rig.recorder.failures == {}


@pytest.mark.parametrize("rig", [("same-state-error",)], indirect=True)
def test_a_same_state_change_refused_is_caught(rig: Rig) -> None:
    image = rig.images[0]
    assert rig.driver.adopt(image)
    rig.driver.change(image, "enable")
    assert "error_code" in checks_failed(rig)
    assert rig.driver.current(image) == "Enabled"  # read back after the refusal: unchanged


@pytest.mark.parametrize("rig", [("lastopdate-frozen",), ()], indirect=True, ids=["frozen", "correct"])
def test_lastopdate_must_move_on_a_real_change_sent_1_5_s_after_an_earlier_write(rig: Rig) -> None:
    image = rig.images[0]
    assert rig.driver.adopt(image)
    rig.driver.change(image, "disable")  # back to back with the first read: may share its second
    assert rig.recorder.failures == {}
    time.sleep(1.6)
    rig.driver.change(image, "enable")
    rig.driver.change(image, "disable")  # the anchor moved to the last checked write: no second finding
    frozen = "lastopdate-frozen" in rig.faults
    groups = [g for g in rig.recorder.failures.values() if g.check == "last_op_date"]
    assert [g.count for g in groups] == ([1] if frozen else []), rig.recorder.failures


# ---------------------------------------------------------------------- over a scripted wire: no sockets

JOB = "d" * 32
ACCEPTED = {"location": f"http://10.0.0.9:8080/zstack/v1/api-jobs/{JOB}", "apiTimeout": 1800000}


def answer(status: int, body: object = None, *, error: str | None = None) -> Exchange:
    request = WireRequest("GET", "/x", {})
    if error is not None:
        return Exchange(request, 0.0, 0.0, error=error)
    if isinstance(body, bytes):  # plain text
        return Exchange(request, 0.0, 0.0, status=status, body=body)
    raw = json.dumps(body).encode() if body is not None else b""
    return Exchange(request, 0.0, 0.0, status=status, body=raw, json=body)


class Stopped(Exception):
    """What a locust user stopped mid-request sees (gevent's GreenletExit, in a run)."""


@dataclass
class ScriptedWire:
    """The `Wire` seam answering from a script; what was sent, under which name, is kept."""

    script: list[Exchange | BaseException]
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, request: WireRequest, name: str) -> Exchange:
        self.sent.append((request.path, name))
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def settle(self, exchange: Exchange, name: str, failure: str | None) -> None:
        pass

    def measure(self, kind: str, name: str, seconds: float, failure: str | None) -> None:
        pass


def scripted(
    *script: Exchange | BaseException, poll_deadline: float = 30.0
) -> tuple[Driver, ScriptedWire, list[float]]:
    wire, slept = ScriptedWire(list(script)), list[float]()
    plan = LoadPlan(target="http://zs:8080", scenario="toggle", images={IMAGE: "Enabled"}, poll_deadline=poll_deadline)
    driver = Driver(
        wire, Recorder(), plan, Sessions("live"), client="s", rng=random.Random(3), table=default_table(),
        sleep=slept.append,
    )  # fmt: skip
    return driver, wire, slept


IMAGE = "e" * 32
PENDING = answer(202, {})


def test_the_driver_follows_a_job_on_the_load_schedule_without_a_wait_before_the_first_poll() -> None:
    """The rules are `_jobs`'; the numbers are the load schedule's (POLLS), and the first poll goes out at
    once: not even a sleep(0), which under gevent would yield to every other user first."""
    done = answer(200, {"inventory": {"uuid": IMAGE, "state": "Disabled"}})
    driver, wire, slept = scripted(answer(202, ACCEPTED), PENDING, PENDING, PENDING, done)
    result = driver._call(_wire.change_state(IMAGE, "disable", "live"), "changeImageState disable")
    assert result.outcome is Outcome.SUCCESS and len(result.exchanges) == 5
    assert slept == [POLLS.first, POLLS.first * 2, POLLS.first * 4] == [0.005, 0.01, 0.02]
    assert [name for _, name in wire.sent] == ["changeImageState disable"] + ["api-jobs/{uuid}"] * 4
    assert {path for path, _ in wire.sent[1:]} == {f"/zstack/v1/api-jobs/{JOB}"}  # onto the named target


def test_change_is_typed_to_return_a_result() -> None:
    """It never returned None; its type said it might, and callers checked for it."""
    assert get_type_hints(Driver.change)["return"] is ApiResult


@pytest.mark.parametrize(
    ("script", "poll_deadline", "outcome", "write"),
    [
        ((answer(202, ACCEPTED), answer(200, {"inventory": {"uuid": IMAGE}})), 30.0, "success", "complete"),
        ((answer(202, ACCEPTED), PENDING), 0.0, "timeout", "open"),  # no deadline left: the first pending poll
        ((answer(0, error="connection refused"),), 30.0, "transport-error", "open"),
        ((answer(202, ACCEPTED), answer(0, error="connection reset")), 30.0, "transport-error", "open"),
        ((answer(400, b"x"),), 30.0, "rejected", None),  # refused: nothing happened, no write in the history
    ],
)
def test_change_returns_a_result_for_every_ending(
    script: tuple[Exchange, ...], poll_deadline: float, outcome: str, write: str | None
) -> None:
    driver, _, _ = scripted(*script, poll_deadline=poll_deadline)
    result = driver.change(IMAGE, "disable")
    assert isinstance(result, ApiResult) and result.outcome == outcome
    kinds = [("complete" if op.complete is not None else "open") for op in driver.recorder.history]
    assert kinds == ([] if write is None else [write])


@pytest.mark.parametrize("at", [0, 1], ids=["put", "poll"])
def test_a_user_stopped_mid_change_gets_the_exception_and_leaves_an_open_write(at: int) -> None:
    script: list[Exchange | BaseException] = [answer(202, ACCEPTED), PENDING]
    script[at] = Stopped()
    driver, _, _ = scripted(*script)
    with pytest.raises(Stopped):
        driver.change(IMAGE, "disable")
    [op] = driver.recorder.history
    assert op.kind == "write" and op.complete is None  # it may or may not have happened
