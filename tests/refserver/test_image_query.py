"""QueryImage (§5.1, image_query.py): the seeded images, conditions, paging, sort, fields, and who sees what."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, _wire
from zscheck.refserver import RunningServer


def test_seeded_images(client: Client) -> None:
    result = client.query_images(reply_with_count=True)
    assert result.data["total"] == 16
    assert len(result.data["inventories"]) == 16
    assert all(inv["state"] == "Enabled" and inv["status"] == "Ready" for inv in result.data["inventories"])


def test_seed_count_is_settable(make_server: ServerFactory) -> None:
    with Client(make_server(seed_images=3).url) as zs:
        zs.login("admin", PASSWORD)
        assert len(image_uuids(zs)) == 3


def test_query_conditions(client: Client) -> None:
    uuids = image_uuids(client)
    assert client.change_state(uuids[0], "disable").ok
    assert image_uuids(client, "state=Disabled") == [uuids[0]]
    assert set(image_uuids(client, "state!=Disabled")) == set(uuids[1:])
    assert image_uuids(client, "name~=seed-image-00%") == uuids[:10]
    assert image_uuids(client, "name=seed-image-003", "state=Enabled") == [uuids[3]]
    assert image_uuids(client, f"uuid?={uuids[1]},{uuids[2]}") == uuids[1:3]
    assert len(image_uuids(client, "description is null")) == 8
    assert len(image_uuids(client, "mediaType=ISO")) == 3


def test_unknown_query_parameters_are_ignored(client: Client) -> None:
    exchange = client.send(_wire.raw("GET", "/zstack/v1/images?condition=name%3Dx", client.session.uuid))
    assert exchange.status == 200 and len(exchange.json["inventories"]) == 16


def test_limit_start_and_count(client: Client) -> None:
    uuids = image_uuids(client)
    page = client.query_images(limit=5, start=3, reply_with_count=True)
    assert [inv["uuid"] for inv in page.data["inventories"]] == uuids[3:8]
    assert page.data["total"] == 16
    assert client.query_images(count=True).data == {"total": 16, "schema": {}}


def test_query_sort_and_fields(client: Client) -> None:
    names = [inv["name"] for inv in client.query_images(sort="-name").data["inventories"]]
    assert names == sorted(names, reverse=True)
    inventories = client.query_images(fields=["uuid", "state"]).data["inventories"]
    assert all(set(inv) == {"uuid", "state"} for inv in inventories)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("limit=ten", "Invalid query parameter. 'limit' must be an integer"),
        ("start=1.5", "Invalid query parameter. 'start' must be an integer"),
    ],
)
def test_non_integer_limit_or_start_is_400(client: Client, query: str, text: str) -> None:
    exchange = client.send(_wire.raw("GET", f"/zstack/v1/images?{query}", client.session.uuid))
    assert (exchange.status, exchange.body.decode()) == (400, text)


def test_condition_without_operator_is_400(client: Client) -> None:
    exchange = client.send(_wire.raw("GET", "/zstack/v1/images?q=name", client.session.uuid))
    assert exchange.status == 400 and b"doesn't contain any query operator" in exchange.body


def test_get_one_image_and_an_unknown_one(client: Client) -> None:
    uuid = image_uuids(client)[5]
    one = client.call(_wire.get_image(uuid, client.session.uuid))
    assert [inv["uuid"] for inv in one.data["inventories"]] == [uuid]
    assert one.data["schema"]["inventories[0]"] == "org.zstack.header.image.ImageInventory"
    none = client.call(_wire.get_image("f" * 32, client.session.uuid))
    assert none.final.status == 200 and none.data == {"inventories": [], "schema": {}}


def test_tenant_sees_only_its_own_images(server: RunningServer) -> None:
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        assert len(image_uuids(tenant)) == 4
