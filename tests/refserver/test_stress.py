"""The reference server under stress: overload, kill -9 under concurrent changes, and garbage on the socket.
Each runs `zscheck serve` as a real subprocess on loopback; every loop is bounded in time and count."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess
from zscheck import Client, _wire

pytestmark = pytest.mark.slow


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _http(request: _wire.WireRequest, host: str) -> bytes:
    head = f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    body = request.body or b""
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _overload(url: str, session: str, images: list[str], connections: int, seconds: float) -> Counter[int]:
    """`connections` keep-alive connections, each sending PUTs pipelined 4 deep for `seconds`."""
    host = url.split("//", 1)[1]
    ip, port = host.split(":")
    statuses: Counter[int] = Counter()
    end = time.monotonic() + seconds

    async def one(n: int) -> None:
        try:
            reader, writer = await asyncio.open_connection(ip, int(port))
        except OSError:
            statuses[-1] += 1  # refused: shedding load is allowed
            return
        image = images[n % len(images)]
        try:
            while time.monotonic() < end:
                batch = b"".join(
                    _http(_wire.change_state(image, random.choice(("enable", "disable")), session), host)
                    for _ in range(4)
                )
                writer.write(batch)
                for _ in range(4):
                    line = await asyncio.wait_for(reader.readline(), 30)
                    status = int(line.split()[1])
                    statuses[status] += 1
                    length = 0
                    while (header := await reader.readline()) not in (b"\r\n", b""):
                        if header.lower().startswith(b"content-length:"):
                            length = int(header.split(b":")[1])
                    await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
            statuses[-2] += 1  # a connection the server closed under load
        finally:
            writer.close()

    await asyncio.gather(*(one(n) for n in range(connections)))
    return statuses


def test_ten_times_overload_queues_without_500s_bounded_memory_and_recovers(
    serve_process: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    server = serve_process("--db", str(tmp_path / "s.db"), "--seed-images", "64")
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        images = [i["uuid"] for i in zs.query_images(limit=64).data["inventories"]]
        assert zs.session is not None
        session = zs.session.uuid
        zs.change_state(images[0], "disable")
        before = rss_mb(server.proc.pid)
        # Ten times the 50 users a locust run drives, each pipelining: far past what one core can serve.
        statuses = asyncio.run(_overload(server.url, session, images, connections=500, seconds=6))
        after = rss_mb(server.proc.pid)
        answered = sum(n for s, n in statuses.items() if s > 0)
        assert answered > 1000, statuses
        assert set(statuses) - {202, -1, -2} == set(), f"answers other than 202 under overload: {statuses}"
        assert after - before < 150, f"memory grew from {before:.0f} MB to {after:.0f} MB"
        started = time.monotonic()
        result = zs.change_state(images[1], "disable")  # the load is gone: the server answers promptly again
        assert result.ok and time.monotonic() - started < 3.0  # promptly: not queued behind the overload


def test_kill_9_under_concurrent_changes_keeps_every_acknowledged_change(
    serve_process: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    db = str(tmp_path / "s.db")
    server = serve_process("--db", db, "--seed-images", "16")
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        images = [i["uuid"] for i in zs.query_images(conditions=["state=Enabled"]).data["inventories"]][:8]
    acked: dict[str, str] = {}  # image -> the last state a job result (200) acknowledged
    in_flight: dict[str, str | None] = {}  # image -> the change sent when the server died, if any
    stop = threading.Event()

    def toggle(image: str) -> None:
        with Client(server.url, poll_deadline=5) as zs:
            zs.login("admin", PASSWORD)
            state = "Enabled"
            for _ in range(2000):
                if stop.is_set():
                    return
                event = "disable" if state == "Enabled" else "enable"
                in_flight[image] = _state(event)
                result = zs.change_state(image, event)
                if not result.ok:
                    return  # the server is gone: this change may or may not have happened
                state = str(result.inventory["state"])  # type: ignore[index]
                acked[image] = state
                in_flight[image] = None

    threads = [threading.Thread(target=toggle, args=(image,)) for image in images]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    server.proc.kill()  # SIGKILL: no clean shutdown, no last commit
    server.proc.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acked) == len(images)
    restarted = serve_process("--db", db)
    with Client(restarted.url) as zs:
        zs.login("admin", PASSWORD)
        for image in images:
            stored = zs.get_image(image)
            assert stored is not None
            allowed = {acked[image], in_flight.get(image)} - {None}
            assert stored["state"] in allowed, f"{image}: acknowledged {acked[image]}, stored {stored['state']}"


def _state(event: str) -> str:
    return "Enabled" if event == "enable" else "Disabled"


GARBAGE: list[bytes] = [
    b"\x00" * 1000,
    b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 100_000 + b"\r\n\r\n",  # one enormous header
    b"PUT /zstack/v1/images/x/actions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"PUT /zstack/v1/images/x/actions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"PUT /zstack/v1/images/x/actions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"BREW /coffee HTCPCP/1.0\r\n\r\n",
    b"GET /zstack/v1/images?q=" + b"%" * 5000 + b" HTTP/1.1\r\n\r\n",
    b'PUT /zstack/v1/images/x/actions HTTP/1.1\r\nContent-Length: 20\r\n\r\n{"changeImageState":',
    b"GET /\xff\xfe HTTP/1.1\r\nHost: \xff\r\n\r\n",
    b"\r\n\r\n\r\n",
]


def test_garbage_on_the_socket_never_crashes_it(serve_process: Callable[..., ServeProcess]) -> None:
    server = serve_process("--db", ":memory:")
    host, port = server.url.split("//", 1)[1].split(":")
    rng = random.Random(1)
    payloads = GARBAGE + [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 4000))) for _ in range(200)]
    for payload in payloads:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            try:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
                sock.recv(65536)
            except OSError:
                pass  # the server may close on us: that is its right
        assert server.proc.poll() is None, f"the server died on {payload[:60]!r}"
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        image = zs.query_images(limit=1).data["inventories"][0]["uuid"]
        assert zs.change_state(image, "disable").ok
    assert server.proc.poll() is None
