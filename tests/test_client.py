"""The wire client against real servers in both dialects: following jobs, deadlines, re-login, errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, ConfigError, Exchange, LoginError, Outcome, TargetError, Timeouts, _wire
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
        assert time.monotonic() - started < 3.0  # the 0.3 s deadline, not the 5 s job (slack for a busy box)
        assert all(e.status == 202 for e in result.exchanges)


def test_polling_backs_off(make_server: ServerFactory) -> None:
    with Client(make_server(job_delay=0.5).url, poll_interval=0.01, poll_max_interval=0.2) as zs:
        zs.login("admin", PASSWORD)
        result = zs.change_state(image_uuids(zs)[0], "disable")
        assert result.ok
        assert 3 <= len(result.exchanges) <= 16  # growing by a quarter from 10 ms (13 polls), not a tight loop


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
            assert time.monotonic() - started < 5  # the 0.3 s read timeout, not the default 30 s


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


def test_every_threads_client_shares_one_tls_context(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each thread gets its own httpx client, and httpx built a TLS context (the CA bundle loaded, ~20 ms
    of CPU) for each, even for http://: half a contract run's CPU. One per `verify` setting per process
    now; a CA bundle that cannot be read still fails at once, when the client is made."""
    import httpx

    from zscheck import _transport

    _transport._tls.cache_clear()
    built: list[object] = []
    create = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda **kw: built.append(kw) or create(**kw))
    transport = _transport.Transport(server.url)
    request = _wire.WireRequest("GET", "/zstack/v1/images", {}, None)
    threads = [threading.Thread(target=transport.send, args=(request,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clients = len(transport._clients)
    transport.close()
    assert clients == 9 and len(built) == 1, built  # the creating thread's client and eight more, one context
    with pytest.raises(OSError, match="No such file"):
        _transport.Transport(server.url, verify="/no-such-bundle.pem")


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


# ------------------------------------------------------------------------------------------ new wire builders


def test_account_and_session_requests_match_the_java_sdk() -> None:
    """CreateAccountAction, DeleteAccountAction, RenewSessionAction, GetVersionAction (`getRestInfo()`):
    method, path, body key, and the headers ZSClient adds."""
    create = _wire.create_account("zs-t", "ab" * 64, "s3ss10n", resource_uuid="c" * 32)
    assert (create.method, create.path) == ("POST", "/zstack/v1/accounts")
    assert json.loads(create.body or b"") == {
        "params": {"name": "zs-t", "password": "ab" * 64, "type": "Normal", "resourceUuid": "c" * 32}
    }
    assert create.headers["Authorization"] == "OAuth s3ss10n" and len(create.headers["X-Job-UUID"]) == 32
    delete = _wire.delete_account("d" * 32, "s3ss10n")
    assert (delete.method, delete.path, delete.body) == (
        "DELETE",
        f"/zstack/v1/accounts/{'d' * 32}?deleteMode=Permissive",
        None,
    )
    renew = _wire.renew_session("e" * 32, "s3ss10n", duration=600)
    assert (renew.method, renew.path) == ("PUT", f"/zstack/v1/accounts/sessions/{'e' * 32}/renew")
    assert renew.body == b'{"renewSession":{"duration":600}}'
    assert _wire.renew_session("e" * 32, "s").body == b'{"renewSession":{}}'
    version = _wire.get_version()
    assert (version.method, version.path, version.body) == (
        "PUT",
        "/zstack/v1/management-nodes/actions",
        b'{"getVersion":{}}',
    )
    assert "Authorization" not in version.headers  # @SuppressCredentialCheck; the SDK sends no session
    update = _wire.update_image("f" * 32, {"name": "镜像"}, "s")
    assert (update.method, update.path) == ("PUT", f"/zstack/v1/images/{'f' * 32}/actions")
    assert json.loads(update.body or b"") == {"updateImage": {"name": "镜像"}}


def test_password_hashes_are_never_shown() -> None:
    """ZStack compares the hash verbatim, so the hash is a password: a reproducer must not carry it."""
    hashed = _wire.hash_password("s3cret-Pa55")
    for request in (_wire.login("admin", hashed), _wire.create_account("zs-t", hashed, "s")):
        assert request.body is not None and hashed.encode() in request.body  # it is sent...
        assert hashed not in request.curl("http://127.0.0.1:8080")  # ...and never shown
        assert hashed.encode() not in (request.redacted_body() or b"")
        assert _wire.REDACTED in request.curl("http://127.0.0.1:8080")


def test_zstack_timestamps_and_the_session_timeout_they_imply() -> None:
    assert _wire.zstack_seconds("Oct 28, 2025 2:09:26 PM") == _wire.zstack_seconds("Oct 28, 2025, 2:09:26\u202fPM")
    assert _wire.zstack_seconds("Oct 28, 2025 2:09:26 PM") == 1761660566.0
    assert _wire.zstack_seconds("28/10/2025") is None and _wire.zstack_seconds(None) is None
    login = {"createDate": "Oct 28, 2025 11:59:26 PM", "expiredDate": "Oct 29, 2025 1:59:26 AM"}
    assert _wire.session_timeout(login) == 7200
    assert _wire.session_timeout({"createDate": "Oct 28, 2025 11:59:26 PM"}) is None


def test_update_image_echoes_the_write(client: Client) -> None:
    image = image_uuids(client)[0]
    result = client.update_image(image, name="zscheck-镜像-更新", description="测试 update")
    assert result.ok and result.inventory is not None
    assert result.inventory["name"] == "zscheck-镜像-更新" and result.inventory["description"] == "测试 update"
    assert (client.get_image(image) or {}).get("name") == "zscheck-镜像-更新"


# ------------------------------------------------------------------------------------------ nothing hidden


def test_the_session_records_when_it_was_issued_and_its_timeout(client: Client) -> None:
    session = client.session
    assert session is not None and session.issued is not None
    assert session.timeout is not None and abs(session.timeout - 7200) <= 1  # from the login answer
    age = client.session_age()
    assert age is not None and 0 <= age < 5


def test_relogin_after_expiry_is_recorded(make_server: ServerFactory) -> None:
    with Client(make_server(session_timeout=0.3).url, session_timeout=0.3) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        time.sleep(0.6)
        result = zs.change_state(image, "disable")
        assert result.ok and result.retried
        [action] = result.actions
        assert action.kind == "relogin" and action.session_timeout == 0.3
        assert action.seconds_left is not None and action.seconds_left < 0  # it had expired: no fault
        assert "after its expiry" in action.detail and "issued" in action.detail


def test_a_valid_session_rejected_is_recorded_with_its_time_left(server: RunningServer, client: Client) -> None:
    """The target forgets a live session (here: someone logs it out). The client's re-login keeps the run
    going, but the action says the session had about two hours left: the judge can flag it."""
    assert client.session is not None
    image = image_uuids(client)[0]  # an accepted request: the session was renewed now
    with Client(server.url) as other:
        assert other.logout(client.session.uuid).ok
    result = client.change_state(image, "disable")
    assert result.ok
    [action] = [a for a in result.actions if a.kind == "relogin"]
    assert action.session_renewed is not None and action.session_issued is not None
    assert action.seconds_left is not None and 7190 < action.seconds_left <= 7201
    assert "before its expiry" in action.detail
    assert [e.json.get("error", {}).get("code") for e in result.exchanges if e.json and "error" in e.json] == [
        "ID.1001"
    ]
    assert client.session is not None and client.session.uuid not in action.detail  # never a session id


def test_no_action_when_a_call_goes_straight_through(client: Client) -> None:
    result = client.change_state(image_uuids(client)[0], "disable")
    assert result.ok and result.actions == [] and not result.retried
    assert all(e.sends == 1 for e in result.exchanges)
    assert [e.connection for e in result.exchanges] == ["reused", "reused"]  # the login's connection


class _RawServer:
    """A loopback HTTP/1.1 server scripted per connection: for each accepted connection, a list of
    actions per request ("answer" keeps the connection alive, "drop" closes it after reading the request
    without answering), then "close" closes it at once when the script is done."""

    def __init__(self, *scripts: list[str]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(1.0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.connections = 0
        self._scripts = list(scripts)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for script in self._scripts:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buffer = b""
                for step in script:
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    buffer = buffer[length:]
                    self.requests.append(head.split(b"\r\n")[0])
                    if step == "drop":
                        break
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        # Anything after the scripts (a re-sent request) would be accepted here and counted.
        try:
            conn, _ = self.sock.accept()
            self.connections += 1
            conn.settimeout(1.0)
            with conn:
                if conn.recv(65536):
                    self.requests.append(b"unexpected")
        except OSError:
            pass

    def close(self) -> None:
        self._thread.join(timeout=5)
        self.sock.close()


def test_a_request_that_gets_no_answer_is_a_transport_error_never_resent() -> None:
    """The server reads the second PUT on a kept-alive connection and closes it without answering (the
    `drop-connections` load fault). httpx must not re-send it on a new connection; the exchange says so."""
    raw = _RawServer(["answer", "drop"])
    with Client(raw.url, timeouts=Timeouts(connect=1, read=2)) as zs:
        first = zs.send(_wire.raw("PUT", "/zstack/v1/images/x/actions", body=b"{}"))
        second = zs.send(_wire.raw("PUT", "/zstack/v1/images/x/actions", body=b"{}"))
    raw.close()
    assert first.ok and first.connection == "new" and first.sends == 1
    assert second.status is None and second.error is not None and "not re-sent" in second.error
    assert second.connection == "reused" and second.sends == 1
    assert raw.requests == [b"PUT /zstack/v1/images/x/actions HTTP/1.1"] * 2  # and nothing more
    assert raw.connections == 1


def test_a_kept_alive_connection_closed_while_idle_is_a_recorded_reconnect() -> None:
    """The server closes the connection right after answering; the next call goes over a new connection,
    sent once, and the result records the reconnect."""
    raw = _RawServer(["answer"], ["answer"])
    with Client(raw.url, timeouts=Timeouts(connect=1, read=2)) as zs:
        assert zs.send(_wire.raw("GET", "/zstack/v1/images")).ok
        time.sleep(0.2)  # the FIN arrives; httpcore sees the idle connection readable and drops it
        result = zs.call(_wire.raw("GET", "/zstack/v1/images"))
    raw.close()
    assert result.ok and result.final.connection == "new" and result.final.sends == 1
    assert result.final.reconnect is not None and "closed by the target while idle" in result.final.reconnect
    [action] = result.actions
    assert action.kind == "reconnect" and "GET" in action.detail
    assert len(raw.requests) == 2 and raw.connections == 2


@contextmanager
def _drip_or_answer() -> Iterator[str]:
    """A loopback server that drip-feeds `/drip` one byte every 0.5 s and answers anything else at once,
    a thread per connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                data = b""
                while b"\r\n\r\n" not in data:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    data += chunk
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                if data.startswith(b"GET /drip"):
                    for byte in answer:
                        if stop.wait(0.5):
                            return
                        try:
                            conn.sendall(bytes([byte]))
                        except OSError:
                            return
                else:
                    conn.sendall(answer)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_drip_fed_answer_is_cut_off_without_touching_another_threads_request() -> None:
    """The watchdog ends a drip-fed answer by closing connections: only its own thread's, so requests
    another thread has in flight on the same Client still get their answers."""
    with _drip_or_answer() as url, Client(url, timeouts=Timeouts(connect=0.5, read=1.0)) as zs:
        answers: list[Exchange] = []
        slow = threading.Thread(target=lambda: answers.append(zs.send(_wire.raw("GET", "/drip"))))
        slow.start()
        healthy: list[Exchange] = []
        started = time.monotonic()
        while time.monotonic() - started < 2.5:  # spans the watchdog's cut at 1.5 s
            healthy.append(zs.send(_wire.raw("GET", "/ok")))
            time.sleep(0.05)
        slow.join(timeout=5)
    assert len(answers) == 1 and "drip-feeds" in (answers[0].error or ""), answers
    assert len(healthy) > 10 and all(e.ok for e in healthy), [e.error for e in healthy if e.error]


def test_against_a_server_that_drops_connections_nothing_is_resent(make_server: ServerFactory) -> None:
    """`drop-connections`: 2% of changeImageState PUTs and polls are read and closed unanswered. Each is a
    transport error on its own; a re-sent PUT would show as a 400 `Duplicate job uuid` (same X-Job-UUID)."""
    with Client(make_server(faults=("drop-connections",)).url) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        results = [zs.change_state(image, ("disable", "enable")[i % 2]) for i in range(150)]
    outcomes = {r.outcome for r in results}
    dropped = [r for r in results if r.outcome is Outcome.TRANSPORT_ERROR]
    assert outcomes == {Outcome.SUCCESS, Outcome.TRANSPORT_ERROR} and dropped
    assert all(e.sends == 1 for r in results for e in r.exchanges)
    assert all("not re-sent" in (r.final.error or "") for r in dropped), [r.final.error for r in dropped]


def test_against_a_server_that_drops_live_sessions_every_relogin_says_so(make_server: ServerFactory) -> None:
    """`session-drop`: 1% of requests with a live session are answered ID.1001. The client's re-login keeps
    the calls working, and each one is recorded with about two hours left on the rejected session."""
    with Client(make_server(faults=("session-drop",)).url) as zs:
        zs.login("admin", PASSWORD)
        results = [zs.query_images(limit=1) for _ in range(400)]
    relogins = [a for r in results for a in r.actions if a.kind == "relogin"]
    assert relogins and zs.actions == relogins
    assert all(a.seconds_left is not None and a.seconds_left > 7000 for a in relogins)
    assert all("before its expiry" in a.detail for a in relogins)
    assert sum(r.ok for r in results) >= 396


# ------------------------------------------------------------------------------------------ accounts on the server


def test_create_log_in_and_delete_an_account(server: RunningServer, client: Client) -> None:
    chosen = uuid4().hex
    created = client.create_account("zscheck-帐户-t", "t-Pa55", resource_uuid=chosen)
    assert created.ok and created.inventory is not None
    assert created.inventory["uuid"] == chosen and created.inventory["type"] == "Normal"
    assert created.inventory["name"] == "zscheck-帐户-t" and "password" not in created.inventory
    assert created.exchanges[0].request.method == "POST" and len(created.exchanges) >= 2  # async
    with Client(server.url) as tenant:
        assert tenant.login("zscheck-帐户-t", "t-Pa55").account_uuid == chosen
    assert client.delete_account(chosen).ok
    with Client(server.url) as tenant, pytest.raises(LoginError):
        tenant.login("zscheck-帐户-t", "t-Pa55")
    assert client.delete_account(chosen).ok  # already gone: success, as on ZStack


def test_renew_session(client: Client) -> None:
    assert client.session is not None
    result = client.renew_session()
    assert result.ok and result.inventory is not None and result.inventory["uuid"] == client.session.uuid
    assert len(result.exchanges) >= 2  # async: a 202, then the job
    assert not client.renew_session("f" * 32).ok  # not a session the target knows


def test_get_version_needs_no_session(client: Client) -> None:
    result = client.get_version()
    assert result.ok and isinstance(result.data, dict) and isinstance(result.data.get("version"), str)
    assert "Authorization" not in result.exchanges[0].request.headers and len(result.exchanges) == 1  # sync


def test_a_relogin_the_target_refuses_is_recorded_not_raised(server: RunningServer, client: Client) -> None:
    """The account is deleted under a logged-in client: its session is rejected and the re-login refused.
    The call answers with the rejection and a `relogin-failed` action, for the judge; nothing is raised."""
    assert client.create_account("zscheck-gone", "g-Pa55", resource_uuid=(chosen := uuid4().hex)).ok
    with Client(server.url) as tenant:
        tenant.login("zscheck-gone", "g-Pa55")
        assert tenant.query_images().ok
        assert client.delete_account(chosen).ok
        result = tenant.query_images()
        assert result.error_code == "ID.1001" and not result.retried
        [action] = result.actions
        assert action.kind == "relogin-failed" and "zscheck-gone" in action.detail and "g-Pa55" not in action.detail
        assert tenant.actions == [action]


# ---------------------------------------------------------------------- following, over a scripted send: no sockets

JOB_LOCATION = f"http://10.0.0.9:8080/zstack/v1/api-jobs/{'f' * 32}"


def scripted_answer(status: int, body: object) -> Exchange:
    request = _wire.WireRequest("GET", "/x", {})
    return Exchange(request, 0.0, 0.0, status=status, body=json.dumps(body).encode(), json=body)


class FakeClock:
    """`time` for zscheck.client: monotonic() reads a number that only sleep() moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class ScriptedClient(Client):
    """A client whose requests are answered from a script (its transport is never used)."""

    def __init__(self, script: list[Exchange], *, poll_max_interval: float = 1.0, poll_deadline: float = 30.0) -> None:
        super().__init__("http://127.0.0.1:9", poll_max_interval=poll_max_interval, poll_deadline=poll_deadline)
        self.script = script
        self.sent: list[_wire.WireRequest] = []

    def send(self, request: _wire.WireRequest) -> Exchange:
        self.sent.append(request)
        return self.script.pop(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("zscheck.client.time", fake)
    return fake


ACCEPTED_JOB = scripted_answer(202, {"location": JOB_LOCATION, "apiTimeout": 1800000})
STILL_PENDING = scripted_answer(202, {})


def test_the_client_polls_at_once_then_grows_each_wait_by_a_quarter(clock: FakeClock) -> None:
    done = scripted_answer(200, {"inventory": {}})
    zs = ScriptedClient([ACCEPTED_JOB, *[STILL_PENDING] * 5, done], poll_max_interval=0.018)
    result = zs.call(_wire.get_version())
    assert result.ok and len(result.exchanges) == 7
    assert clock.slept == pytest.approx([0.01, 0.0125, 0.015625, 0.018, 0.018])  # none before the first poll
    assert {r.path for r in zs.sent[1:]} == {f"/zstack/v1/api-jobs/{'f' * 32}"}


def test_a_shortened_poll_deadline_applies_to_the_next_call(clock: FakeClock) -> None:
    """The conformance harness shortens a live client's deadline after repeated timeouts."""
    zs = ScriptedClient([ACCEPTED_JOB, *[STILL_PENDING] * 40], poll_deadline=30.0)
    zs.poll_deadline = 0.05
    result = zs.call(_wire.get_version())
    assert result.outcome is Outcome.TIMEOUT
    assert sum(clock.slept) <= 0.05  # never slept past the deadline
    assert len(result.exchanges) == 2 + len(clock.slept)


def test_a_202_not_followed_is_the_answer_as_it_is(clock: FakeClock) -> None:
    result = ScriptedClient([ACCEPTED_JOB]).call(_wire.get_version(), follow=False)
    assert result.outcome is Outcome.UNEXPECTED and result.data == ACCEPTED_JOB.json and clock.slept == []


@pytest.mark.parametrize("url", ["http://admin:pw@127.0.0.1:9", "http://a:p@ss/w@127.0.0.1:9", "https://u@h"])
def test_a_url_with_credentials_is_refused_before_anything_is_sent(url: str) -> None:
    """httpx sends user:password@ as Basic auth, replacing the OAuth session header: every call broke, and
    the password went into journals and reports with the URL. The client refuses it, without echoing it."""
    with pytest.raises(ConfigError, match="user:password@ is refused") as refused:
        Client(url)
    assert "pw" not in str(refused.value) and "p@ss" not in str(refused.value)
