"""§10 of the facts (the second audit of ZStack's source), one test per correction or addition."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import PASSWORD, image_uuids
from tests.refserver.helpers import action, query_one, send_json, session_of
from zscheck import Client, _wire
from zscheck.refserver import RunningServer

UNKNOWN = "0" * 32


def put(zs: Client, image: str, body: bytes | dict[str, Any], **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return zs.send(_wire.raw("PUT", f"/zstack/v1/images/{image}/actions", session_of(zs), body=raw, headers=headers))


# ------------------------------------------------------------------------------------------ tags


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"changeImageState": {"stateEvent": "disable"}, "systemTags": [None]}, "systemTags"),
        ({"changeImageState": {"stateEvent": "disable"}, "userTags": ["a", None]}, "userTags"),
        ({"changeImageState": {"stateEvent": "disable", "systemTags": [None]}}, "systemTags"),
        ({"changeImageState": {"stateEvent": "disable", "userTags": [None]}}, "userTags"),
    ],
)
def test_a_null_tag_element_is_sys_1007(client: Client, body: dict[str, Any], field: str) -> None:
    image = image_uuids(client)[0]
    result = send_json(client, "PUT", f"/zstack/v1/images/{image}/actions", body)
    assert result.exchanges[0].status == 202
    assert result.final.status == 503 and result.error_code == "SYS.1007"
    assert result.error["details"] == f"field[{field}] cannot contain a NULL element"
    assert query_one(client, image)["state"] == "Enabled"


def test_top_level_tags_replace_the_action_maps(client: Client) -> None:
    """RestServer.java:998-1005: after the rehash, a non-null top-level list replaces the action map's, so
    a null element inside the map is not seen when the top level carries its own (even empty) list."""
    image = image_uuids(client)[0]
    body = {"changeImageState": {"stateEvent": "disable", "userTags": [None]}, "systemTags": [], "userTags": []}
    assert send_json(client, "PUT", f"/zstack/v1/images/{image}/actions", body).ok
    body = {"changeImageState": {"stateEvent": "enable", "userTags": [None]}, "systemTags": []}
    assert send_json(client, "PUT", f"/zstack/v1/images/{image}/actions", body).error_code == "SYS.1007"


def test_tag_validation_order(client: Client) -> None:
    """stateEvent, then the tags, then uuid: a null tag beats an unknown image; a bad stateEvent beats a null
    tag; and both come before the session."""
    null_tag_unknown_image = {"changeImageState": {"stateEvent": "disable"}, "systemTags": [None]}
    result = send_json(client, "PUT", f"/zstack/v1/images/{UNKNOWN}/actions", null_tag_unknown_image)
    assert result.error_code == "SYS.1007" and "NULL element" in str(result.error["details"])
    bad_event_null_tag = {"changeImageState": {"stateEvent": "off"}, "systemTags": [None]}
    result = send_json(client, "PUT", f"/zstack/v1/images/{UNKNOWN}/actions", bad_event_null_tag)
    assert result.error_code == "SYS.1007" and "valid value for field[stateEvent]" in str(result.error["details"])
    result = send_json(
        client, "PUT", f"/zstack/v1/images/{UNKNOWN}/actions", null_tag_unknown_image, session="never-issued"
    )
    assert result.error_code == "SYS.1007"


@pytest.mark.parametrize(
    ("inner", "path", "token"),
    [
        ({"systemTags": [{}]}, "$.systemTags[0]", "BEGIN_OBJECT"),
        ({"systemTags": ["ok", [1]]}, "$.systemTags[1]", "BEGIN_ARRAY"),
        ({"userTags": [{"a": 1}]}, "$.userTags[0]", "BEGIN_OBJECT"),
        ({"uuid": {}}, "$.uuid", "BEGIN_OBJECT"),
    ],
)
def test_wrong_kinds_inside_the_action_map_are_a_500(
    client: Client, inner: dict[str, Any], path: str, token: str
) -> None:
    exchange = put(client, image_uuids(client)[0], {"changeImageState": {"stateEvent": "disable", **inner}})
    assert exchange.status == 500 and exchange.json is None
    text = exchange.body.decode()
    assert text.startswith(f"java.lang.IllegalStateException: Expected a string but was {token} at line 1 column ")
    assert text.endswith(f"path {path}")


def test_the_column_is_gsons(client: Client) -> None:
    exchange = put(client, image_uuids(client)[0], {"changeImageState": {"systemTags": [{}]}})
    # the rehash reads {"systemTags":[{}]}: the object starts at index 15, and peeking consumes its brace
    assert exchange.body.decode().endswith("at line 1 column 17 path $.systemTags[0]")


def test_a_long_field_with_a_string_is_gsons_number_format_500(client: Client) -> None:
    exchange = put(client, image_uuids(client)[0], {"changeImageState": {"stateEvent": "disable", "timeout": "x"}})
    assert (exchange.status, exchange.body) == (500, b'java.lang.NumberFormatException: For input string: "x"')


def test_top_level_tags_with_objects_pass_the_unchecked_cast(client: Client) -> None:
    image = image_uuids(client)[0]
    result = send_json(
        client,
        "PUT",
        f"/zstack/v1/images/{image}/actions",
        {"changeImageState": {"stateEvent": "disable"}, "systemTags": [{}]},
    )
    assert result.ok and result.inventory["state"] == "Disabled"


# -------------------------------------------------------------------------------- validationOnly


@pytest.mark.parametrize("inside", [False, True])
def test_validation_only_validates_and_writes_nothing(client: Client, inside: bool) -> None:
    image = image_uuids(client)[0]
    before = query_one(client, image)
    params: dict[str, Any] = {"stateEvent": "disable"}
    body: dict[str, Any] = {"changeImageState": params}
    if inside:
        params["systemTags"] = ["validationOnly"]
    else:
        body["systemTags"] = ["validationOnly"]
    result = send_json(client, "PUT", f"/zstack/v1/images/{image}/actions", body)
    assert result.final.status == 200 and result.data == {"schema": {}}
    assert query_one(client, image) == before
    plain = client.send(_wire.poll(result.exchanges[0].json["location"], json_schema=False))
    assert (plain.status, plain.body) == (200, b"{}")


def test_validation_only_reports_errors_as_usual(client: Client) -> None:
    body = {"changeImageState": {"stateEvent": "disable"}, "systemTags": ["validationOnly"]}
    assert send_json(client, "PUT", f"/zstack/v1/images/{UNKNOWN}/actions", body).error_code == "SYS.1003"
    bad = {"changeImageState": {"stateEvent": "nope"}, "systemTags": ["validationOnly"]}
    assert send_json(client, "PUT", f"/zstack/v1/images/{UNKNOWN}/actions", bad).error_code == "SYS.1007"


def test_validation_only_on_add_image_creates_nothing(server: RunningServer, client: Client) -> None:
    bs = str(server.server.app.backup_storage)
    params = {"name": "ghost", "url": "http://x/g.qcow2", "format": "qcow2", "backupStorageUuids": [bs]}
    result = send_json(client, "POST", "/zstack/v1/images", {"params": params, "systemTags": ["validationOnly"]})
    assert result.ok and result.data == {"schema": {}}
    assert image_uuids(client, "name=ghost") == []


# ------------------------------------------------------------------------------ X-API-Timeout


def test_api_timeout_header_sets_the_reported_timeout(client: Client) -> None:
    image = image_uuids(client)[0]
    body = {"changeImageState": {"stateEvent": "disable"}}
    accepted = put(client, image, body, **{"X-API-Timeout": "120"})
    assert accepted.status == 202 and accepted.json["apiTimeout"] == 120_000
    assert put(client, image, body).json["apiTimeout"] == 1_800_000


@pytest.mark.parametrize("value", ["x", "1.5", "12s"])
def test_a_non_numeric_api_timeout_is_a_500(client: Client, value: str) -> None:
    exchange = put(
        client, image_uuids(client)[0], {"changeImageState": {"stateEvent": "disable"}}, **{"X-API-Timeout": value}
    )
    assert (exchange.status, exchange.body.decode()) == (500, f'For input string: "{value}"')


# ---------------------------------------------------------------------------------- lenient JSON


@pytest.mark.parametrize(
    "raw",
    [
        b"{'changeImageState': {'stateEvent': 'disable'}}",
        b"{changeImageState: {stateEvent: disable}}",
        b'{"changeImageState": {"stateEvent": "disable"} // a comment\n}',
        b'# leading comment\n{"changeImageState": /* inline */ {"stateEvent": "disable"}}',
        b"{changeImageState={stateEvent=>disable}; other=1}",
    ],
)
def test_lenient_bodies_are_accepted_like_gson(client: Client, raw: bytes) -> None:
    image = image_uuids(client)[0]
    result = client.call(_wire.raw("PUT", f"/zstack/v1/images/{image}/actions", session_of(client), body=raw))
    assert result.ok, result.final.text()
    assert result.inventory["state"] == "Disabled"


@pytest.mark.parametrize("raw", [b"{a: hello world}", b"{'a': 1,}", b"{a: 1} trailing", b"{'a"])
def test_what_gson_refuses_even_leniently_is_a_500(client: Client, raw: bytes) -> None:
    exchange = put(client, image_uuids(client)[0], raw)
    assert exchange.status == 500 and exchange.json is None


def test_lenient_parsing_is_linear(client: Client) -> None:
    import time

    body = b"{changeImageState: {stateEvent: disable}, x: [" + b"a," * 300_000 + b"b]}"
    # CPU, not wall time: the server runs in this process (a thread), and a loaded CI box stretches wall
    # time (8 s seen at load average 25) but not the CPU a quadratic parse would burn.
    started = time.process_time()
    exchange = put(client, image_uuids(client)[0], body)
    assert exchange.status == 202
    assert time.process_time() - started < 3.0


# -------------------------------------------------------------------------------- numbers are Long


def test_a_cast_error_names_java_lang_long(client: Client) -> None:
    exchange = put(client, image_uuids(client)[0], b'{"changeImageState": 1}')
    assert (exchange.status, exchange.body) == (500, b"java.lang.Long cannot be cast to java.util.Map")
    exchange = put(client, image_uuids(client)[0], b'{"changeImageState": {}, "systemTags": 2}')
    assert (exchange.status, exchange.body) == (500, b"java.lang.Long cannot be cast to java.util.List")


# ---------------------------------------------------------------------------------------- queries


def test_queries_compare_strings_case_insensitively(client: Client) -> None:
    seeded = image_uuids(client, "name=seed-image-000")
    assert image_uuids(client, "name=SEED-IMAGE-000") == seeded
    assert image_uuids(client, "name~=SEED-image-00%") == image_uuids(client, "name~=seed-image-00%")
    assert image_uuids(client, "state=disabled") == []
    assert len(image_uuids(client, "state=ENABLED")) == 16
    assert image_uuids(client, "name!=SEED-IMAGE-000") == [u for u in image_uuids(client) if u not in seeded]


# -------------------------------------------------------------------------------------- AddImage


def add(client: Client, server: RunningServer, **params: Any) -> Any:
    body = {"name": "n", "url": "http://x/y.qcow2", "backupStorageUuids": [str(server.server.app.backup_storage)]}
    body.update(params)
    extra = body.pop("_top", {})
    return send_json(client, "POST", "/zstack/v1/images", {"params": body, **extra})


def test_add_image_needs_a_format(server: RunningServer, client: Client) -> None:
    result = add(client, server)
    assert result.error_code == "SYS.1007" and result.error["details"] == "unknown format[null]"
    assert add(client, server, mediaType="ISO").ok  # an ISO's format is iso


def test_add_image_rules_and_texts(server: RunningServer, client: Client) -> None:
    empty = add(client, server, format="qcow2", backupStorageUuids=[])
    assert (
        empty.error_code == "SYS.1007" and empty.error["details"] == "field[backupStorageUuids] must be a nonempty list"
    )
    tag = add(client, server, format="qcow2", _top={"systemTags": ["colour::blue"]})
    assert tag.error_code == "SYS.1007" and tag.error["details"] == "no system tag matches colour::blue"
    assert add(client, server, format="qcow2", _top={"systemTags": ["bootMode::UEFI"]}).ok
    unknown = add(client, server, format="qcow2", backupStorageUuids=[UNKNOWN])
    assert unknown.error_code == "SYS.1003"
    assert (
        unknown.error["details"]
        == f"invalid field[backupStorageUuids], resource[uuids:[{UNKNOWN}], type:BackupStorageVO] not found"
    )
    null_tag = add(client, server, format="qcow2", _top={"systemTags": [None]})
    assert null_tag.error_code == "SYS.1007" and "NULL element" in str(null_tag.error["details"])


# ----------------------------------------------------------------------------------- UpdateImage


@pytest.mark.parametrize(("field", "value"), [("system", "x"), ("virtio", 1), ("system", [True])])
def test_update_image_booleans_are_checked_by_type_verifier(client: Client, field: str, value: Any) -> None:
    exchange = put(client, image_uuids(client)[0], {"updateImage": {field: value}})
    shown = {"x": "x", 1: "1"}.get(value, "[true]") if not isinstance(value, list) else "[true]"
    assert exchange.status == 400
    assert exchange.body.decode() == (
        f"Invalid value for boolean field [{field}], [{shown}] is not a valid boolean string[true, false]."
    )


def test_update_image_accepts_boolean_strings(client: Client) -> None:
    image = image_uuids(client)[0]
    result = action(client, image, "updateImage", {"system": "TRUE"})
    assert result.ok and result.inventory["system"] is True


@pytest.mark.parametrize("field", ["mediaType", "format", "platform", "architecture"])
def test_update_image_values_outside_the_lists_are_sys_1007(client: Client, field: str) -> None:
    image = image_uuids(client)[0]
    before = query_one(client, image)
    result = action(client, image, "updateImage", {field: "Bogus"})
    assert result.error_code == "SYS.1007"
    assert f"valid value for field[{field}]" in str(result.error["details"])
    assert query_one(client, image) == before


# ----------------------------------------------------------------------------------- DeleteImage


def test_an_invalid_delete_mode_is_sys_1000_after_session_and_ownership(server: RunningServer, client: Client) -> None:
    image = image_uuids(client)[0]
    bad = client.call(_wire.raw("DELETE", f"/zstack/v1/images/{image}?deleteMode=Gently", session_of(client)))
    assert bad.error_code == "SYS.1000"
    assert query_one(client, image)["status"] == "Ready"
    expired = client.call(_wire.raw("DELETE", f"/zstack/v1/images/{image}?deleteMode=Gently", "bogus"))
    assert expired.error_code == "ID.1001"
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        foreign = tenant.call(_wire.raw("DELETE", f"/zstack/v1/images/{image}?deleteMode=Gently", session_of(tenant)))
        assert foreign.error_code == "SYS.1006"


# --------------------------------------------------------------------------------- the Java SDK


def test_the_java_sdk_request_shape(client: Client) -> None:
    """§7.1 [probe]: X-Job-UUID and X-JSON-Schema on the PUT, tags inside the action map, the poll with
    X-JSON-Schema; the result parsed from `inventory` (and `schema`)."""
    image = image_uuids(client)[0]
    job = _wire.new_job_uuid()
    headers = {"X-Job-UUID": job, "X-JSON-Schema": "true", "Content-Type": "application/json; charset=utf-8"}
    body = b'{"changeImageState":{"stateEvent":"disable","systemTags":["foo::bar"]}}'
    path = f"/zstack/v1/images/{image}/actions"
    accepted = client.send(_wire.raw("PUT", path, session_of(client), body=body, headers=headers))
    assert accepted.status == 202 and accepted.json["location"].endswith(f"/zstack/v1/api-jobs/{job}")
    schema = {"X-JSON-Schema": "true"}
    poll = client.send(_wire.raw("GET", f"/zstack/v1/api-jobs/{job}", session_of(client), headers=schema))
    assert poll.status == 200
    assert poll.json["inventory"]["state"] == "Disabled"
    assert poll.json["schema"]["inventory"] == "org.zstack.header.image.ImageInventory"
    other = _wire.new_job_uuid()
    bad = b'{"changeImageState":{"stateEvent":"off"}}'
    failed = client.send(_wire.raw("PUT", path, session_of(client), body=bad, headers={**headers, "X-Job-UUID": other}))
    assert failed.status == 202
    answer = client.send(_wire.raw("GET", f"/zstack/v1/api-jobs/{other}", headers=schema))
    assert answer.status == 503 and answer.json["error"]["code"] == "SYS.1007"
