"""Envelope and schema (schemathesis): positive and negative requests generated from the OpenAPI contract.

Each case is sent through the wire client, so a 202 is followed to its api-job result. The answer is
judged twice: by schemathesis' own checks against the contract of the dialect (status codes, response
schemas, headers), and by zscheck's oracle with the expectation the error-code table gives for what the
case actually sent. ZStack's realities are configured, not ignored: business errors are 503 from the
job, transport errors are plain text, and the server sets no Content-Type (we label bodies before
validating them: JSON as application/json, anything else as text/plain).
"""

from __future__ import annotations

import json
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import response_headers_conformance, response_schema_conformance, status_code_conformance

from contracts.strategies import is_valid_event
from zscheck import Exchange
from zscheck.checks import Facets, Probe, Violation, field_of_wrong_kind, judge
from zscheck.conformance.harness import Harness, Sent
from zscheck.conformance.plugin import ContractViolation, require, run_options
from zscheck.wire import WireRequest

HERE = Path(__file__).parent
SCHEMATHESIS_CHECKS = [status_code_conformance, response_schema_conformance, response_headers_conformance]


def load_contract() -> Any:
    """The contract of the run's dialect. Loaded at import (schemathesis' lazy fixture loader does not work with
    this pytest), from the options the plugin saw."""
    options = run_options()
    loaded = schemathesis.openapi.from_path(HERE / f"openapi-{options.target.dialect}.yaml")
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=options.max_examples,
        with_security_parameters=False,  # the Authorization classes are the error-code suite's job
    )
    return loaded.include(operation_id="ChangeImageState")


schema = load_contract()


def pick_image(zs: Harness, generated: Any) -> tuple[str, str]:
    """A fixture image two times in three, else an unknown one; a function of the case, so it replays."""
    digest = zlib.crc32(repr(generated).encode())
    if digest % 3:
        return zs.admin_images[digest % len(zs.admin_images)], "own"
    return f"{digest:08x}" * 4, "unknown"


def facets_of(body: Any, raw: bytes, dialect: str, image: str) -> Facets:
    """Which input classes of the error-code table this request falls into."""
    key = "changeImageState" if dialect == "rest" else "params"
    if not raw.strip():
        return Facets(body="empty", image=image)
    if not isinstance(body, dict):
        return Facets(body="not-json", image=image)
    if key not in body:
        return Facets(body="wrong-key", image=image)
    action = body[key]
    if action is not None and not isinstance(action, dict):
        return Facets(body="not-object", image=image)
    action = action or {}
    if field_of_wrong_kind(action, dialect) is not None:
        return Facets(body="field-wrong-kind", image=image)
    names = ("systemTags", "userTags")
    if any(
        not isinstance(t, list)
        for t in [*(body.get(n) for n in names), *(action.get(n) for n in names)]
        if t is not None
    ):
        return Facets(body="bad-tags", image=image)
    tags = tags_facet(body, action)
    event = action.get("stateEvent")
    if event is None:
        kind = "missing"
    elif isinstance(event, dict | list):
        kind = "not-a-string"
    else:
        kind = "valid" if is_valid_event(event) else "invalid"
    return Facets(event=kind, tags=tags, image=image)


def tags_facet(body: dict[str, Any], action: dict[str, Any]) -> str:
    """The tags class (facts §10). Gson first reads the action map's tags as List<String>: an object or an
    array inside them is a 500 (a number or a boolean reads as its text). Then RestServer sets each
    top-level list over the action map's, when present (RestServer.java:998-1005), and the validator
    refuses a null in what is left (SYS.1007). A top-level list is an unchecked cast: its other elements
    pass."""
    names = ("systemTags", "userTags")
    if any(isinstance(e, dict | list) for n in names for e in action.get(n) or []):
        return "not-string-in-action"
    effective = [body[n] if body.get(n) is not None else action.get(n) or [] for n in names]
    if any(e is None for tags in effective for e in tags):
        return "null-element"
    if any(not isinstance(e, str) for n in names for e in body.get(n) or []):
        return "not-string-top"
    return "strings"


def labelled(exchange: Exchange, url: str) -> schemathesis.Response:
    """The exchange as schemathesis reads it, with the Content-Type ZStack never sets."""
    headers = {name: [value] for name, value in exchange.headers.items()}
    if "content-type" not in headers:
        headers["content-type"] = ["application/json" if exchange.json is not None else "text/plain"]
    request = requests.Request(
        exchange.request.method, url, headers=dict(exchange.request.redacted_headers()), data=exchange.request.body
    ).prepare()
    return schemathesis.Response(exchange.status or 0, headers, exchange.body, request, exchange.elapsed, True)


def schemathesis_violations(case: Any, exchange: Exchange, url: str) -> list[Violation]:
    try:
        case.validate_response(labelled(exchange, url), checks=SCHEMATHESIS_CHECKS)
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
        failures = getattr(exc, "exceptions", [exc])
        return [
            Violation(
                "openapi",
                f"{getattr(f, 'title', type(f).__name__)}: {str(getattr(f, 'message', f))[:300]}",
                "the OpenAPI contract",
                f"HTTP {exchange.status}",
                exchange,
            )
            for f in failures
        ]
    return []


OPERATION = next(iter(schema.get_all_operations())).ok()
CASES = st.one_of(OPERATION.as_strategy(GenerationMode.POSITIVE), OPERATION.as_strategy(GenerationMode.NEGATIVE))


def test_envelope_and_schema(zs: Harness) -> None:
    """Positive and negative cases from the contract (schemathesis' strategies, max_examples of each).

    Drawn in this thread (schemathesis' strategies are not safe to draw from several threads: seen,
    CPython's ast failing under Hypothesis' lambda inspection), and each sent as soon as it is drawn,
    `--workers` at a time, so that against a target whose jobs take a while their waits overlap with each
    other and with the drawing. Cases are independent (each picks its image from its own content), so the
    order they are sent in changes nothing. A failing case is reported as drawn, not shrunk: the cases
    are small, and each answer names its rule."""
    with ThreadPoolExecutor(max_workers=zs.workers) as pool:
        pending: list[Future[Sent]] = []

        @settings(settings(), max_examples=2 * settings().max_examples, phases=[Phase.generate])
        @given(case=CASES)
        def draw(case: Any) -> None:
            pending.append(pool.submit(check_case, case, zs=zs))

        draw()
        sent = [future.result() for future in pending]
    failures = []
    for each in sent:
        try:
            require(zs, each)
        except ContractViolation as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ExceptionGroup(f"{len(failures)} of {len(sent)} cases broke the contract", failures)


def check_case(case: Any, zs: Harness) -> Sent:
    dialect = zs.dialect
    image, image_class = pick_image(zs, (case.body, case.headers, case.query))
    case.path_parameters = {"uuid": image}
    kwargs = case.as_transport_kwargs(base_url=zs.url)
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if not k.lower().startswith("x-schemathesis")}
    headers["Authorization"] = f"OAuth {zs.live_session(zs.main).uuid}"
    if "json" in kwargs:
        raw = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    else:
        data = kwargs.get("data")
        raw = data.encode() if isinstance(data, str) else (data or b"")
    request = WireRequest("PUT", f"/zstack/v1/images/{image}/actions", headers, raw)
    result = zs.main.call(request)
    body = json.loads(raw) if _is_json(raw) else None
    facets = facets_of(body, raw, dialect, image_class)
    probe = Probe(dialect, image, _state_event(body, dialect), zs.table.expect(facets, dialect))
    violations = judge(probe, result)
    first = result.exchanges[0]
    if first.error is None:
        violations += schemathesis_violations(case, first, zs.url + request.path)
    if dialect == "rest" and len(result.exchanges) > 1 and result.final.error is None:
        job = (first.json or {}).get("location", "").rsplit("/", 1)[-1]
        poll_case = zs_jobs_case(case, job)
        violations += schemathesis_violations(poll_case, result.final, zs.url + result.final.request.path)
    return Sent(probe, result, violations, facets)


def zs_jobs_case(case: Any, job: str) -> Any:
    operation = case.operation.schema["/zstack/v1/api-jobs/{uuid}"]["GET"]
    return operation.Case(path_parameters={"uuid": job})


def _state_event(body: Any, dialect: str) -> Any:
    action = body.get("changeImageState" if dialect == "rest" else "params") if isinstance(body, dict) else None
    return action.get("stateEvent") if isinstance(action, dict) else None


def _is_json(raw: bytes) -> bool:
    if not raw.strip():
        return False
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True
