"""The single I/O seam of the wire client: sends a `WireRequest`, returns an `Exchange`.

httpx does the HTTP; this module adds what a test harness needs on every call: connect and read
timeouts, no redirects followed (a redirect is an answer to record, not to chase), a cap on response
size, and timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from zscheck._models import Exchange
from zscheck._wire import WireRequest, parse_json

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_USER_AGENT = "zscheck/0.1"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


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
        timeouts = timeouts or Timeouts()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
            verify=verify,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": _USER_AGENT},
        )

    def send(self, request: WireRequest) -> Exchange:
        started = time.time()
        t0 = time.perf_counter()
        exchange = Exchange(request=request, started=started, elapsed=0.0)
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
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        exchange.elapsed = time.perf_counter() - t0
        return exchange

    def close(self) -> None:
        self._client.close()
