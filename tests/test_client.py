"""The wire client against real servers in both dialects: following jobs, deadlines, re-login, errors."""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, ConfigError, LoginError, Outcome, TargetError, Timeouts, _wire
from zscheck.refserver import RunningServer


def test_change_state_records_every_exchange(client: Client) -> None:
    result = client.change_state(image_uuids(client)[0], "disable")
    assert [e.request.method for e in result.exchanges] == ["PUT", "GET"]
    for exchange in result.exchanges:
        assert exchange.status is not None and exchange.elapsed > 0 and exchange.started > 0
        assert exchange.body and exchange.json is not None
    assert result.latency >= sum(e.elapsed for e in result.exchanges) * 0.99


def test_request_matches_what_the_java_sdk_sends(client: Client) -> None:
    """§7.1: the probe of the official Java SDK."""
    request = _wire.change_state("abc", "disable", "s3ss10n", system_tags=["foo::bar"])
    assert request.method == "PUT" and request.path == "/zstack/v1/images/abc/actions"
    assert request.body == b'{"changeImageState":{"stateEvent":"disable","systemTags":["foo::bar"]}}'
    assert request.headers["Authorization"] == "OAuth s3ss10n"
    assert len(request.headers["X-Job-UUID"]) == 32 and request.headers["X-JSON-Schema"] == "true"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


def test_documented_request_matches_the_published_page() -> None:
    request = _wire.change_state("abc", "enable", "s", dialect="documented", system_tags=["t"], user_tags=["u"])
    assert request.body == b'{"params":{"stateEvent":"enable"},"systemTags":["t"],"userTags":["u"]}'
    assert "X-Job-UUID" not in request.headers


def test_client_against_the_documented_dialect(make_server: ServerFactory) -> None:
    with Client(make_server(dialect="documented").url, dialect="documented") as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        ok = zs.change_state(image, "disable")
        assert ok.outcome is Outcome.SUCCESS and ok.inventory["state"] == "Disabled"
        bad = zs.change_state(image, "nope")
        assert bad.outcome is Outcome.FAILURE and bad.error_code == "SYS.1007"


def test_poll_deadline_gives_timeout(make_server: ServerFactory) -> None:
    with Client(make_server(job_delay=5.0).url, poll_deadline=0.3) as zs:
        zs.login("admin", PASSWORD)
        started = time.monotonic()
        result = zs.change_state(image_uuids(zs)[0], "disable")
        assert result.outcome is Outcome.TIMEOUT
        assert time.monotonic() - started < 1.5
        assert all(e.status == 202 for e in result.exchanges)


def test_polling_backs_off(make_server: ServerFactory) -> None:
    with Client(make_server(job_delay=0.5).url, poll_interval=0.01, poll_max_interval=0.2) as zs:
        zs.login("admin", PASSWORD)
        result = zs.change_state(image_uuids(zs)[0], "disable")
        assert result.ok
        assert 3 <= len(result.exchanges) <= 12  # doubling from 10 ms, not a tight loop


def test_relogin_on_expired_session(make_server: ServerFactory) -> None:
    with Client(make_server(session_timeout=0.3).url) as zs:
        first = zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        time.sleep(0.5)
        result = zs.change_state(image, "disable")
        assert result.ok
        assert zs.session is not None and zs.session.uuid != first.uuid
        assert any(e.json and e.json.get("error", {}).get("code") == "ID.1001" for e in result.exchanges)


def test_no_relogin_for_an_explicit_session(client: Client) -> None:
    result = client.change_state(image_uuids(client)[0], "disable", session="f" * 32)
    assert result.error_code == "ID.1001"


def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", timeouts=Timeouts(connect=1, read=1)) as zs:
        result = zs.change_state("x", "disable", session="s")
        assert result.outcome is Outcome.TRANSPORT_ERROR and result.final.error
        with pytest.raises(TargetError, match="cannot reach"):
            zs.login("admin", PASSWORD)


def test_read_timeout_is_a_transport_error() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with Client(f"http://127.0.0.1:{port}", timeouts=Timeouts(connect=1, read=0.3)) as zs:
            started = time.monotonic()
            result = zs.change_state("x", "disable", session="s")
            assert result.outcome is Outcome.TRANSPORT_ERROR and "timed out" in (result.final.error or "")
            assert time.monotonic() - started < 2


def test_login_error_names_the_account_not_the_password(server: RunningServer) -> None:
    with Client(server.url) as zs, pytest.raises(LoginError) as info:
        zs.login("admin", "s3cret-Pa55")
    assert "admin" in str(info.value) and "s3cret" not in str(info.value)


def test_session_is_never_shown(client: Client) -> None:
    session = client.session
    assert session is not None and session.uuid not in repr(session)
    request = _wire.change_state("img", "disable", session.uuid)
    assert session.uuid not in request.curl("http://127.0.0.1:8080")
    assert session.uuid not in str(request.redacted_headers())
    assert "$ZSTACK_SESSION" in request.curl("http://127.0.0.1:8080")


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match="dialect 'soap'"):
        Client("http://127.0.0.1:1", dialect="soap")
    with pytest.raises(ConfigError, match="must be positive"):
        Client("http://127.0.0.1:1", poll_deadline=0)


def test_logout_forgets_credentials(client: Client) -> None:
    client.logout()
    assert client.session is None
    with pytest.raises(ConfigError):
        client.logout()


def test_query_helpers(client: Client) -> None:
    uuid = image_uuids(client)[0]
    assert client.get_image(uuid)["uuid"] == uuid
    assert client.get_image("f" * 32) is None


def test_relogin_and_extra_sessions(server: RunningServer) -> None:
    with Client(server.url) as zs:
        with pytest.raises(ConfigError, match="needs an earlier login"):
            zs.relogin()
        first = zs.login("admin", PASSWORD)
        extra = zs.extra_session()
        assert extra != first.uuid and zs.session == first  # the client's own session is untouched
        assert zs.session_valid(extra)
        again = zs.relogin()
        assert again.uuid not in (first.uuid, extra) and zs.session == again
