"""The judge as a pure function: built answers in, violations out. One row per rule, each able to fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zscheck._models import ApiResult, Exchange, Outcome
from zscheck._wire import WireRequest
from zscheck.checks import Facets, Probe, default_table, judge, judge_protocol

IMAGE = "0f3e9c0f3e9c0f3e9c0f3e9c0f3e9c00"
JOB = "a" * 32
INVENTORY = {
    "uuid": IMAGE,
    "name": "镜像-0",
    "state": "Disabled",
    "status": "Ready",
    "mediaType": "RootVolumeTemplate",
    "createDate": "Oct 28, 2025 2:09:26 PM",
    "lastOpDate": "Oct 28, 2025 2:09:27 PM",
    "backupStorageRefs": [],
}


def exchange(status: int, body: Any, *, headers: dict[str, str] | None = None, path: str = "/x") -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    parsed = None if isinstance(body, bytes) else body
    return Exchange(WireRequest("GET", path, headers or {}), 0.0, 0.0, status=status, body=raw, json=parsed)


def accepted(**overrides: Any) -> Exchange:
    body = {"location": f"http://h:8080/zstack/v1/api-jobs/{JOB}", "apiTimeout": 1800000} | overrides
    return exchange(202, {k: v for k, v in body.items() if v is not None})


CORRECT = Facets()


def change(final: Exchange, first: Exchange | None = None, facets: Facets = CORRECT) -> list[str]:
    probe = Probe("rest", IMAGE, "disable", default_table().expect(facets, "rest"), JOB)
    result = ApiResult(Outcome.SUCCESS, [first or accepted(), final], final.json)
    return sorted({v.check for v in judge(probe, result)})


ASKED = {"X-JSON-Schema": "true"}
SCHEMA = {"inventory": "org.zstack.header.image.ImageInventory"}


@pytest.mark.parametrize(
    ("final", "first", "checks"),
    [
        (exchange(200, {"inventory": INVENTORY, "schema": SCHEMA}, headers=ASKED), None, []),
        (exchange(200, {"inventory": INVENTORY}), None, []),
        # schema exactly when the poll asks for it
        (exchange(200, {"inventory": INVENTORY}, headers=ASKED), None, ["schema_presence"]),
        (exchange(200, {"inventory": INVENTORY, "schema": SCHEMA}), None, ["schema_presence"]),
        # apiTimeout present and a positive integer
        (exchange(200, {"inventory": INVENTORY}), accepted(apiTimeout=None), ["accepted_body"]),
        (exchange(200, {"inventory": INVENTORY}), accepted(apiTimeout="1800000"), ["accepted_body"]),
        (exchange(200, {"inventory": INVENTORY}), accepted(apiTimeout=0), ["accepted_body"]),
        # the 202 names the job the client chose
        (
            exchange(200, {"inventory": INVENTORY}),
            accepted(location=f"http://h/zstack/v1/api-jobs/{'b' * 32}"),
            ["accepted_body"],
        ),
    ],
)
def test_a_change_answer(final: Exchange, first: Exchange | None, checks: list[str]) -> None:
    assert change(final, first) == checks


def error(code: str, description: str) -> Exchange:
    return exchange(503, {"error": {"code": code, "description": description, "details": "x"}})


@pytest.mark.parametrize(
    ("final", "checks"),
    [
        (error("SYS.1003", "A resource can not be found"), []),
        (error("SYS.1003", "Resource not found"), ["error_code_shape"]),
        (error("SYS.1003", "One or more API argument is invalid"), ["error_code_shape"]),
        (error("SYS.1007", "A resource can not be found"), ["error_code", "error_code_shape"]),
        (error("HOST.1000", "whatever a module says"), ["error_code"]),  # codes not in the table: not judged
    ],
)
def test_an_error_carries_its_codes_own_description(final: Exchange, checks: list[str]) -> None:
    assert change(final, facets=Facets(image="unknown")) == checks


@pytest.mark.parametrize(
    ("facets", "rule"),
    [
        (Facets(tags="null-element"), "tag-null-element"),
        (Facets(tags="null-element", image="unknown"), "tag-null-element"),  # the validator runs first
        (Facets(tags="null-element", event="invalid"), "state-event-invalid"),  # stateEvent before the tags
        (Facets(tags="null-element", session="unknown"), "tag-null-element"),
        (Facets(tags="not-string-in-action"), "tag-not-a-string-in-action"),
        (Facets(tags="not-string-in-action", event="invalid"), "tag-not-a-string-in-action"),  # sync first
        (Facets(tags="not-string-in-action", auth="missing"), "authorization-missing"),
        (Facets(tags="not-string-top"), "success"),
        (Facets(image="tenants-own"), "success"),
        (Facets(image="admin-on-tenants"), "success"),
        (Facets(image="tenants-own", session="unknown"), "session-invalid"),
        (Facets(image="unknown", session="unknown"), "image-unknown"),
    ],
)
def test_tag_and_account_classes_follow_zstacks_order(facets: Facets, rule: str) -> None:
    assert default_table().rule_for(facets).name == rule


@pytest.mark.parametrize(
    ("name", "status", "body", "checks"),
    [
        ("job-uuid-duplicate", 400, b"Duplicate job uuid[" + JOB.encode() + b"]", []),
        ("job-uuid-duplicate", 202, {"location": "x", "apiTimeout": 1}, ["job_protocol"]),
        ("job-uuid-length", 400, b"Invalid header[X-Job-UUID], it must be a UUID with '-' stripped", []),
        ("job-uuid-length", 400, b"bad header", ["job_protocol"]),
        ("job-unknown", 404, b"the job has been expired", []),
        ("job-unknown", 200, {}, ["job_protocol"]),
        ("job-not-get", 405, b"only GET method is allowed for querying job status", []),
        ("actions-post", 500, b"No creational API found for the path[/zstack/v1/images/x/actions]", []),
        ("actions-post", 404, b"not found", ["status_code"]),
        ("actions-head", 405, b"", []),
    ],
)
def test_protocol_answers(name: str, status: int, body: Any, checks: list[str]) -> None:
    rule = default_table().protocol_rule(name)
    assert sorted({v.check for v in judge_protocol(rule, exchange(status, body))}) == checks
