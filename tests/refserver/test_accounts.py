"""CreateAccount, DeleteAccount, RenewSession and GetVersion (§10), and the initial admin's bypass."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, image_uuids
from tests.refserver.helpers import ADMIN_UUID, action, create_account, send_json, session_of
from zscheck import Client, _wire
from zscheck.refserver import RunningServer


def backup_storage(zs: Client) -> str:
    return str(send_json(zs, "GET", "/zstack/v1/backup-storage").data["inventories"][0]["uuid"])


def test_create_account_is_async_and_answers_its_inventory(client: Client) -> None:
    result = create_account(client, "qa-normal")
    assert result.exchanges[0].status == 202
    assert result.final.status == 200
    inventory = result.inventory
    assert inventory is not None
    assert set(inventory) == {"uuid", "name", "type", "createDate", "lastOpDate"}
    assert (inventory["name"], inventory["type"]) == ("qa-normal", "Normal")
    assert result.data["schema"] == {"inventory": "org.zstack.header.identity.AccountInventory"}


def test_a_created_account_is_usable_at_once(server: RunningServer, client: Client) -> None:
    created = create_account(client, "qa-user", "s3cret")
    assert created.ok
    account = created.inventory
    assert account is not None
    with Client(server.url) as user:
        user.login("qa-user", "s3cret")
        assert image_uuids(user) == []  # owns nothing yet
        bs = [backup_storage(user)]
        params = {"name": "mine", "url": "http://x/m.qcow2", "format": "qcow2", "backupStorageUuids": bs}
        added = send_json(user, "POST", "/zstack/v1/images", {"params": params})
        assert added.ok and added.inventory is not None
        mine = added.inventory["uuid"]
        assert image_uuids(user) == [mine]
        assert action(user, mine, "changeImageState", {"stateEvent": "disable"}).ok
        others = image_uuids(client)[0]
        denied = action(user, others, "changeImageState", {"stateEvent": "disable"})
        assert denied.error_code == "SYS.1006"
        assert f"the account[uuid:{account['uuid']}] is not the owner" in str(denied.error["details"])
    assert action(client, mine, "changeImageState", {"stateEvent": "enable"}).ok  # admin bypass


def test_create_account_rules(server: RunningServer, client: Client) -> None:
    assert create_account(client, "dup").ok
    duplicate = create_account(client, "dup")
    assert duplicate.error_code == "SYS.1007"
    assert duplicate.error["details"] == "unable to create an account. An account already called dup"
    bad_type = create_account(client, "x", kind="Root")
    assert bad_type.error_code == "SYS.1007" and "valid value for field[type]" in str(bad_type.error["details"])
    missing = send_json(client, "POST", "/zstack/v1/accounts", {"params": {"name": "nopass"}})
    assert missing.error_code == "SYS.1007" and "field[password]" in str(missing.error["details"])
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        refused = create_account(tenant, "by-tenant")
        assert refused.error_code == "ID.1002"
        assert "is admin only" in str(refused.error["details"])
    # arguments before the session (ApiParamValidator runs first), as for every API
    assert send_json(client, "POST", "/zstack/v1/accounts", {"params": {}}, session="bogus").error_code == "SYS.1007"


def test_delete_account_deletes_its_images_and_sessions(server: RunningServer, client: Client) -> None:
    created = create_account(client, "doomed")
    assert created.inventory is not None
    account = created.inventory["uuid"]
    with Client(server.url, auto_relogin=False) as user:
        user.login("doomed", PASSWORD)
        bs = [backup_storage(user)]
        params = {"name": "d", "url": "http://x/d.qcow2", "format": "qcow2", "backupStorageUuids": bs}
        image = send_json(user, "POST", "/zstack/v1/images", {"params": params}).inventory
        assert image is not None
        builtin = send_json(user, "DELETE", f"/zstack/v1/accounts/{ADMIN_UUID}")
        assert builtin.error_code == "SYS.1007" and builtin.error["details"] == "cannot delete builtin admin account."
        accounts = server.call(lambda: dict(server.server.app.store.accounts))
        tenant = next(uuid for uuid, a in accounts.items() if a.name == "tenant")
        denied = send_json(user, "DELETE", f"/zstack/v1/accounts/{tenant}")
        assert denied.error_code == "SYS.1007" and denied.error["details"] == "Only admin can delete account."
        deleted = send_json(client, "DELETE", f"/zstack/v1/accounts/{account}")
        assert deleted.ok and deleted.data == {"schema": {}}
        assert not user.session_valid()
        assert user.call(_wire.login("doomed", _wire.hash_password(PASSWORD))).error_code == "ID.1000"
    after = client.get_image(image["uuid"])
    assert after is not None and after["status"] == "Deleted"  # the cascade, Delay policy
    assert action(client, image["uuid"], "changeImageState", {"stateEvent": "disable"}).ok  # adopted by admin


def test_delete_account_edges(client: Client) -> None:
    assert send_json(client, "DELETE", f"/zstack/v1/accounts/{'0f3e9c4a1b2c4d5e8f90123456789abc'}").ok
    assert send_json(client, "DELETE", "/zstack/v1/accounts/not-a-uuid").error_code == "SYS.1003"
    itself = send_json(client, "DELETE", f"/zstack/v1/accounts/{ADMIN_UUID}")
    assert itself.error_code == "SYS.1007" and itself.error["details"] == "account cannot delete itself"


def test_renew_session(client: Client) -> None:
    session = session_of(client)
    path = f"/zstack/v1/accounts/sessions/{session}/renew"
    renewed = send_json(client, "PUT", path, {"renewSession": {"duration": 600}})
    assert renewed.exchanges[0].status == 202 and renewed.ok
    inventory = renewed.inventory
    assert inventory is not None and inventory["uuid"] == session and inventory["accountUuid"] == ADMIN_UUID
    assert renewed.data["schema"] == {"inventory": "org.zstack.header.identity.SessionInventory"}
    assert send_json(client, "PUT", path, {"renewSession": {"duration": 10}}).error_code == "SYS.1007"
    bad = send_json(client, "PUT", path, {"renewSession": {"duration": "x"}})
    assert (bad.final.status, bad.final.body) == (400, b"[duration] field is excepted an int or long, but was [x].")
    unknown = send_json(client, "PUT", f"/zstack/v1/accounts/sessions/{'f' * 32}/renew", {"renewSession": {}})
    assert unknown.error_code == "SYS.1003" and "type:SessionVO" in str(unknown.error["details"])


@pytest.mark.parametrize("schema", [False, True])
def test_get_version_is_sync_and_needs_no_session(client: Client, schema: bool) -> None:
    headers = {"X-JSON-Schema": "true"} if schema else {}
    exchange = client.send(
        _wire.raw("PUT", "/zstack/v1/management-nodes/actions", body=b'{"getVersion": {}}', headers=headers)
    )
    assert exchange.status == 200
    assert exchange.json == ({"version": "5.2.1", "schema": {}} if schema else {"version": "5.2.1"})
    missing = client.send(_wire.raw("PUT", "/zstack/v1/management-nodes/actions", body=b'{"getTime": {}}'))
    assert missing.status == 400 and missing.body.startswith(b"the body doesn't contain action mapping")
