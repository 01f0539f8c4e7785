"""The load operations over a plain wire (the client's transport), against real reference servers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client
from zscheck._models import Exchange
from zscheck._wire import WireRequest
from zscheck.checks import default_table
from zscheck.load.driver import INVALID_FACETS, Driver, Sessions
from zscheck.load.plan import LoadPlan
from zscheck.load.recorder import Recorder


@dataclass
class RecordingWire:
    """The `Wire` seam over the wire client: what locust would be told, kept in lists."""

    client: Client
    settled: list[tuple[str, str | None]] = field(default_factory=list)
    measured: list[tuple[str, str, str | None]] = field(default_factory=list)

    def send(self, request: WireRequest, name: str) -> Exchange:
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
        driver = Driver(
            wire,
            recorder,
            plan,
            Sessions(zs.session.uuid, dead),
            client="t",
            rng=random.Random(7),
            table=default_table(),
        )
        yield Rig(driver, wire, recorder, images)


def test_a_state_change_is_timed_three_ways_and_written_to_the_history(rig: Rig) -> None:
    result = rig.driver.change(rig.images[0], "disable")
    assert result is not None and result.ok
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
    assert result is not None and not result.ok
    [op] = rig.recorder.history
    assert op.complete is None  # it may or may not have happened: the checker must allow both
    assert any(g.check == "job_completes" for g in rig.recorder.failures.values())
