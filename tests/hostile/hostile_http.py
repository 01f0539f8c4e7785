"""Raw HTTP for the hostile tests: requests pipelined in one write (so they land in one event-loop turn,
one group-commit batch), and their answers read back in order."""

from __future__ import annotations

import json
import socket
from typing import Any

from tests.conftest import PASSWORD
from zscheck import Client


def address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def login(url: str) -> str:
    with Client(url) as zs:
        zs.login("admin", PASSWORD)
        assert zs.session is not None
        return zs.session.uuid


def put_action(image: str, body: bytes, session: str, job_uuid: str | None = None) -> bytes:
    extra = f"X-Job-UUID: {job_uuid}\r\n" if job_uuid else ""
    return (
        f"PUT /zstack/v1/images/{image}/actions HTTP/1.1\r\nHost: x\r\nAuthorization: OAuth {session}\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def state_body(event: str) -> bytes:
    return json.dumps({"changeImageState": {"stateEvent": event}}).encode()


def read_answers(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """`count` answers (status, body), each framed by its Content-Length."""
    buffer = b""
    answers: list[tuple[int, bytes]] = []
    while len(answers) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode("latin-1")
            length = next(
                int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length")
            )
            if len(buffer) >= head_end + 4 + length:
                answers.append((int(head.split(" ")[1]), buffer[head_end + 4 : head_end + 4 + length]))
                buffer = buffer[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(answers)} of {count} answers")
        buffer += chunk
    return answers


def pipeline(url: str, requests: list[bytes], timeout: float = 10.0) -> list[tuple[int, Any]]:
    """Send every request in one write; the answers in order, bodies parsed as JSON when they are."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(b"".join(requests))
        out: list[tuple[int, Any]] = []
        for status, body in read_answers(sock, len(requests)):
            try:
                out.append((status, json.loads(body)))
            except ValueError:
                out.append((status, body))
        return out
