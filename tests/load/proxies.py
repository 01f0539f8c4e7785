"""What the load tests' proxies share: reading one HTTP/1.1 message off a socket."""

from __future__ import annotations


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
