"""`PUT /zstack/v1/images/{uuid}/actions`: one test per row of the §1.4 status-code table.

Every test talks to a real reference server over a real socket. Requests the wire client would never
build are sent with `_wire.raw`, so the body and headers are exactly what the row describes.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import PASSWORD, image_uuids
from zscheck import Client, Outcome, _wire
from zscheck.refserver import RunningServer

UNKNOWN = "0" * 32


def put_action(zs: Client, image: str, body: bytes | None, **headers: str) -> tuple[int | None, bytes, object]:
    assert zs.session is not None
    hdrs = {"Authorization": f"OAuth {zs.session.uuid}", **headers}
    exchange = zs.send(_wire.raw("PUT", f"/zstack/v1/images/{image}/actions", body=body, headers=hdrs))
    return exchange.status, exchange.body, exchange.json


def job_error(zs: Client, image: str, params: object, session: str | None = None) -> dict[str, object]:
    """Send {"changeImageState": params}; expect 202 then a 503 job; return the ErrorCode."""
    token = session if session is not None else zs.session.uuid
    hdrs = {"Authorization": f"OAuth {token}".rstrip()}  # h11 refuses trailing spaces; the server trims
    body = json.dumps({"changeImageState": params}).encode()
    result = zs.call(_wire.raw("PUT", f"/zstack/v1/images/{image}/actions", body=body, headers=hdrs))
    assert result.exchanges[0].status == 202, result.exchanges[0].text()
    assert result.final.status == 503, result.final.text()
    assert result.outcome is Outcome.FAILURE
    assert result.error is not None
    return result.error


# --------------------------------------------------------------------------------------- success


@pytest.mark.parametrize(("event", "state"), [("disable", "Disabled"), ("enable", "Enabled")])
def test_success_is_202_then_job_200_with_the_inventory(client: Client, event: str, state: str) -> None:
    image = image_uuids(client)[0]
    if event == "enable":
        assert client.change_state(image, "disable").ok
    result = client.change_state(image, event)
    accepted, final = result.exchanges[0], result.final
    assert accepted.status == 202
    assert set(accepted.json) == {"location", "apiTimeout"}
    assert accepted.json["location"].endswith(f"/zstack/v1/api-jobs/{accepted.request.headers['X-Job-UUID']}")
    assert accepted.json["apiTimeout"] == 1_800_000
    assert final.status == 200
    assert "success" not in final.json and "error" not in final.json
    assert final.json["inventory"]["uuid"] == image
    assert final.json["inventory"]["state"] == state


def test_inventory_carries_every_field_and_omits_nulls(client: Client) -> None:
    inventory = client.change_state(image_uuids(client)[1], "disable").inventory
    assert inventory is not None
    # seed image 1 has no description and no guestOsType: null fields are omitted, never sent as null
    assert "description" not in inventory and "guestOsType" not in inventory and "md5Sum" not in inventory
    assert None not in inventory.values()
    for field in (
        "uuid",
        "name",
        "state",
        "status",
        "size",
        "actualSize",
        "url",
        "mediaType",
        "type",
        "platform",
        "architecture",
        "format",
        "system",
        "virtio",
        "createDate",
        "lastOpDate",
    ):
        assert field in inventory, field
    ref = inventory["backupStorageRefs"][0]
    assert {"id", "imageUuid", "backupStorageUuid", "installPath", "status", "createDate", "lastOpDate"} <= set(ref)
    assert ref["imageUuid"] == inventory["uuid"]


def test_timestamps_use_zstacks_java8_format(client: Client) -> None:
    import re

    inventory = client.change_state(image_uuids(client)[0], "disable").inventory
    assert inventory is not None
    pattern = r"^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)$"
    assert re.match(pattern, inventory["createDate"]), inventory["createDate"]
    assert re.match(pattern, inventory["lastOpDate"]), inventory["lastOpDate"]


def test_same_state_changes_succeed_and_change_nothing(client: Client) -> None:
    image = image_uuids(client)[0]
    first = client.change_state(image, "disable")
    second = client.change_state(image, "disable")
    assert first.ok and second.ok
    assert second.inventory == first.inventory  # lastOpDate included: a no-op does not touch the row
    again = client.change_state(image, "enable")
    assert again.inventory is not None and again.inventory["state"] == "Enabled"


def test_system_and_user_tags_are_accepted_and_ignored(client: Client) -> None:
    image = image_uuids(client)[0]
    result = client.change_state(image, "disable", system_tags=["foo::bar"], user_tags=["mine"])
    assert result.ok and result.inventory is not None and result.inventory["state"] == "Disabled"
    body = {"changeImageState": {"stateEvent": "enable"}, "systemTags": ["a::b"], "userTags": []}
    result = client.call(
        _wire.raw("PUT", f"/zstack/v1/images/{image}/actions", client.session.uuid, body=json.dumps(body).encode())
    )
    assert result.ok


def test_uuid_in_the_body_is_overridden_by_the_url(client: Client) -> None:
    image, other = image_uuids(client)[:2]
    body = json.dumps({"changeImageState": {"stateEvent": "disable", "uuid": other}}).encode()
    status, _, data = put_action(client, image, body)
    assert status == 202
    assert client.get_image(image)["state"] == "Disabled"
    assert client.get_image(other)["state"] == "Enabled"
    del data


# ------------------------------------------------------------------------- synchronous plain-text answers


def test_params_body_is_400_plain_text(client: Client) -> None:
    image = image_uuids(client)[0]
    status, body, data = put_action(client, image, b'{"params": {"stateEvent": "disable"}}')
    assert status == 400
    assert data is None  # plain text, not JSON
    assert body.decode() == f"the body doesn't contain action mapping to the URL[/v1/images/{image}/actions]"


def test_unknown_action_key_is_400(client: Client) -> None:
    status, body, _ = put_action(client, UNKNOWN, b'{"changeState": {"stateEvent": "disable"}}')
    assert status == 400
    assert body.startswith(b"the body doesn't contain action mapping")


def test_empty_body_is_500_with_an_empty_body(client: Client) -> None:
    status, body, _ = put_action(client, image_uuids(client)[0], b"")
    assert (status, body) == (500, b"")


@pytest.mark.parametrize("raw", [b"{not json", b'{"changeImageState": ', b"[1, 2]", b'"enable"', b"42"])
def test_malformed_or_non_object_json_is_500_plain_text(client: Client, raw: bytes) -> None:
    status, body, data = put_action(client, image_uuids(client)[0], raw)
    assert status == 500
    assert data is None
    assert body.startswith(b"com.google.gson.JsonSyntaxException")


@pytest.mark.parametrize("value", ["enable", [], 1, True])
def test_action_value_that_is_not_an_object_is_500(client: Client, value: object) -> None:
    status, body, data = put_action(client, image_uuids(client)[0], json.dumps({"changeImageState": value}).encode())
    assert status == 500
    assert data is None
    assert b"cannot be cast to java.util.Map" in body


@pytest.mark.parametrize("value", [{"a": 1}, ["enable"]])
def test_state_event_object_or_array_is_500(client: Client, value: object) -> None:
    body = json.dumps({"changeImageState": {"stateEvent": value}}).encode()
    status, text, _ = put_action(client, image_uuids(client)[0], body)
    assert status == 500
    assert b"Expected a string but was" in text


def test_missing_authorization_is_400(client: Client) -> None:
    image = image_uuids(client)[0]
    exchange = client.send(
        _wire.raw("PUT", f"/zstack/v1/images/{image}/actions", body=b'{"changeImageState": {"stateEvent": "disable"}}')
    )
    assert (exchange.status, exchange.body) == (400, b"missing header 'Authorization'")


@pytest.mark.parametrize("auth", ["Bearer abc", "oauth abc", "Basic YWRtaW4="])
def test_non_oauth_authorization_is_400(client: Client, auth: str) -> None:
    image = image_uuids(client)[0]
    exchange = client.send(
        _wire.raw(
            "PUT",
            f"/zstack/v1/images/{image}/actions",
            headers={"Authorization": auth},
            body=b'{"changeImageState": {"stateEvent": "disable"}}',
        )
    )
    assert (exchange.status, exchange.body) == (400, b"Authorization type must be 'OAuth'")


def test_oauth_prefix_without_space_still_reads_the_session(client: Client) -> None:
    image = image_uuids(client)[0]
    body = b'{"changeImageState": {"stateEvent": "disable"}}'
    result = client.call(
        _wire.raw(
            "PUT",
            f"/zstack/v1/images/{image}/actions",
            body=body,
            headers={"Authorization": f"OAuth{client.session.uuid}"},
        )
    )
    assert result.ok


@pytest.mark.parametrize("job_uuid", ["short", "x" * 33, "0f3e9c4a-1b2c-4d5e-8f90-123456789abc"])
def test_bad_job_uuid_header_is_400(client: Client, job_uuid: str) -> None:
    status, body, _ = put_action(
        client, image_uuids(client)[0], b'{"changeImageState": {"stateEvent": "disable"}}', **{"X-Job-UUID": job_uuid}
    )
    assert status == 400
    assert body == b"Invalid header[X-Job-UUID], it must be a UUID with '-' stripped"


def test_duplicate_job_uuid_is_400(client: Client) -> None:
    image = image_uuids(client)[0]
    job = _wire.new_job_uuid()
    assert client.change_state(image, "disable", job_uuid=job).ok
    status, body, _ = put_action(
        client, image, b'{"changeImageState": {"stateEvent": "enable"}}', **{"X-Job-UUID": job}
    )
    assert (status, body) == (400, f"Duplicate job uuid[{job}]".encode())
    assert client.get_image(image)["state"] == "Disabled"


@pytest.mark.parametrize(
    ("method", "status", "text"),
    [
        ("POST", 500, "No creational API found for the path[/zstack/v1/images/{uuid}/actions]"),
        ("GET", 500, "No query API found for the path[/zstack/v1/images/{uuid}/actions]"),
        ("DELETE", 500, "No delete API found for the path[/zstack/v1/images/{uuid}/actions]"),
    ],
)
def test_other_methods_on_the_action_path(client: Client, method: str, status: int, text: str) -> None:
    image = image_uuids(client)[0]
    exchange = client.send(_wire.raw(method, f"/zstack/v1/images/{image}/actions", client.session.uuid))
    assert exchange.status == status
    assert exchange.body.decode() == text.format(uuid=image)


def test_head_is_405_with_no_body_on_the_wire(client: Client) -> None:
    image = image_uuids(client)[0]
    exchange = client.send(_wire.raw("HEAD", f"/zstack/v1/images/{image}/actions"))
    assert exchange.status == 405
    assert exchange.body == b""
    expected = f"The method[HEAD] is not allowed for the path[/zstack/v1/images/{image}/actions]"
    assert exchange.headers["content-length"] == str(len(expected))


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS"])
def test_methods_the_controller_does_not_map_are_405(client: Client, method: str) -> None:
    exchange = client.send(_wire.raw(method, f"/zstack/v1/images/{UNKNOWN}/actions"))
    assert exchange.status == 405


def test_unknown_path_is_404_plain_text(client: Client) -> None:
    exchange = client.send(_wire.raw("GET", "/zstack/v1/no-such-thing/x", client.session.uuid))
    assert (exchange.status, exchange.body) == (404, b"no api mapping to /v1/no-such-thing/x")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
def test_content_type_is_not_checked(client: Client, content_type: str | None) -> None:
    image = image_uuids(client)[0]
    headers = {"Authorization": f"OAuth {client.session.uuid}"}
    if content_type:
        headers["Content-Type"] = content_type
    result = client.call(
        _wire.raw(
            "PUT",
            f"/zstack/v1/images/{image}/actions",
            headers=headers,
            body=b'{"changeImageState": {"stateEvent": "disable"}}',
        )
    )
    assert result.ok


def test_unknown_extra_keys_are_ignored(client: Client) -> None:
    image = image_uuids(client)[0]
    body = {"changeImageState": {"stateEvent": "disable", "colour": "blue"}, "imageUuid": image, "x": [1]}
    status, _, _ = put_action(client, image, json.dumps(body).encode())
    assert status == 202
    assert client.get_image(image)["state"] == "Disabled"


def test_responses_carry_no_content_type(client: Client) -> None:
    result = client.change_state(image_uuids(client)[0], "disable")
    assert all("content-type" not in e.headers for e in result.exchanges)


# ---------------------------------------------------------------------------- api-job failures (503)


@pytest.mark.parametrize("params", [{}, None, {"stateEvent": None}])
def test_missing_state_event_is_sys_1007_mandatory(client: Client, params: object) -> None:
    error = job_error(client, image_uuids(client)[0], params)
    assert error["code"] == "SYS.1007"
    assert "field[stateEvent]" in str(error["details"]) and "is mandatory" in str(error["details"])
    assert error["description"] == "One or more API argument is invalid"


@pytest.mark.parametrize(
    ("value", "shown"),
    [("foo", "foo"), ("Enable", "Enable"), (" DISABLE ", "DISABLE"), (1, "1"), (1.5, "1.5"), (True, "true"), ("", "")],
)
def test_invalid_state_event_is_sys_1007(client: Client, value: object, shown: str) -> None:
    error = job_error(client, image_uuids(client)[0], {"stateEvent": value})
    assert error["code"] == "SYS.1007"
    assert error["details"] == (
        "valid value for field[stateEvent] of message[org.zstack.header.message.ApiMessageParamValidator] "
        f"are [enable, disable], but {shown} found"
    )


def test_state_event_is_trimmed_before_validation(client: Client) -> None:
    image = image_uuids(client)[0]
    result = client.change_state(image, "  disable\t")
    assert result.ok and result.inventory["state"] == "Disabled"


def test_unknown_image_is_sys_1003(client: Client) -> None:
    error = job_error(client, "no-such-image", {"stateEvent": "disable"})
    assert error["code"] == "SYS.1003"
    assert error["details"] == "invalid field[uuid], resource[uuid:no-such-image, type:ImageVO] not found"


@pytest.mark.parametrize("session", ["deadbeef" * 4, "", "not-a-session"])
def test_unknown_or_empty_session_is_id_1001(client: Client, session: str) -> None:
    error = job_error(client, image_uuids(client)[0], {"stateEvent": "disable"}, session=session)
    assert error["code"] == "ID.1001"
    assert error["details"] == "Session expired"


def test_another_accounts_image_is_sys_1006(server: RunningServer, client: Client) -> None:
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        own = image_uuids(tenant)
        admin_only = [u for u in image_uuids(client) if u not in own]
        assert own and admin_only
        result = tenant.change_state(admin_only[0], "disable")
        assert result.error_code == "SYS.1006"
        assert "is not the owner of the resource" in result.error["details"]
        assert tenant.change_state(own[0], "disable").ok
    assert client.change_state(own[0], "enable").ok  # the admin may change anyone's image
    assert client.get_image(admin_only[0])["state"] == "Enabled"


@pytest.mark.parametrize(
    ("params", "image", "session", "code"),
    [
        ({"stateEvent": "foo"}, "unknown", "bogus", "SYS.1007"),  # arguments before the session
        ({"stateEvent": "disable"}, "unknown", "bogus", "SYS.1003"),  # the resource before the session
        ({"stateEvent": "foo"}, "unknown", None, "SYS.1007"),  # stateEvent before uuid
        ({}, "unknown", "bogus", "SYS.1007"),
    ],
)
def test_validation_order(client: Client, params: object, image: str, session: str | None, code: str) -> None:
    error = job_error(client, image, params, session=session)
    assert error["code"] == code


def test_failed_request_changes_nothing(client: Client) -> None:
    image = image_uuids(client)[0]
    before = client.get_image(image)
    job_error(client, image, {"stateEvent": "Disable"})
    job_error(client, image, {"stateEvent": "disable"}, session="bogus")
    assert client.get_image(image) == before


def test_error_code_shape(client: Client) -> None:
    error = job_error(client, UNKNOWN, {"stateEvent": "disable"})
    assert {"code", "description", "details"} <= set(error)
    assert None not in error.values()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"changeImageState": {"stateEvent": "disable"}, "changeImageState": {}}',
        b'{"changeImageState": {"stateEvent": "disable", "stateEvent" : "enable"}}',
    ],
)
def test_duplicate_keys_are_gsons_500(client: Client, raw: bytes) -> None:
    status, body, _ = put_action(client, image_uuids(client)[0], raw)
    assert status == 500 and body.startswith(b"com.google.gson.JsonSyntaxException: duplicate key")


def test_keys_inside_strings_do_not_confuse_the_duplicate_check(client: Client) -> None:
    image = image_uuids(client)[0]
    body = b'{"changeImageState": {"stateEvent": "disable"}, "note": "a\\": b\\": c"}'
    status, _, _ = put_action(client, image, body)
    assert status == 202
