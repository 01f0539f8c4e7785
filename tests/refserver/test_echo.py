"""Every answer reflects the write it made (§10): the inventory a change, update or recover echoes is, field
by field, what a query returns right after. Sequences over several actions, because the stale echo this
catches came from a cache that one write filled and another did not clear."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import image_uuids
from tests.refserver.helpers import action, query_one, send_json
from zscheck import Client
from zscheck.refserver import RunningServer

# Each step: (action key, params); every one returns the image's inventory.
SEQUENCES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "disable-then-update": [
        ("changeImageState", {"stateEvent": "disable"}),
        ("updateImage", {"name": "renamed-after-disable"}),
    ],
    "update-then-change-then-update": [
        ("updateImage", {"name": "first", "description": "one"}),
        ("changeImageState", {"stateEvent": "disable"}),
        ("changeImageState", {"stateEvent": "enable"}),
        ("updateImage", {"description": "two", "platform": "Windows"}),
        ("changeImageState", {"stateEvent": "disable"}),
    ],
    "same-state-after-update": [
        ("changeImageState", {"stateEvent": "disable"}),
        ("updateImage", {"guestOsType": "Ubuntu 22.04"}),
        ("changeImageState", {"stateEvent": "disable"}),
    ],
    "unicode-names": [
        ("updateImage", {"name": "镜像-测试", "description": "中文描述 ✓"}),
        ("changeImageState", {"stateEvent": "disable"}),
        ("updateImage", {"name": "ascii again"}),
    ],
}


def assert_echo_is_the_query(zs: Client, image: str, echoed: dict[str, Any] | None, step: str) -> None:
    queried = query_one(zs, image)
    assert echoed is not None and queried is not None, step
    for field in sorted(set(echoed) | set(queried)):
        shown = f"{step}: {field} echoed {echoed.get(field)!r}, queried {queried.get(field)!r}"
        assert echoed.get(field) == queried.get(field), shown


@pytest.mark.parametrize("name", SEQUENCES)
def test_echo_equals_the_query_after_every_step(client: Client, name: str) -> None:
    image = image_uuids(client)[2]
    for key, params in SEQUENCES[name]:
        result = action(client, image, key, params)
        assert result.ok, result.final.text()
        assert_echo_is_the_query(client, image, result.inventory, f"{name}/{key}")
        for field, value in params.items():
            if field != "stateEvent":
                assert result.inventory is not None and result.inventory[field] == value


def test_recover_after_a_state_change_echoes_ready(client: Client) -> None:
    """The reported case: RecoverImage after a ChangeImageState replied `status: Deleted`."""
    image = image_uuids(client)[3]
    assert client.delete_image(image).ok
    disabled = action(client, image, "changeImageState", {"stateEvent": "disable"})
    assert disabled.inventory is not None and disabled.inventory["status"] == "Deleted"
    recovered = action(client, image, "recoverImage", {})
    assert recovered.ok and recovered.inventory is not None
    assert recovered.inventory["status"] == "Ready"
    assert all(ref["status"] == "Ready" for ref in recovered.inventory["backupStorageRefs"])
    assert_echo_is_the_query(client, image, recovered.inventory, "recover")
    again = action(client, image, "changeImageState", {"stateEvent": "enable"})
    assert_echo_is_the_query(client, image, again.inventory, "enable after recover")


def test_add_image_echo_equals_the_query(client: Client) -> None:
    bs = send_json(client, "GET", "/zstack/v1/backup-storage").data["inventories"][0]["uuid"]
    params = {"name": "新镜像", "url": "http://x/y.qcow2", "format": "qcow2", "backupStorageUuids": [bs]}
    added = send_json(client, "POST", "/zstack/v1/images", {"params": params})
    assert added.ok and added.inventory is not None
    assert_echo_is_the_query(client, added.inventory["uuid"], added.inventory, "add")
    changed = action(client, added.inventory["uuid"], "changeImageState", {"stateEvent": "disable"})
    assert_echo_is_the_query(client, added.inventory["uuid"], changed.inventory, "disable after add")


def test_writes_in_one_second_carry_the_same_last_op_date(server: RunningServer, client: Client) -> None:
    """lastOpDate has one-second resolution (a MySQL timestamp, §10): the stored value is a whole second,
    so two writes within one second carry the same lastOpDate, and the echo shows what is stored."""
    image = image_uuids(client)[4]
    for key, params in [("changeImageState", {"stateEvent": "disable"}), ("updateImage", {"name": "n"})]:
        result = action(client, image, key, params)
        assert_echo_is_the_query(client, image, result.inventory, key)
        stored = server.call(lambda: server.server.app.store.images[image]["lastOpDate"])
        assert stored == int(stored)
