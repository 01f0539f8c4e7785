"""The protocol around the action: api-job ids chosen by the client, polls of jobs the server never
issued, other methods on the job and actions paths, and `schema` in job results (the table's
[[protocol]] entries; facts §1.2, §1.4, §10). Each is a fixed request: these rules have no input space
for Hypothesis to explore, only an answer that must be right.
"""

from __future__ import annotations

import time
import uuid as uuidlib

from zscheck import ApiResult, Exchange, Outcome, read_outcome, wire
from zscheck.checks import (
    Expected,
    Facets,
    Probe,
    Violation,
    check_failed_request,
    check_job_result_kept,
    judge,
    judge_protocol,
)
from zscheck.conformance.harness import Harness, RawStep, Sent
from zscheck.conformance.plugin import require
from zscheck.wire import WireRequest


def protocol(
    zs: Harness,
    name: str,
    exchange: Exchange,
    image: str,
    more: list[Violation] | None = None,
    *,
    before: tuple[RawStep, ...] = (),
    follow: bool = False,
) -> Sent:
    """Judge one answer against the protocol entry `name`, as a Sent the report can show and replay: the
    requests it needed `before` (sent first on replay) and the judged one (its job followed: `follow`)."""
    rule = zs.table.protocol_rule(name)
    expected = Expected(rule=name, stage="sync", status=rule.status, body="text", text=rule.text)
    violations = judge_protocol(rule, exchange) + list(more or [])
    result = ApiResult(read_outcome(exchange), [exchange], exchange.json)
    raw = (*before, RawStep(exchange.request, follow=follow))
    return Sent(Probe(zs.dialect, image, None, expected), result, violations, Facets(), raw)


def test_a_reused_job_uuid_is_refused_and_changes_nothing(zs: Harness) -> None:
    if zs.dialect != "rest":
        return  # the documented dialect answers synchronously: no api-jobs, no X-Job-UUID
    image = zs.admin_images[0]
    session = zs.live_session(zs.main).uuid
    job = wire.new_job_uuid()
    first = zs.main.call(wire.change_state(image, "disable", session, job_uuid=job))
    probe = Probe("rest", image, "disable", zs.table.expect(Facets(), "rest"), job)
    require(zs, Sent(probe, first, judge(probe, first), Facets()))
    before = zs.query(image)
    assert before is not None
    again = zs.send_raw(wire.change_state(image, "enable", session, job_uuid=job))
    if again.status == 202 and isinstance(again.json, dict):  # accepted: let its job run before looking
        location = again.json.get("location")
        if isinstance(location, str):
            zs.main.call(wire.poll(location))
    changed = list(check_failed_request(before, zs.query(image), again))
    first_step = RawStep(first.exchanges[0].request, follow=True)
    require(zs, protocol(zs, "job-uuid-duplicate", again, image, changed, before=(first_step,), follow=True))


def test_a_job_uuid_of_the_wrong_length_is_refused(zs: Harness) -> None:
    if zs.dialect != "rest":
        return
    image = zs.admin_images[0]
    session = zs.live_session(zs.main).uuid
    for job in (uuidlib.uuid4().hex[:31], uuidlib.uuid4().hex + "0", str(uuidlib.uuid4())):
        exchange = zs.send_raw(wire.change_state(image, "enable", session, job_uuid=job))
        require(zs, protocol(zs, "job-uuid-length", exchange, image))


def test_polls_of_jobs_never_issued_and_other_methods(zs: Harness) -> None:
    if zs.dialect != "rest":
        return
    image = zs.admin_images[0]
    unknown = zs.send_raw(wire.poll(f"{wire.JOB_PATH}{uuidlib.uuid4().hex}"))
    require(zs, protocol(zs, "job-unknown", unknown, image))
    accepted = zs.main.call(wire.change_state(image, "enable", zs.live_session(zs.main).uuid))
    job_path = accepted.exchanges[-1].request.path
    accepting = RawStep(accepted.exchanges[0].request, follow=True)  # the job the requests below are about
    if accepted.ok and len(accepted.exchanges) > 1:  # polled to its end: a second poll reads the same result
        again = zs.send_raw(wire.poll(accepted.final.request.path))
        expected = Expected(rule="job-result-kept", stage="job", status=200, body="inventory")
        kept = Sent(
            Probe(zs.dialect, image, None, expected),
            ApiResult(read_outcome(again), [again], again.json),
            check_job_result_kept(accepted.final, again),
            Facets(),
            (accepting, RawStep(again.request)),
        )
        require(zs, kept)
    for method in ("PUT", "POST", "DELETE"):
        exchange = zs.send_raw(WireRequest(method, job_path, {}, b"{}" if method != "DELETE" else b""))
        require(zs, protocol(zs, "job-not-get", exchange, image, before=(accepting,)))


def test_other_methods_on_the_actions_path(zs: Harness) -> None:
    image = zs.admin_images[0]
    session = zs.live_session(zs.main).uuid
    path = f"{wire.API_PREFIX}/images/{image}/actions"
    body = wire.json_body({"changeImageState": {"stateEvent": "enable"}})
    for method, name in (("POST", "actions-post"), ("GET", "actions-get"), ("DELETE", "actions-delete"),
                         ("HEAD", "actions-head")):  # fmt: skip
        headers = {"Authorization": f"OAuth {session}", "Content-Type": "application/json"}
        exchange = zs.send_raw(WireRequest(method, path, headers, body if method in ("POST", "GET") else b""))
        require(zs, protocol(zs, name, exchange, image))


def test_schema_exactly_when_the_poll_asks(zs: Harness) -> None:
    """The Java SDK always polls with X-JSON-Schema and reads the result through it; other clients do not
    send it and must not get it. The judge checks both ways; this sends both."""
    if zs.dialect != "rest":
        return
    image = zs.admin_images[0]
    for asked in (False, True):
        request = wire.change_state(image, "disable", zs.live_session(zs.main).uuid)
        accepted = zs.main.call(request, follow=False)
        location = (accepted.final.json or {}).get("location") if isinstance(accepted.final.json, dict) else None
        probe = Probe("rest", image, "disable", zs.table.expect(Facets(), "rest"), request.headers["X-Job-UUID"])
        raw = (RawStep(request, follow=True, schema=asked),)  # the client always polls with the header
        if not isinstance(location, str):
            require(zs, Sent(probe, accepted, judge(probe, accepted), Facets(), raw))
            continue
        result = follow(zs, location, accepted.final, json_schema=asked)
        require(zs, Sent(probe, result, judge(probe, result), Facets(), raw))


def follow(zs: Harness, location: str, first: Exchange, *, json_schema: bool) -> ApiResult:
    """Poll a job to its end with or without X-JSON-Schema (the client always sends it)."""
    exchanges = [first]
    deadline_polls = max(10, int(zs.main.poll_deadline / 0.05))
    for _ in range(deadline_polls):
        answer = zs.send_raw(wire.poll(location, json_schema=json_schema))
        exchanges.append(answer)
        if answer.error is not None or not wire.is_job_pending(answer.status or 0):
            return ApiResult(read_outcome(answer), exchanges, answer.json)
        time.sleep(0.05)
    return ApiResult(Outcome.TIMEOUT, exchanges, exchanges[-1].json)
