"""The `documented` dialect: the published API page taken literally, on the same state and login."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, Outcome, _wire
from zscheck.refserver import RunningServer

PAGE_INVENTORY_FIELDS = {
    "uuid",
    "name",
    "description",
    "state",
    "status",
    "size",
    "actualSize",
    "md5Sum",
    "url",
    "mediaType",
    "guestOsType",
    "type",
    "platform",
    "architecture",
    "format",
    "system",
    "virtio",
    "createDate",
    "lastOpDate",
    "backupStorageRefs",
}


@pytest.fixture
def documented(make_server: ServerFactory) -> RunningServer:
    return make_server(dialect="documented")


@pytest.fixture
def doc_client(documented: RunningServer) -> Client:
    zs = Client(documented.url, dialect="documented")
    zs.login("admin", PASSWORD)
    return zs


def test_params_body_is_a_synchronous_200_envelope(doc_client: Client) -> None:
    image = image_uuids(doc_client)[0]
    result = doc_client.change_state(image, "disable")
    assert len(result.exchanges) == 1  # no job to follow
    assert result.final.status == 200
    body = result.final.json
    assert set(body) == {"success", "error", "inventory"}
    assert body["success"] is True and body["error"] is None
    assert set(body["inventory"]) == PAGE_INVENTORY_FIELDS  # every field the page lists, nulls included
    assert body["inventory"]["state"] == "Disabled"
    assert "id" not in body["inventory"]["backupStorageRefs"][0]
    assert result.outcome is Outcome.SUCCESS


@pytest.mark.parametrize(
    ("image", "event", "session", "code"),
    [
        ("known", "Enable", None, "SYS.1007"),
        ("unknown", "disable", None, "SYS.1003"),
        ("known", "disable", "bogus", "ID.1001"),
    ],
)
def test_business_failure_is_200_with_success_false_and_the_rest_code(
    doc_client: Client, image: str, event: str, session: str | None, code: str
) -> None:
    uuid = image_uuids(doc_client)[0] if image == "known" else "f" * 32
    result = doc_client.change_state(uuid, event, session=session)
    assert result.final.status == 200
    body = result.final.json
    assert body["success"] is False and body["inventory"] is None
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "description", "details", "elaboration", "opaque", "cause"}
    assert result.outcome is Outcome.FAILURE and result.error_code == code


def test_same_code_as_the_rest_dialect(make_server: ServerFactory) -> None:
    codes = {}
    for dialect in ("rest", "documented"):
        with Client(make_server(dialect=dialect).url, dialect=dialect) as zs:
            zs.login("admin", PASSWORD)
            codes[dialect] = [
                zs.change_state(u, e).error_code for u, e in ((image_uuids(zs)[0], "bad"), ("f" * 32, "enable"))
            ]
    assert codes["rest"] == codes["documented"] == ["SYS.1007", "SYS.1003"]


def test_rest_action_key_is_not_the_documented_one(doc_client: Client) -> None:
    image = image_uuids(doc_client)[0]
    result = doc_client.change_state(image, "disable", dialect="rest")
    assert result.final.status == 400
    assert result.outcome is Outcome.REJECTED


def test_documented_dialect_shares_state_and_login(doc_client: Client, documented: RunningServer) -> None:
    image = image_uuids(doc_client)[0]
    assert doc_client.change_state(image, "disable").ok
    assert doc_client.get_image(image)["state"] == "Disabled"
    result = doc_client.delete_image(image)  # fixture APIs keep their REST form
    assert result.ok and doc_client.get_image(image)["status"] == "Deleted"
    del documented


def test_transport_errors_stay_plain_text(doc_client: Client) -> None:
    image = image_uuids(doc_client)[0]
    body = json.dumps({"params": {"stateEvent": "disable"}}).encode()
    exchange = doc_client.send(_wire.raw("PUT", f"/zstack/v1/images/{image}/actions", body=body))
    assert (exchange.status, exchange.body) == (400, b"missing header 'Authorization'")


@pytest.mark.parametrize(
    ("tags", "image", "code"),
    [({"systemTags": [None]}, "known", "SYS.1007"), ({"userTags": ["a", None]}, "unknown", "SYS.1007"),
     ({"systemTags": ["a"]}, "known", None)],
)  # fmt: skip
def test_null_tag_elements_are_refused_by_the_same_validator(
    doc_client: Client, tags: dict[str, list[str | None]], image: str, code: str | None
) -> None:
    """Top-level tags, as the page places them: a null element is SYS.1007 before the image is looked up."""
    uuid = image_uuids(doc_client)[0] if image == "known" else "f" * 32
    assert doc_client.session is not None
    body = _wire.json_body({"params": {"stateEvent": "disable"}, **tags})
    headers = {"Content-Type": "application/json", "Authorization": f"OAuth {doc_client.session.uuid}"}
    exchange = doc_client.send(_wire.WireRequest("PUT", f"/zstack/v1/images/{uuid}/actions", headers, body))
    assert exchange.status == 200
    error = exchange.json["error"]
    assert (error or {}).get("code") == code, exchange.json
