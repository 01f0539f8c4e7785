"""The harness against a real embedded server: a refused session is the target's fault only when the
harness can prove it was live when the target checked it (zscheck.expiry: one second for the target's
timestamps, ages read on the monotonic and the wall clock)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zscheck import _wire
from zscheck.conformance.harness import ContractViolation, Harness
from zscheck.conformance.plan import ContractPlan
from zscheck.target import TargetOptions


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def start(*faults: str) -> Harness:
        plan = ContractPlan(report_dir=tmp_path / f"r{len(made)}", target=TargetOptions(faults=faults), seed=1)
        harness = Harness(plan)
        made.append(harness)
        return harness.start()

    yield start
    for harness in made:
        harness.stop()


def stall_once(harness: Harness, seconds: float) -> None:
    """The harness stalls once between choosing a live session and sending it (a busy machine, a paused VM)."""
    choose = harness._live
    stalls = [seconds]

    def live(client):  # type: ignore[no-untyped-def]
        chosen = choose(client)
        if stalls:
            time.sleep(stalls.pop())
        return chosen

    harness._live = live  # type: ignore[method-assign]


def test_a_session_refused_after_the_harness_stalled_is_not_held_against_the_target(
    started: Callable[..., Harness],
) -> None:
    """Past the session's provable life (3 s timeout less 1 s) the refusal proves nothing: not judged,
    said in the notes, and the query re-sent once with a new session."""
    zs = started()
    image = zs.admin_images[0]
    stall_once(zs, 3.5)
    assert zs.query(image) is not None
    (note,) = [n for n in zs.notes if "not judged" in n]
    assert f"GET /zstack/v1/images/{image}: a session refused" in note and "re-sent once" in note


def pause_once(harness: Harness, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The host pauses once between the harness choosing a live session and sending it, as a paused and
    resumed VM does: the monotonic clock stands still, the wall clock (the target's) is stepped forward."""
    choose, wall = harness._live, time.time
    step = {"by": 0.0}
    monkeypatch.setattr(time, "time", lambda: wall() + step["by"])

    def live(client):  # type: ignore[no-untyped-def]
        chosen = choose(client)
        if not step["by"]:
            step["by"] = seconds
        return chosen

    harness._live = live  # type: ignore[method-assign]


def test_a_session_refused_after_the_host_paused_is_not_held_against_the_target(
    started: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monotonic clock alone calls the session moments old; the target's clock says it lapsed. Not
    judged: the note names both clocks."""
    zs = started()
    image = zs.admin_images[0]
    pause_once(zs, monkeypatch, 3.5)
    assert zs.query(image) is not None
    (note,) = [n for n in zs.notes if "not judged" in n]
    # The wall clock moved the pause plus the time the request took (under load, most of a second).
    found = re.search(r"the wall clock moved (\d+\.\d) s, the monotonic one (\d+\.\d) s: the host paused", note)
    assert found, note
    wall, monotonic = float(found[1]), float(found[2])
    assert wall - monotonic == pytest.approx(3.5, abs=0.15), note


def test_a_session_refused_while_provably_live_is_a_violation(started: Callable[..., Harness]) -> None:
    """The control: the session ended behind the harness's back (a target that drops it), well within its
    life: the refusal is the target's fault, and no re-login hides it."""
    zs = started()
    image = zs.admin_images[0]
    session = zs.live_session(zs.main)
    zs.main.call(_wire.logout(session.uuid))
    with pytest.raises(ContractViolation, match="session_rejected") as raised:
        zs.query(image)
    assert "s after the target last accepted it, well within its 3 s timeout less 1 s" in str(raised.value)
    assert not [n for n in zs.notes if "not judged" in n]
