"""The single I/O seam of the wire client: sends a `WireRequest`, returns an `Exchange`.

httpx does the HTTP; this module adds what a test harness needs on every call: connect and read
timeouts, no redirects followed (a redirect is an answer to record, not to chase), a cap on response
size, and timings.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import httpx

from zscheck._models import Exchange
from zscheck._wire import WireRequest, parse_json

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
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
            return httpx.Client(
                timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
                verify=verify,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
                headers={"User-Agent": _USER_AGENT},
            )

        self._new_client = client
        self._client = client()
        self._cut_off = False

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
        watchdog.start()
        try:
            with self._client.stream(
                request.method,
                self.base_url + request.path,
                headers=dict(request.headers),
                content=request.body,
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
        except httpx.TimeoutException as exc:
            exchange.error = f"timed out ({type(exc).__name__})"
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the watchdog closed the client
            exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            watchdog.cancel()
        if self._cut_off:
            self._cut_off = False
            self._client = self._new_client()
            exchange.error = f"timed out: no complete answer within {total:g} s (the server drip-feeds it)"
        exchange.elapsed = time.perf_counter() - t0
        return exchange

    def close(self) -> None:
        self._client.close()
