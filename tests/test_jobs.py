"""The api-job follower as a pure object: scripted answers and clock readings in, steps out. No sockets."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from zscheck import _wire
from zscheck._jobs import JobFollower, Poll, PollSchedule
from zscheck._models import ApiResult, Exchange, Outcome
from zscheck._wire import WireRequest

JOB = "c" * 32
# The server reports its own address; the poll goes to the target the user named (path only).
LOCATION = f"http://10.0.0.9:8080/zstack/v1/api-jobs/{JOB}"
PUT = WireRequest("PUT", "/zstack/v1/images/x/actions", {})
LOAD = PollSchedule(0.005, 2.0, 0.5)  # the load driver's numbers
QUARTERS = PollSchedule(0.25, 2.0, 1.0)  # exact in binary: boundaries compare without rounding
INVENTORY = {"uuid": "x", "state": "Disabled"}
ERROR = {"code": "SYS.1003", "description": "A resource can not be found", "details": "no image x"}


def answer(status: int, body: Any = None) -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    parsed = body if not isinstance(body, bytes) else None
    return Exchange(PUT, 0.0, 0.0, status=status, body=raw, json=parsed)


def refused() -> Exchange:
    return Exchange(PUT, 0.0, 0.0, error="connection refused")


ACCEPTED = answer(202, {"location": LOCATION, "apiTimeout": 1800000})
PENDING = answer(202, {})


@pytest.mark.parametrize(
    ("schedule", "intervals"),
    [
        (LOAD, [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5]),
        (PollSchedule(0.01, 1.25, 0.02), [0.01, 0.0125, 0.015625, 0.01953125, 0.02, 0.02]),
        (PollSchedule(0.1, 1.0, 0.1), [0.1, 0.1, 0.1]),  # a fixed interval
        (QUARTERS, [0.25, 0.5, 1.0, 1.0]),
    ],
)
def test_the_interval_grows_by_its_factor_up_to_its_maximum(schedule: PollSchedule, intervals: list[float]) -> None:
    got = [schedule.first]
    while len(got) < len(intervals):
        got.append(schedule.grown(got[-1]))
    assert got == pytest.approx(intervals, rel=1e-12)


@pytest.mark.parametrize(("first", "factor", "maximum"), [(0.0, 2.0, 1.0), (0.01, 0.5, 1.0), (0.1, 2.0, 0.05)])
def test_a_schedule_that_would_not_back_off_is_refused(first: float, factor: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="first must be positive"):
        PollSchedule(first, factor, maximum)


def run(
    script: list[tuple[Exchange, float]], *, deadline: float = 30.0, follow: bool = True, schedule: PollSchedule = LOAD
) -> tuple[ApiResult, list[float]]:
    """Feed each (answer, clock reading) in turn; the waits the follower asked for, and its result. Every
    answer must be asked for: a script longer than the call is an error, so is one that ends too early."""
    follower = JobFollower(schedule, deadline, follow=follow)
    waits: list[float] = []
    for i, (exchange, now) in enumerate(script):
        step = follower.answer(exchange, now)
        if isinstance(step, ApiResult):
            assert i == len(script) - 1, f"the call ended after {i + 1} of {len(script)} answers"
            assert step.exchanges == [e for e, _ in script]  # every answer, in order, nothing else
            return step, waits
        assert step.request == _wire.poll(LOCATION)  # a GET of the job's path on the named target
        assert step.request.path == f"/zstack/v1/api-jobs/{JOB}"
        waits.append(step.after)
    raise AssertionError(f"the follower still wants a poll after all {len(script)} answers")


S, F, R, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.REJECTED, Outcome.UNEXPECTED
T, X = Outcome.TIMEOUT, Outcome.TRANSPORT_ERROR


DONE = answer(200, {"inventory": INVENTORY})
FAILED = answer(503, {"error": ERROR})


@pytest.mark.parametrize(
    ("script", "outcome", "waits"),
    [
        # a synchronous answer is the call's end: no poll
        ([(DONE, 0.0)], S, []),
        ([(FAILED, 0.0)], F, []),
        ([(answer(400, b"missing header 'Authorization'"), 0.0)], R, []),
        ([(answer(200, {"success": False, "error": ERROR, "inventory": None}), 0.0)], F, []),
        ([(answer(202, {"apiTimeout": 1}), 0.0)], U, []),  # no location: nothing to poll
        ([(answer(202, {"location": 7}), 0.0)], U, []),
        ([(refused(), 0.0)], X, []),
        # a 202 with a location: the first poll at once, then the schedule
        ([(ACCEPTED, 0.0), (DONE, 0.01)], S, [0.0]),
        ([(ACCEPTED, 0.0), (PENDING, 0.0), (PENDING, 0.01), (FAILED, 0.03)], F, [0.0, 0.005, 0.01]),
        ([(ACCEPTED, 0.0), (refused(), 0.01)], X, [0.0]),  # a lost poll ends it: never re-sent
        ([(ACCEPTED, 0.0), (PENDING, 0.0), (refused(), 0.01)], X, [0.0, 0.005]),
        ([(ACCEPTED, 0.0), (answer(404, b"the job has been expired"), 0.0)], R, [0.0]),
        ([(ACCEPTED, 0.0), (answer(204), 0.0)], S, [0.0]),  # not pending: read as any final answer
        ([(ACCEPTED, 0.0), (answer(202, {"location": LOCATION}), 0.0), (DONE, 0.0)], S, [0.0, 0.005]),
    ],
)
def test_each_ending_has_its_outcome(
    script: list[tuple[Exchange, float]], outcome: Outcome, waits: list[float]
) -> None:
    result, asked = run(script)
    assert result.outcome is outcome
    assert asked == pytest.approx(waits)
    # The data is the last answer's JSON (a job's result, a sync answer); nothing after a transport error.
    assert result.data == (None if outcome is X else script[-1][0].json)


@pytest.mark.parametrize(
    ("start", "pending_at", "outcome", "waits"),
    [
        # deadline 1 s from the 202's arrival; waits 0.25, 0.5, 1.0. Now + wait past the deadline: timeout.
        (0.0, [0.0, 0.25, 0.75], T, [0.0, 0.25, 0.5]),  # 0.75 + 1.0 > 1.0
        (0.0, [0.0, 0.5], None, [0.0, 0.25, 0.5]),  # 0.5 + 0.5 = 1.0 is not past it: one more poll
        (0.0, [0.0, 0.5, 1.0], T, [0.0, 0.25, 0.5]),  # and at 1.0 the next wait (1.0) is
        (0.0, [0.75], None, [0.0, 0.25]),  # 0.75 + 0.25 = 1.0: still allowed
        (0.0, [0.76], T, [0.0]),
        (1000.0, [1000.5], None, [0.0, 0.25]),  # counted from the 202's arrival, in the caller's clock
        (1000.0, [1000.8], T, [0.0]),
    ],
)
def test_the_deadline_is_spent_when_the_next_wait_would_end_past_it(
    start: float, pending_at: list[float], outcome: Outcome | None, waits: list[float]
) -> None:
    script = [(ACCEPTED, start), *((PENDING, t) for t in pending_at)]
    if outcome is None:  # the follower asks for another poll: let the job finish then
        script.append((answer(200, {"inventory": INVENTORY}), pending_at[-1] + waits[-1]))
    result, asked = run(script, deadline=1.0, schedule=QUARTERS)
    assert asked == waits
    if outcome is T:
        assert result.outcome is T and result.data == {}  # the last pending answer's body
        assert len(result.exchanges) == 1 + len(pending_at)
    else:
        assert result.ok


@pytest.mark.parametrize("deadline", [0.0, -1.0])
def test_no_deadline_left_makes_the_first_pending_answer_the_timeout(deadline: float) -> None:
    result, asked = run([(ACCEPTED, 5.0), (PENDING, 5.0)], deadline=deadline)
    assert result.outcome is T and asked == [0.0]


@pytest.mark.parametrize(("first", "outcome"), [(ACCEPTED, U), (answer(200, {"inventory": INVENTORY}), S)])
def test_a_caller_that_does_not_follow_gets_the_first_answer_read_as_it_is(first: Exchange, outcome: Outcome) -> None:
    result, asked = run([(first, 0.0)], follow=False)
    assert result.outcome is outcome and result.data == first.json and asked == []


def test_a_follower_polls_the_same_request_throughout() -> None:
    follower = JobFollower(LOAD, 30.0)
    steps = [follower.answer(ACCEPTED, 0.0), follower.answer(PENDING, 0.0), follower.answer(PENDING, 0.01)]
    assert all(isinstance(s, Poll) for s in steps)
    requests = {id(s.request) for s in steps if isinstance(s, Poll)}
    assert len(requests) == 1  # built once per call, not per poll
    assert follower.exchanges == [ACCEPTED, PENDING, PENDING]


SRC = Path(__file__).resolve().parents[1] / "src" / "zscheck"
RULES = {"job_location", "is_job_pending", "poll"}  # _wire's pieces of the following rules


@pytest.mark.parametrize("module", ["client.py", "load/driver.py"])
def test_the_rules_live_once(module: str) -> None:
    """The client and the load driver follow jobs through `_jobs` only: neither reads a 202 itself."""
    tree = ast.parse((SRC / module).read_text())
    wire = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "_wire"
    }
    wire |= {
        a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "zscheck._wire" for a in n.names
    }
    assert not wire & RULES, f"{module} uses {wire & RULES} of _wire: the rules of following live in _jobs"
    imported = {
        a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "zscheck._jobs" for a in n.names
    }
    assert "JobFollower" in imported
