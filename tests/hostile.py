"""A catalogue of misbehaving HTTP servers on loopback, for proving that every command copes with them.

Each is a plain socket server on a thread (no HTTP library: the point is to say things HTTP libraries
would never say). `hostile(kind)` gives its URL for the length of a block;
`https_proxy` puts TLS with a self-signed certificate in front of any server.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

KINDS = {
    "silent": "accepts, reads, never answers",
    "drip": "answers one byte a second",
    "garbage": "answers bytes that are not HTTP",
    "not-json": "answers 200 with an HTML page to everything",
    "truncated": "promises 1000 bytes of JSON, sends 10, closes",
    "huge": "answers with a 50 MB body",
    "reset": "resets every connection",
    "redirect-loop": "redirects every request to itself",
}
_HUGE = 50 * 1024 * 1024


def _answer(kind: str, conn: socket.socket, stop: threading.Event) -> None:
    try:
        conn.settimeout(5)
        try:
            conn.recv(65536)
        except OSError:
            return
        if kind == "silent":
            stop.wait(120)
        elif kind == "drip":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                if stop.wait(1.0):
                    return
                conn.sendall(bytes([byte]))
        elif kind == "garbage":
            conn.sendall(b"\x00\xffSSH-2.0-nope\r\n\x13\x37" * 50)
        elif kind == "not-json":
            body = b"<html><body>Welcome to nginx!</body></html>"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        elif kind == "truncated":
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"invent')
        elif kind == "huge":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % _HUGE)
            chunk = b" " * 65536
            sent = 0
            while sent < _HUGE and not stop.is_set():
                conn.sendall(chunk)
                sent += len(chunk)
        elif kind == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif kind == "redirect-loop":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /zstack/v1/accounts/login\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        pass
    finally:
        conn.close()


@contextmanager
def hostile(kind: str) -> Iterator[str]:
    """A server of `kind` on a free loopback port, for the length of the block."""
    assert kind in KINDS, kind
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_answer, args=(kind, conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        time.sleep(0.05)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by nobody (openssl, from Debian's packages), and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@contextmanager
def https_proxy(backend: str, cert: Path, key: Path) -> Iterator[str]:
    """TLS in front of a plain HTTP server (the reference server speaks no TLS): bytes are relayed as is."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    host, port = backend.split("//", 1)[1].split(":")
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, up_w), pump(up_r, client_w))

    async def main() -> None:
        server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        async with server:
            await server.serve_forever()

    def run() -> None:
        asyncio.set_event_loop(loop)
        with suppress(asyncio.CancelledError, RuntimeError):
            loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"https://127.0.0.1:{ready[0]}"
    finally:
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=5)
