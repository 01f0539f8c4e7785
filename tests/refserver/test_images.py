"""AddImage, DeleteImage, expunge, recover and update (§5.2, §5.3, images.py), and state changes on deleted
images."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, image_uuids
from zscheck import Client, _wire
from zscheck.refserver import RunningServer


def backup_storage(server: RunningServer) -> str:
    return str(server.server.app.backup_storage)


def test_add_image_is_async_and_owned_by_the_caller(server: RunningServer, client: Client) -> None:
    result = client.add_image("fresh", "http://127.0.0.1/fresh.qcow2", [backup_storage(server)], format="qcow2")
    assert result.exchanges[0].status == 202 and result.final.status == 200
    inventory = result.inventory
    assert inventory is not None
    assert (inventory["name"], inventory["state"], inventory["status"]) == ("fresh", "Enabled", "Ready")
    assert client.get_image(inventory["uuid"]) == inventory
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        mine = tenant.add_image("t", "http://127.0.0.1/t.qcow2", [backup_storage(server)], format="qcow2").inventory
        assert mine is not None and tenant.change_state(mine["uuid"], "disable").ok


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"url": "http://x/y"}, "SYS.1007"),  # name missing
        ({"name": "n"}, "SYS.1007"),  # url missing
        ({"name": "n", "url": "http://x/y", "mediaType": "Floppy"}, "SYS.1007"),
        ({"name": "n", "url": "gopher://x/y"}, "SYS.1007"),
        ({"name": "n", "url": "http://x/y", "format": "exe"}, "SYS.1007"),
    ],
)
def test_add_image_validation(server: RunningServer, client: Client, params: dict[str, str], code: str) -> None:
    body = {"backupStorageUuids": [backup_storage(server)], **params}
    result = client.call(_wire.add_image(body, client.session.uuid))
    assert result.error_code == code


def test_add_image_needs_a_known_backup_storage(client: Client) -> None:
    result = client.add_image("n", "http://x/y", ["0" * 32])
    assert result.error_code == "SYS.1003"


def test_delete_keeps_the_image_as_deleted_and_state_changes_still_work(client: Client) -> None:
    uuid = image_uuids(client)[0]
    deleted = client.delete_image(uuid)
    assert deleted.final.status == 200 and deleted.final.json == {"schema": {}}  # the poll sent X-JSON-Schema
    image = client.get_image(uuid)
    assert image is not None and image["status"] == "Deleted"
    assert all(ref["status"] == "Deleted" for ref in image["backupStorageRefs"])
    changed = client.change_state(uuid, "disable")
    assert changed.ok and changed.inventory["state"] == "Disabled"
    assert changed.inventory["status"] == "Deleted"  # no status precondition


def test_delete_unknown_and_malformed_uuids(client: Client) -> None:
    well_formed_unknown = "0f3e9c4a1b2c4d5e8f90123456789abc"
    assert client.delete_image(well_formed_unknown).final.status == 200
    assert client.delete_image("not-a-uuid").error_code == "SYS.1003"


def test_expunge_and_recover(client: Client) -> None:
    first, second = image_uuids(client)[:2]
    refused = client.expunge_image(first)
    assert refused.error_code == "SYS.1006" and "is not deleted" in refused.error["details"]
    assert client.delete_image(first).ok and client.delete_image(second).ok
    recovered = client.recover_image(second)
    assert recovered.ok and recovered.inventory["status"] == "Ready"
    expunged = client.expunge_image(first)
    assert expunged.ok and expunged.final.json == {"schema": {}}
    assert client.get_image(first) is None
    assert client.change_state(first, "disable").error_code == "SYS.1003"


def test_update_image(client: Client) -> None:
    uuid = image_uuids(client)[0]
    result = client.call(_wire.image_action(uuid, "updateImage", {"name": "renamed"}, client.session.uuid))
    assert result.ok and result.inventory["name"] == "renamed"
