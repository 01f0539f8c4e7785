"""The judge, table-driven: (the class of request, the answer that came back) -> exactly which checks fail.

Hand-built exchanges and results, expectations from the shipped error-code table, no sockets. Each row
names the checks it expects, so a check that stops firing (or starts firing on a correct answer) fails a
row. Beside the end-to-end fault proofs (tests/refserver, contracts/), this is where a change to one rule
of `zscheck.checks.response` shows which answers it moves. `test_response.py` has the first rows (schema
presence and apiTimeout on a success, descriptions, the protocol table); this file covers the rest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from zscheck import _wire
from zscheck._models import ApiResult, Exchange, Outcome, read_outcome
from zscheck._wire import Dialect, WireRequest
from zscheck.checks import Facets, Probe, default_table, judge, judge_call, judge_protocol, judge_read

IMAGE = "0f3e9c0f3e9c0f3e9c0f3e9c0f3e9c01"
OTHER_IMAGE = "9" * 32
JOB = "b" * 32
LOCATION = f"http://10.0.0.9:8080/zstack/v1/api-jobs/{JOB}"
PUT = _wire.change_state(IMAGE, "disable", "s", job_uuid=JOB)
POLL = _wire.poll(LOCATION)  # with X-JSON-Schema, as the client sends it
BARE_POLL = _wire.poll(LOCATION, json_schema=False)
SCHEMA = {"inventory": "org.zstack.header.image.ImageInventory"}

# A rest inventory (nulls omitted) and a documented one (every field of the page, nulls included).
REST_INVENTORY: dict[str, Any] = {
    "uuid": IMAGE,
    "name": "image-1",
    "state": "Disabled",
    "status": "Ready",
    "mediaType": "RootVolumeTemplate",
    "createDate": "Oct 28, 2025 2:09:26 PM",
    "lastOpDate": "Oct 28, 2025 2:09:27 PM",
    "backupStorageRefs": [{"id": 1, "imageUuid": IMAGE, "backupStorageUuid": "c" * 32, "status": "Ready"}],
}
DOC_INVENTORY: dict[str, Any] = {
    **{name: None for name in ("description", "md5Sum", "guestOsType", "format", "architecture")},
    **REST_INVENTORY,
    "size": 1024,
    "actualSize": 512,
    "url": "http://x/image.qcow2",
    "type": "zstack",
    "platform": "Linux",
    "system": False,
    "virtio": True,
    "backupStorageRefs": [
        {
            "imageUuid": IMAGE,
            "backupStorageUuid": "c" * 32,
            "installPath": "/bs/x",
            "status": "Ready",
            "exportMd5Sum": None,
            "exportUrl": None,
            "createDate": "Oct 28, 2025 2:09:26 PM",
            "lastOpDate": "Oct 28, 2025 2:09:26 PM",
        }
    ],
}
DESCRIPTION = default_table().descriptions


def code(name: str, **fields: Any) -> dict[str, Any]:
    """An ErrorCode as ZStack sends it (rest: nulls omitted), with its code's own description."""
    return {"code": name, "description": DESCRIPTION[name], "details": f"details of {name}"} | fields


def doc_code(name: str, **fields: Any) -> dict[str, Any]:
    """An ErrorCode as the published page shows it: every field, nulls included."""
    return code(name, elaboration=None, opaque=None, cause=None) | fields


def answer(status: int, body: Any, request: WireRequest = POLL) -> Exchange:
    """An answer to `request`; `bytes` is a plain-text body, anything else is sent as JSON."""
    if isinstance(body, bytes):
        return Exchange(request, 0.0, 0.0, status=status, body=body)
    return Exchange(request, 0.0, 0.0, status=status, body=json.dumps(body).encode(), json=body)


def accepted(**fields: Any) -> Exchange:
    body = {"location": LOCATION, "apiTimeout": 1800000} | fields
    return answer(202, {k: v for k, v in body.items() if v is not None}, PUT)


def job(final: Exchange, *polls: Exchange, first: Exchange | None = None) -> ApiResult:
    """A 202, any pending polls, and the job's final answer, read as the client reads them."""
    return ApiResult(read_outcome(final), [first or accepted(), *polls, final], final.json)


def sync(first: Exchange) -> ApiResult:
    """An answer to the request itself, with no job to follow."""
    return ApiResult(read_outcome(first), [first], first.json)


PENDING = answer(202, {})


def result(**fields: Any) -> dict[str, Any]:
    """A rest job result polled with X-JSON-Schema: the inventory and its schema, `fields` added (None: removed)."""
    body = {"inventory": REST_INVENTORY, "schema": SCHEMA} | fields
    return {k: v for k, v in body.items() if v is not None}


DONE = answer(200, result())


def err(name: str, **fields: Any) -> Exchange:
    """A job's final 503 with the ErrorCode `name` (rest)."""
    return answer(503, {"error": code(name, **fields)})


def put(status: int, body: Any) -> ApiResult:
    """An answer to the PUT itself, no job to follow."""
    return sync(answer(status, body, PUT))


def doc_success(inventory: Any = DOC_INVENTORY, **fields: Any) -> dict[str, Any]:
    return {"success": True, "error": None, "inventory": inventory} | fields


def doc_failure(error: Any, **fields: Any) -> dict[str, Any]:
    """A documented failure envelope; `error` is an ErrorCode, or a code's name for the page's own ErrorCode."""
    return {"success": False, "error": doc_code(error) if isinstance(error, str) else error, "inventory": None} | fields


def inventory(**fields: Any) -> dict[str, Any]:
    """The rest inventory with `fields` changed (None: removed)."""
    return {k: v for k, v in (REST_INVENTORY | fields).items() if v is not None}


def image(**fields: Any) -> dict[str, Any]:
    """A job result whose inventory has `fields` changed (None: removed)."""
    return result(inventory=inventory(**fields))


def ends(status: int, body: Any) -> ApiResult:
    """A 202 and the job's final answer."""
    return job(answer(status, body))


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


# The classes of request, as the error-code table names them.
VALID = Facets()
BAD_EVENT = Facets(event="invalid")
NO_EVENT = Facets(event="missing")
UNKNOWN = Facets(image="unknown")
DEAD = Facets(session="logged-out")
EXPIRED = Facets(session="expired")
FOREIGN = Facets(image="foreign")
NO_AUTH = Facets(auth="missing")
NOT_OAUTH = Facets(auth="not-oauth")
WRONG_KEY = Facets(body="wrong-key")
NOT_JSON = Facets(body="not-json")

R: Dialect = "rest"
D: Dialect = "documented"
ON = "disable"  # a valid event (the inventories show Disabled)
BAD = "Enable"  # an invalid one (case matters)
NO_AUTH_TEXT = b"missing header 'Authorization'"
OTHER_JOB = accepted(location=LOCATION.replace(JOB, "e" * 32))
NO_TIMEOUT = accepted(apiTimeout=None)
OFF_PATH = accepted(location=f"http://h/zstack/v1/jobs/{JOB}")
REFUSED = Exchange(PUT, 0.0, 0.0, error="connection refused")
WRONG_DESCRIPTION = doc_code("SYS.1003", description="Resource not found")
DOC_OTHER = DOC_INVENTORY | {"uuid": OTHER_IMAGE}  # its refs still name the image in the path

ROWS: list[tuple[str, Dialect, Facets, Any, ApiResult, str]] = [  # ..., the checks that fail, space-separated
    # ------------------------------------------------------------ rest: a correct 202 + job
    ("job success", R, VALID, ON, job(DONE), ""),
    ("job success after pending polls", R, VALID, ON, job(DONE, PENDING, PENDING), ""),
    ("job success, event padded", R, VALID, " disable\t", job(DONE), ""),
    ("job success, no X-JSON-Schema", R, VALID, ON, job(answer(200, result(schema=None), BARE_POLL)), ""),
    ("pending poll with a body", R, VALID, ON, job(DONE, answer(202, {"state": "x"})), "pending_body"),
    ("pending poll answering null", R, VALID, ON, job(DONE, answer(202, None)), "pending_body"),
    # ------------------------------------------------------------ rest: a correct error per code family, in the job
    # (polled with X-JSON-Schema, as every job row here, and without `schema`: that rule is about results, 200)
    ("SYS.1007 invalid event", R, BAD_EVENT, BAD, job(err("SYS.1007")), ""),
    ("SYS.1007 missing event", R, NO_EVENT, None, job(err("SYS.1007")), ""),
    ("SYS.1003 unknown image", R, UNKNOWN, ON, job(err("SYS.1003")), ""),
    ("ID.1001 logged out", R, DEAD, ON, job(err("ID.1001")), ""),
    ("ID.1001 expired", R, EXPIRED, ON, job(err("ID.1001")), ""),
    ("SYS.1006 another account's", R, FOREIGN, ON, job(err("SYS.1006")), ""),
    # ------------------------------------------------------------ rest: a correct synchronous plain-text rejection
    ("no Authorization", R, NO_AUTH, ON, put(400, NO_AUTH_TEXT), ""),
    ("Bearer", R, NOT_OAUTH, ON, put(400, b"Authorization type must be 'OAuth'"), ""),
    ("params to rest", R, WRONG_KEY, ON, put(400, b"the body doesn't contain action mapping to the URL[/x]"), ""),
    ("not JSON", R, NOT_JSON, ON, put(500, b"com.google.gson.JsonSyntaxException: ..."), ""),
    # ------------------------------------------------------------ wrong status
    ("job success ends 201", R, VALID, ON, job(answer(201, result())), "status_code"),
    ("job error ends 500", R, UNKNOWN, ON, job(answer(500, {"error": code("SYS.1003")})), "status_code"),
    ("rejection 401 not 400", R, NO_AUTH, ON, put(401, NO_AUTH_TEXT), "status_code"),
    ("rejection as a 202 job", R, NO_AUTH, ON, job(err("ID.1001")), "plain_text status_code"),
    # ------------------------------------------------------------ a synchronous answer where a job was due
    ("sync success", R, VALID, ON, put(200, {"inventory": REST_INVENTORY}), "status_code"),
    ("sync error", R, BAD_EVENT, BAD, put(503, {"error": code("SYS.1007")}), "status_code"),
    # ------------------------------------------------------------ wrong code, wrong outcome
    ("SYS.1003 for a bad event", R, BAD_EVENT, BAD, job(err("SYS.1003")), "error_code"),
    ("ID.1001 for a valid session", R, VALID, ON, job(err("ID.1001")), "error_code status_code"),
    ("success for an unknown image", R, UNKNOWN, ON, job(DONE), "error_code status_code"),
    ("no code at all", R, BAD_EVENT, BAD, job(err("SYS.1007", code=None)), "error_code error_code_shape"),
    ("code unlike SYS.1007", R, BAD_EVENT, BAD, job(err("SYS.1007", code="sys-1007")), "error_code error_code_shape"),
    ("null field in an ErrorCode", R, BAD_EVENT, BAD, job(err("SYS.1007", cause=None)), "error_code_shape"),
    ("empty details", R, BAD_EVENT, BAD, job(err("SYS.1007", details="")), "error_code_shape"),
    ("plain text, no ErrorCode", R, BAD_EVENT, BAD, job(answer(503, b"internal error")), "envelope"),
    # ------------------------------------------------------------ wrong envelope key
    ("success: true in rest", R, VALID, ON, job(answer(200, result(success=True))), "envelope"),
    ("result, not inventory", R, VALID, ON, ends(200, result(inventory=None, result=REST_INVENTORY)), "envelope"),
    ("inventories, not inventory", R, VALID, ON, ends(200, result(inventory=None, inventories=[{}])), "envelope"),
    ("error: null beside it", R, VALID, ON, job(answer(200, {**result(), "error": None})), "envelope"),
    ("error and inventory", R, BAD_EVENT, BAD, ends(503, {"error": code("SYS.1007")} | result()), "envelope"),
    ("errors, not error", R, BAD_EVENT, BAD, job(answer(503, {"errors": code("SYS.1007")})), "envelope error_code"),
    ("a JSON array", R, VALID, ON, job(answer(200, [REST_INVENTORY])), "envelope"),
    ("an envelope for a rejection", R, NO_AUTH, ON, put(400, {"error": code("ID.1001")}), "plain_text"),
    ("wrong rejection text", R, NO_AUTH, ON, put(400, b"Unauthorized"), "plain_text"),
    # ------------------------------------------------------------ the 202 itself
    ("no apiTimeout, a failing job", R, BAD_EVENT, BAD, job(err("SYS.1007"), first=NO_TIMEOUT), "accepted_body"),
    ("apiTimeout true", R, VALID, ON, job(DONE, first=accepted(apiTimeout=True)), "accepted_body"),
    ("no location", R, VALID, ON, job(DONE, first=accepted(location=None)), "accepted_body"),
    ("location off api-jobs", R, VALID, ON, job(DONE, first=OFF_PATH), "accepted_body"),
    # ------------------------------------------------------------ a job that answers for the wrong job
    ("202 names another job", R, BAD_EVENT, BAD, job(err("SYS.1007"), first=OTHER_JOB), "accepted_body"),
    ("another image", R, VALID, ON, ends(200, image(uuid=OTHER_IMAGE, backupStorageRefs=[])), "inventory_identity"),
    ("result is the other state", R, VALID, ON, ends(200, image(state="Enabled")), "state_matches_event"),
    ("result lacks lastOpDate", R, VALID, ON, ends(200, image(lastOpDate=None)), "inventory_schema"),
    # ------------------------------------------------------------ schema presence beyond test_response's rows
    ("schema null", R, VALID, ON, job(answer(200, {**result(), "schema": None})), "schema_presence"),
    ("schema {} not asked for", R, VALID, ON, job(answer(200, result(schema={}), BARE_POLL)), "schema_presence"),
    # ------------------------------------------------------------ endings without an answer
    ("transport error", R, VALID, ON, ApiResult(Outcome.TRANSPORT_ERROR, [REFUSED]), "transport"),
    ("polling deadline spent", R, VALID, ON, ApiResult(Outcome.TIMEOUT, [accepted(), PENDING], {}), "job_completes"),
    # ------------------------------------------------------------ documented: synchronous envelopes
    ("doc success", D, VALID, ON, put(200, doc_success()), ""),
    ("doc SYS.1007", D, BAD_EVENT, BAD, put(200, doc_failure("SYS.1007")), ""),
    ("doc SYS.1003", D, UNKNOWN, ON, put(200, doc_failure("SYS.1003")), ""),
    ("doc ID.1001", D, DEAD, ON, put(200, doc_failure("ID.1001")), ""),
    ("doc SYS.1006", D, FOREIGN, ON, put(200, doc_failure("SYS.1006")), ""),
    ("doc no Authorization", D, NO_AUTH, ON, put(400, NO_AUTH_TEXT), ""),
    ("doc a 202 + job", D, VALID, ON, job(answer(200, doc_success())), "status_code"),
    ("doc failure as 503", D, BAD_EVENT, BAD, put(503, doc_failure("SYS.1007")), "status_code"),
    ("doc wrong code", D, BAD_EVENT, BAD, put(200, doc_failure("SYS.1003")), "error_code"),
    ("doc success for a bad event", D, BAD_EVENT, BAD, put(200, doc_success()), "error_code"),
    ("doc rest envelope", D, VALID, ON, put(200, {"inventory": DOC_INVENTORY}), "envelope"),
    ("doc no inventory key", D, VALID, ON, put(200, {"success": True, "error": None}), "envelope"),
    ("doc success as a string", D, VALID, ON, put(200, doc_success(success="true")), "envelope"),
    ("doc success, error set", D, VALID, ON, put(200, doc_success(error=doc_code("SYS.1000"))), "envelope error_code"),
    ("doc failure with one", D, BAD_EVENT, BAD, put(200, doc_failure("SYS.1007", inventory=DOC_INVENTORY)), "envelope"),
    ("doc ErrorCode, rest fields", D, BAD_EVENT, BAD, put(200, doc_failure(code("SYS.1007"))), "error_code_shape"),
    ("doc description", D, UNKNOWN, ON, put(200, doc_failure(WRONG_DESCRIPTION)), "error_code_shape"),
    ("doc no md5Sum", D, VALID, ON, put(200, doc_success(without(DOC_INVENTORY, "md5Sum"))), "inventory_schema"),
    ("doc rest inventory", D, VALID, ON, put(200, doc_success(REST_INVENTORY)), "inventory_schema"),  # nulls omitted
    ("doc state", D, VALID, ON, put(200, doc_success(DOC_INVENTORY | {"state": "Enabled"})), "state_matches_event"),
    ("doc other uuid", D, VALID, ON, put(200, doc_success(DOC_OTHER)), "inventory_identity inventory_schema"),
    # the schema rule is the rest dialect's: the page's envelope is never judged on it
    ("doc schema present", D, VALID, ON, put(200, doc_success(schema=SCHEMA)), ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dialect", "facets", "event", "result", "checks"),
    [(*row[1:5], sorted(row[5].split())) for row in ROWS],
    ids=[f"{row[1]}: {row[0]}" for row in ROWS],
)
def test_judge(dialect: Dialect, facets: Facets, event: Any, result: ApiResult, checks: list[str]) -> None:
    probe = Probe(dialect, IMAGE, event, default_table().expect(facets, dialect), JOB if dialect == "rest" else None)
    assert sorted({v.check for v in judge(probe, result)}) == checks


def test_every_row_has_its_own_name() -> None:
    names = [(row[1], row[0]) for row in ROWS]
    assert len(names) == len(set(names))


def test_every_violation_points_at_an_exchange_of_the_call() -> None:
    """A report shows the exchange each violation is about, so every one must name one of the call's."""
    for name, dialect, facets, event, result, _ in ROWS:
        probe = Probe(dialect, IMAGE, event, default_table().expect(facets, dialect), JOB)
        for violation in judge(probe, result):
            assert any(violation.exchange is e for e in result.exchanges), (name, violation)


# ---------------------------------------------------------------------------- judge_read

GET = _wire.get_image(IMAGE, "s")


FOREIGN_REF = {**REST_INVENTORY["backupStorageRefs"][0], "imageUuid": OTHER_IMAGE}


def found(*inventories: Any) -> Exchange:
    return answer(200, {"inventories": list(inventories)}, GET)


@pytest.mark.parametrize(
    ("exchange", "documented", "checks"),
    [
        (found(REST_INVENTORY), False, []),
        (found(DOC_INVENTORY), True, []),
        (found(REST_INVENTORY), True, ["inventory_schema"]),
        (found(), False, ["read_answer"]),
        (found(REST_INVENTORY, REST_INVENTORY), False, ["read_answer"]),
        (found(inventory(uuid=OTHER_IMAGE, backupStorageRefs=[])), False, ["read_answer"]),
        (answer(200, {"inventory": REST_INVENTORY}, GET), False, ["read_answer"]),
        (answer(503, {"error": code("SYS.1003")}, GET), False, ["read_answer"]),
        (answer(201, {"inventories": [REST_INVENTORY]}, GET), False, ["read_answer"]),
        (found(inventory(state="enabled")), False, ["inventory_schema"]),
        (found(inventory(size=-1)), False, ["inventory_schema"]),
        (found(inventory(createDate="2025-10-28T14:09:26Z")), False, ["inventory_schema"]),
        (found({**REST_INVENTORY, "description": None}), False, ["inventory_schema"]),
        (found(inventory(backupStorageRefs=[FOREIGN_REF])), False, ["inventory_schema"]),  # a ref of another image
        (Exchange(GET, 0.0, 0.0, error="timed out"), False, ["transport"]),
    ],
)  # fmt: skip
def test_judge_read(exchange: Exchange, documented: bool, checks: list[str]) -> None:
    assert sorted({v.check for v in judge_read(exchange, IMAGE, documented=documented)}) == checks


# ---------------------------------------------------------------------------- judge_call (the harness's own calls)

ADD = _wire.add_image({"name": "n", "url": "u", "backupStorageUuids": []}, "s")


def own_job(final: Exchange, *polls: Exchange, outcome: Outcome | None = None) -> ApiResult:
    first = answer(202, {"location": LOCATION, "apiTimeout": 1}, ADD)
    return ApiResult(outcome or read_outcome(final), [first, *polls, final], final.json)


@pytest.mark.parametrize(
    ("result", "checks"),
    [
        (own_job(answer(200, {"inventory": {"uuid": "x"}})), []),
        (own_job(answer(503, {"error": code("SYS.1002")})), []),  # refused for its own reasons: the target's right
        (own_job(answer(503, {"error": code("SYS.1002")}), PENDING), []),
        (sync(answer(200, {"inventory": {"uuid": "x"}}, ADD)), []),
        (ApiResult(Outcome.TRANSPORT_ERROR, [Exchange(ADD, 0.0, 0.0, error="refused")]), []),  # could not run
        (own_job(answer(503, {"error": code("SYS.1002")}), answer(202, {"x": 1})), ["pending_body"]),
        (sync(answer(202, {"apiTimeout": 1}, ADD)), ["accepted_body"]),
        (own_job(PENDING, outcome=Outcome.TIMEOUT), ["job_completes"]),
        (own_job(answer(404, b"the job has been expired")), ["job_protocol"]),
        (own_job(answer(500, b"oops")), ["status_code"]),
        (own_job(answer(200, b"not json")), ["envelope"]),
        (own_job(answer(503, {"reason": "no storage"})), ["envelope"]),
        (own_job(answer(503, {"error": code("SYS.1002", code="bad")})), ["error_code_shape"]),
        (sync(answer(503, {"error": code("SYS.1002", details=None)}, ADD)), ["error_code_shape"]),
    ],
)  # fmt: skip
def test_judge_call(result: ApiResult, checks: list[str]) -> None:
    assert sorted({v.check for v in judge_call(result, "AddImage")}) == checks


# ---------------------------------------------------------------------------- judge_protocol, beyond test_response's


@pytest.mark.parametrize(
    ("name", "exchange", "checks"),
    [
        ("actions-get", answer(500, b"No query API found for the path[/zstack/v1/images/x/actions]", GET), []),
        ("actions-get", answer(405, b"", GET), ["status_code"]),
        ("actions-delete", answer(500, b"No delete API found for the path[/zstack/v1/images/x/actions]", GET), []),
        ("actions-delete", answer(500, b"No query API found for the path[/x]", GET), ["status_code"]),
        ("job-unknown", answer(404, b"not found", GET), ["job_protocol"]),
        ("job-not-get", Exchange(GET, 0.0, 0.0, error="reset"), ["transport"]),
    ],
)
def test_judge_protocol(name: str, exchange: Exchange, checks: list[str]) -> None:
    rule = default_table().protocol_rule(name)
    assert sorted({v.check for v in judge_protocol(rule, exchange)}) == checks
