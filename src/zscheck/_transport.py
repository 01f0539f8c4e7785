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

import functools
import logging
import os
import ssl
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


@dataclass
class _Line:
    """One thread's own httpx client and what its previous answers left open. Per thread, so that the
    watchdog cutting one request off never touches another thread's, and a reconnect is told exactly."""

    client: httpx.Client
    cut_off: bool = False
    kept_alive: int = 0  # connections the previous answers left open
    idle_since: float = 0.0  # monotonic: when the latest of them went idle


@functools.lru_cache(maxsize=8)
def _tls(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per `verify` setting for the whole process, shared by every thread's client (an
    SSLContext is safe to share). httpx builds one per client, even for an http:// target, and building
    one loads the CA bundle: about 20 ms of CPU, paid by every thread of every run (py-spy: the largest
    single cost of a contract run against the embedded server). A bad CA bundle still fails here, at the
    first client, and is not cached. A CA bundle's path is ours to load (httpx deprecates `verify=<str>`)."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


class Transport:
    """Safe to share between threads: each thread gets its own httpx client (and connection pool)."""

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
                verify=_tls(verify),
                follow_redirects=False,
                limits=limits,
                headers={"User-Agent": _USER_AGENT},
            )

        self._new_client = client
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[httpx.Client] = []  # every thread's, for close()
        self._line()  # the creating thread's, at once: a bad `verify` fails here, not on the first request

    def _line(self) -> _Line:
        line: _Line | None = getattr(self._local, "line", None)
        if line is None:
            line = self._local.line = _Line(self._register(self._new_client()))
        return line

    def _register(self, client: httpx.Client) -> httpx.Client:
        with self._lock:
            self._clients.append(client)
        return client

    @staticmethod
    def _cut(line: _Line) -> None:
        """The watchdog: httpx's read timeout is per read, so a byte a second would never trip it. Closing
        the thread's connections ends the request at once; its next request gets a fresh client."""
        line.cut_off = True
        line.client.close()

    def send(self, request: WireRequest) -> Exchange:
        line = self._line()
        started = time.time()
        t0 = time.perf_counter()
        exchange = Exchange(request=request, started=started, elapsed=0.0)
        total = self._timeouts.connect + self._timeouts.read
        watchdog = threading.Timer(total, self._cut, args=(line,))
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
            with line.client.stream(
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
        if line.cut_off:
            line.cut_off = False
            line.client = self._register(self._new_client())
            line.kept_alive = 0  # the old client's connections went with it
            exchange.error = f"timed out: no complete answer within {total:g} s (the server drip-feeds it)"
            return exchange
        if exchange.error is not None and exchange.connection == "reused":
            exchange.error += " (on a kept-alive connection reused from an earlier request; not re-sent)"
        _account(line, exchange, kept_alive)
        return exchange

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


def _account(line: _Line, exchange: Exchange, kept_alive: bool) -> None:
    """Book-keeping of kept-alive connections, to tell a reconnect from a first connection: a request that
    opened a new connection while an earlier answer had left one open found that one gone."""
    now = time.monotonic()
    if exchange.connection == "reused":
        line.kept_alive = max(0, line.kept_alive - 1)
    elif exchange.connection == "new" and line.kept_alive > 0:
        line.kept_alive -= 1
        idle = now - exchange.elapsed - line.idle_since
        why = (
            f"httpx's own keep-alive expiry ({KEEPALIVE_EXPIRY:g} s)"
            if idle > KEEPALIVE_EXPIRY
            else "closed by the target while idle"
        )
        exchange.reconnect = (
            f"the kept-alive connection was gone after {idle:.2f} s idle ({why}); a new one was opened before "
            "the request was sent"
        )
    if kept_alive:
        line.kept_alive += 1
        line.idle_since = now
