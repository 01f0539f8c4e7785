"""The single I/O seam of the wire client: sends a `WireRequest`, returns an `Exchange`.

httpx does the HTTP; this module adds what a test harness needs on every call: connect and read
timeouts, no redirects followed (a redirect is an answer to record, not to chase), a cap on response
size, and timings.

Nothing is ever sent twice (read in httpx 0.28.1 and httpcore 1.0.9). httpx has no retries of its own
and builds its transport with httpcore's default `retries=0`; httpcore's only retries are for
*connecting* (`httpcore/_sync/connection.py` `_connect`). Its pool re-assigns a request to another
connection only on `ConnectionNotAvailable`, which `HTTP11Connection.handle_request` raises before writing
a byte (`httpcore/_sync/connection_pool.py` and `http11.py`, `handle_request`). A kept-alive connection
the server closed while idle is dropped before use (`HTTP11Connection.has_expired`: idle and readable)
and a new one opened: a reconnect, recorded on the Exchange (`reconnect`). A connection closed after the
request went out gives `RemoteProtocolError` ("Server disconnected without sending a response"): a
transport error, never re-sent. httpcore's trace extension counts the sends (`Exchange.sends`), so this
stays checked, not assumed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from zscheck._models import Exchange
from zscheck._wire import WireRequest, parse_json

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
KEEPALIVE_EXPIRY = 5.0  # httpx's default, stated: an idle connection older than this is closed by httpx itself
_USER_AGENT = "zscheck/0.1"

# httpx logs every request's URL at INFO, and a logout's URL holds the session id: in whatever process
# uses this transport (a command, a locust worker), it never reaches a log.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0  # between two reads, and for the whole answer: a server that drip-feeds bytes is cut off


class Transport:
    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts | None = None,
        verify: bool | str = True,
        max_connections: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeouts = timeouts = timeouts or Timeouts()

        def client() -> httpx.Client:
            limits = httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            )
            # httpx builds its HTTPTransport (and any proxy transport from the environment) without `retries`,
            # i.e. 0 (`httpx/_client.py` `_init_transport`, `_init_proxy_transport`): no connect retries either.
            return httpx.Client(
                timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
                verify=verify,
                follow_redirects=False,
                limits=limits,
                headers={"User-Agent": _USER_AGENT},
            )

        self._new_client = client
        self._client = client()
        self._cut_off = False
        # Connections the previous answers left open (kept alive), and since when: a request that finds none
        # of them usable had its connection dropped under it (a reconnect). Exact for one caller at a time.
        self._lock = threading.Lock()
        self._kept_alive = 0
        self._idle_since = 0.0

    def _cut(self, client: httpx.Client) -> None:
        """The watchdog: httpx's read timeout is per read, so a byte a second would never trip it. Closing
        the connections ends the request at once; the next request gets a fresh client."""
        self._cut_off = True
        client.close()

    def send(self, request: WireRequest) -> Exchange:
        started = time.time()
        t0 = time.perf_counter()
        exchange = Exchange(request=request, started=started, elapsed=0.0)
        total = self._timeouts.connect + self._timeouts.read
        watchdog = threading.Timer(total, self._cut, args=(self._client,))
        watchdog.daemon = True
        events: list[str] = []

        def trace(name: str, info: dict[str, Any]) -> None:
            if name == "connection.connect_tcp.started":
                events.append("connect")
            elif name == "http11.send_request_headers.started":
                events.append("send")

        kept_alive = False
        watchdog.start()
        try:
            with self._client.stream(
                request.method,
                self.base_url + request.path,
                headers=dict(request.headers),
                content=request.body,
                extensions={"trace": trace},
            ) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_raw():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        exchange.status = response.status_code
                        exchange.error = f"response body larger than {MAX_RESPONSE_BYTES} bytes"
                        break
                    chunks.append(chunk)
                else:
                    exchange.status = response.status_code
                    exchange.headers = {k.lower(): v for k, v in response.headers.items()}
                    exchange.body = b"".join(chunks)
                    exchange.json = parse_json(exchange.body)
                    kept_alive = response.http_version == "HTTP/1.1" and (
                        response.headers.get("connection", "").lower() != "close"
                    )
        except httpx.TimeoutException as exc:
            exchange.error = f"timed out ({type(exc).__name__})"
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the watchdog closed the client
            exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            watchdog.cancel()
        exchange.elapsed = time.perf_counter() - t0
        exchange.sends = events.count("send")
        if exchange.sends:
            exchange.connection = "new" if "connect" in events else "reused"
        if self._cut_off:
            self._cut_off = False
            self._client = self._new_client()
            exchange.error = f"timed out: no complete answer within {total:g} s (the server drip-feeds it)"
            with self._lock:
                self._kept_alive = 0  # the old client's connections went with it
            return exchange
        if exchange.error is not None and exchange.connection == "reused":
            exchange.error += " (on a kept-alive connection reused from an earlier request; not re-sent)"
        self._account(exchange, kept_alive)
        return exchange

    def _account(self, exchange: Exchange, kept_alive: bool) -> None:
        """Book-keeping of kept-alive connections, to tell a reconnect from a first connection."""
        now = time.monotonic()
        with self._lock:
            if exchange.connection == "reused":
                self._kept_alive = max(0, self._kept_alive - 1)
            elif exchange.connection == "new" and self._kept_alive > 0:
                self._kept_alive -= 1
                idle = now - exchange.elapsed - self._idle_since
                why = (
                    f"httpx's own keep-alive expiry ({KEEPALIVE_EXPIRY:g} s)"
                    if idle > KEEPALIVE_EXPIRY
                    else "closed by the target while idle"
                )
                exchange.reconnect = (
                    f"the kept-alive connection was gone after {idle:.2f} s idle ({why}); a new one was opened "
                    "before the request was sent"
                )
            if kept_alive:
                self._kept_alive += 1
                self._idle_since = now

    def close(self) -> None:
        self._client.close()
