"""Loopback proxies in front of a reference server, for the load tests: each says, per request, what it
does to it (delay it, count it, swallow its answer)."""

from __future__ import annotations

import socket
import threading


class Proxy:
    """Forwards every HTTP/1.1 request to `upstream`, one connection upstream per client connection;
    `handle` sees each request first and says whether its answer is relayed (False: the connection is
    closed after the server answered, as a dropped connection looks to the client)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rstrip("/").split(":")
        self.upstream = (host, int(port))
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def handle(self, request: bytes) -> bool:
        return True

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        up = socket.create_connection(self.upstream)
        reader, upreader = conn.makefile("rb"), up.makefile("rb")
        try:
            while (request := read_message(reader)) is not None:
                relay = self.handle(request)
                up.sendall(request)
                if (answer := read_message(upreader)) is None or not relay:
                    return
                conn.sendall(answer)
        except OSError:
            return
        finally:
            for s in (reader, upreader, conn, up):
                s.close()


def read_message(reader: object) -> bytes | None:
    """One HTTP/1.1 message with a Content-Length body (what both zscheck and the server send)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        head += line
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    return head + (reader.read(length) if length else b"")  # type: ignore[attr-defined]
