"""Item 5 of issue 15 (and item 11's last sentence): the front end's limits, each answered as a real front
end answers it, over real sockets: 414 for a long URL, 431 for big headers (memory stays flat), 413 for a
big body (chunked included, refused while it is still arriving), 408 for a client that drips its request,
idle keep-alive connections closed, and exactly one answer to CONNECT (501) and to an Upgrade (ignored)."""

from __future__ import annotations

import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess, ServerFactory
from zscheck import Client
from zscheck.refserver.server import Limits

STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def _address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def exchange(url: str, parts: Iterator[bytes] | list[bytes], *, budget: float = 20.0, pause: float = 0.0) -> bytes:
    """Send `parts` (stopping as soon as the server answers), then read until the server closes or the
    budget runs out. Everything the server wrote is returned."""
    sock = socket.create_connection(_address(url), timeout=budget)
    deadline = time.monotonic() + budget
    received = b""
    try:
        for part in parts:
            readable, _, _ = select.select([sock], [], [], pause)
            if readable:
                break
            try:
                sock.sendall(part)
            except OSError:
                break
            if time.monotonic() > deadline:
                break
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], deadline - time.monotonic())
            if not readable:
                break
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    return received


def statuses(data: bytes) -> list[int]:
    return [int(code) for code in STATUS.findall(data)]


def _login_header(url: str) -> bytes:
    with Client(url) as zs:
        zs.login("admin", PASSWORD)
        assert zs.session is not None
        return f"Authorization: OAuth {zs.session.uuid}\r\n".encode()


def test_a_long_url_is_414(make_server: ServerFactory) -> None:
    server = make_server()
    request = b"GET /zstack/v1/images?q=name=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ok = exchange(server.url, [request % (b"a" * 7000)], budget=5)
    assert statuses(ok) == [400], ok[:200]  # within the limit: RestServer's answer (no Authorization)
    long = exchange(server.url, [request % (b"a" * 9000)], budget=5)
    assert statuses(long) == [414], long[:200]


def test_big_headers_are_431(make_server: ServerFactory) -> None:
    server = make_server()
    many = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(40))
    answer = exchange(server.url, [b"GET /zstack/v1/images HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"])
    assert statuses(answer) == [431], answer[:200]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_64_mib_header_is_refused_without_buffering_it(serve_process: Callable[..., ServeProcess]) -> None:
    """The attack of the issue (+577 MB RSS, never returned): refused within one read of the limit."""
    proc = serve_process("--db", ":memory:")
    before = _rss_kib(proc.proc.pid)

    def parts() -> Iterator[bytes]:
        yield b"GET /zstack/v1/images HTTP/1.1\r\nHost: x\r\nX-Big: "
        chunk = b"a" * 65536
        for _ in range(1024):  # 64 MiB
            yield chunk

    others: list[float] = []

    def honest() -> None:  # another client, answered while the attack goes on
        with Client(proc.url) as zs:
            for _ in range(5):
                started = time.monotonic()
                zs.login("admin", PASSWORD)
                others.append(time.monotonic() - started)

    thread = threading.Thread(target=honest)
    thread.start()
    answer = exchange(proc.url, parts())
    thread.join(30)
    assert statuses(answer) == [431], answer[:200]
    grown = _rss_kib(proc.proc.pid) - before
    assert grown < 30 * 1024, f"the server grew by {grown} KiB"
    assert len(others) == 5 and max(others) < 2.0, others  # the code before: up to 4.2 s


def test_a_declared_big_body_is_413_before_it_is_sent(make_server: ServerFactory) -> None:
    server = make_server()
    head = b"PUT /zstack/v1/images/x/actions HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n"
    answer = exchange(server.url, [head], budget=5)
    assert statuses(answer) == [413], answer[:200]


def test_an_endless_chunked_body_is_413_while_it_arrives(make_server: ServerFactory) -> None:
    server = make_server()
    sent = [0]

    def parts() -> Iterator[bytes]:
        yield b"PUT /zstack/v1/images/x/actions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
        for _ in range(100_000):  # 6.5 GB if nobody stops it
            sent[0] += 1
            yield chunk

    started = time.monotonic()
    answer = exchange(server.url, parts(), budget=30)
    assert statuses(answer) == [413], answer[:200]
    assert sent[0] < 2000 and time.monotonic() - started < 20


def test_a_client_dripping_its_request_is_408(make_server: ServerFactory) -> None:
    server = make_server(limits=Limits(request_timeout=1.0, idle_timeout=30.0))
    request = b"GET /zstack/v1/images HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
    started = time.monotonic()
    answer = exchange(server.url, [bytes([b]) for b in request], pause=0.1, budget=20)
    took = time.monotonic() - started
    assert statuses(answer) == [408], answer[:200]
    assert 1.0 <= took < 8.0, took


def test_idle_connections_are_closed_and_busy_ones_are_not(make_server: ServerFactory) -> None:
    server = make_server(limits=Limits(request_timeout=30.0, idle_timeout=1.0))
    started = time.monotonic()
    assert exchange(server.url, [], budget=20) == b""  # nothing asked: closed with nothing written
    assert 1.0 <= time.monotonic() - started < 8.0  # not the budget: the server closed it
    # A keep-alive connection that keeps asking is never idle: 6 requests over 3 s.
    sock = socket.create_connection(_address(server.url), timeout=10)
    try:
        for _ in range(6):
            sock.sendall(b"GET /zstack/v1/api-jobs/x HTTP/1.1\r\nHost: x\r\n\r\n")
            assert statuses(sock.recv(65536)) == [404]
            time.sleep(0.5)
        started = time.monotonic()
        assert sock.recv(65536) == b""  # then idle: closed
        assert time.monotonic() - started < 8.0
    finally:
        sock.close()


def test_connect_gets_exactly_one_answer_501(make_server: ServerFactory) -> None:
    server = make_server()
    answer = exchange(
        server.url, [b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\nSSH-2.0-x\r\n"], budget=6
    )
    assert statuses(answer) == [501], answer


def test_an_upgrade_is_ignored_and_answered_once(make_server: ServerFactory) -> None:
    server = make_server()
    auth = _login_header(server.url)
    upgrade = (
        b"GET /zstack/v1/images?limit=1 HTTP/1.1\r\nHost: x\r\n" + auth + b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    after = b"GET /zstack/v1/images?limit=1 HTTP/1.1\r\nHost: x\r\n" + auth + b"Connection: close\r\n\r\n"
    answer = exchange(server.url, [upgrade + after], budget=6)
    assert statuses(answer) in ([200], [200, 200]), answer[:300]
    assert answer.count(b'"inventories"') == len(statuses(answer))


def test_a_server_with_limits_still_serves_large_allowed_requests(make_server: ServerFactory) -> None:
    server = make_server()
    auth = _login_header(server.url)
    body = b'{"changeImageState":{"stateEvent":"enable"},"pad":"' + b"x" * 1_000_000 + b'"}'
    head = b"PUT /zstack/v1/images/%s/actions HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n"
    answer = exchange(server.url, [head % (b"0" * 32, auth, len(body)), body], budget=10)
    assert statuses(answer) == [202], answer[:300]


@pytest.mark.slow
def test_each_limit_is_an_option_of_serve(serve_process: Callable[..., ServeProcess]) -> None:
    proc = serve_process(
        "--db", ":memory:", "--max-url-bytes", "1024", "--max-header-bytes", "2048", "--max-body-bytes", "4096",
        "--request-timeout", "0.5", "--idle-timeout", "30",
    )  # fmt: skip
    close = b"Connection: close\r\n"
    assert statuses(exchange(proc.url, [b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n" + close + b"\r\n"], budget=5)) == [
        414
    ]
    big = b"X-A: " + b"v" * 3000 + b"\r\n"
    assert statuses(exchange(proc.url, [b"GET / HTTP/1.1\r\n" + big + close + b"\r\n"], budget=5)) == [431]
    body = b"PUT /zstack/v1/images/x/actions HTTP/1.1\r\nContent-Length: 5000\r\n" + close + b"\r\n"
    assert statuses(exchange(proc.url, [body], budget=5)) == [413]
    assert statuses(exchange(proc.url, [b"GET / HTTP/1.1\r\n"], budget=5)) == [408]


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--request-timeout", "nan"), ("--idle-timeout", "0"), ("--max-body-bytes", "12"), ("--max-url-bytes", "x")],
)
def test_a_bad_limit_is_refused_in_one_line(flag: str, value: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "serve", "--port", "0", "--db", ":memory:", flag, value],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2 and flag in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
