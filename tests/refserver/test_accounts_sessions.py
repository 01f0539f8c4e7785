"""Login, logout, session validity and sliding expiry (§4)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, LoginError, _wire
from zscheck.refserver import RunningServer


def test_login_returns_a_session_inventory(server: RunningServer) -> None:
    with Client(server.url) as zs:
        result = zs.call(_wire.login("admin", _wire.hash_password(PASSWORD)))
    assert result.final.status == 200
    inventory = result.inventory
    assert inventory is not None
    assert set(inventory) >= {"uuid", "accountUuid", "userUuid", "expiredDate", "createDate"}
    assert inventory["accountUuid"] == "36c27e8ff05c4780bf6d2fa65700f22e"
    assert len(inventory["uuid"]) == 32


def test_wrong_password_is_503_id_1000(server: RunningServer) -> None:
    with Client(server.url) as zs:
        result = zs.call(_wire.login("admin", _wire.hash_password("wrong")))
        assert result.final.status == 503
        assert result.error_code == "ID.1000"
        assert result.error["details"] == "wrong account name or password"
        with pytest.raises(LoginError, match=r"ID\.1000") as info:
            zs.login("admin", "wrong")
        assert "wrong" not in str(info.value).replace("wrong account name", "")


def test_clear_text_password_is_refused(server: RunningServer) -> None:
    """ZStack compares the SHA-512 hex; a clear-text password must not log in."""
    with Client(server.url) as zs:
        assert zs.call(_wire.login("admin", PASSWORD)).error_code == "ID.1000"


def test_login_without_the_action_key_is_sys_1007(server: RunningServer) -> None:
    with Client(server.url) as zs:
        exchange = zs.send(_wire.raw("PUT", "/zstack/v1/accounts/login", body=b'{"logIn": {}}'))
    assert exchange.status == 503
    assert exchange.json["error"]["code"] == "SYS.1007"


def test_logout_then_the_session_is_id_1001(server: RunningServer, client: Client) -> None:
    session = client.session
    assert session is not None
    assert client.session_valid(session)
    result = client.logout()
    assert (result.final.status, result.final.body) == (200, b"{}")
    assert not client.session_valid(session)
    assert client.change_state(image_uuids_as(server)[0], "disable", session=session).error_code == "ID.1001"


def test_logout_of_an_unknown_session_succeeds(client: Client) -> None:
    assert client.logout("f" * 32).final.status == 200


def image_uuids_as(server: RunningServer) -> list[str]:
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        return image_uuids(zs)


def test_session_expires_after_the_timeout(make_server: ServerFactory) -> None:
    server = make_server(session_timeout=0.5)
    with Client(server.url, auto_relogin=False) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        time.sleep(0.7)
        assert not zs.session_valid()
        assert zs.change_state(image, "disable").error_code == "ID.1001"
        query = zs.query_images()
        assert query.final.status == 503 and query.error_code == "ID.1001"  # sync APIs answer 503 at once


def test_expiry_slides_with_each_call(make_server: ServerFactory) -> None:
    server = make_server(session_timeout=0.8)
    with Client(server.url, auto_relogin=False) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        for event in ("disable", "enable", "disable", "enable"):
            time.sleep(0.4)
            assert zs.change_state(image, event).ok, "each call renews the session"
        assert zs.session_valid()


def test_max_concurrent_sessions_is_id_1006(make_server: ServerFactory) -> None:
    server = make_server(max_sessions=2)
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        zs.login("admin", PASSWORD)
        result = zs.call(_wire.login("admin", _wire.hash_password(PASSWORD)))
    assert result.error_code == "ID.1006"
