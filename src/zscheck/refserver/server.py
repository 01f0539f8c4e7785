"""The reference server's HTTP/1.1 front: an asyncio protocol over httptools, and its lifecycle.

The application (`app.App`) is synchronous and fast; this layer only parses, dispatches in order
(pipelined requests are answered in order), and writes. Anything the app raises becomes a 500 with the
exception's message, the way ZStack's catch-all does, so no input can take the server down. The one
answer that is not immediate is a load fault's delayed one (a coroutine, awaited on a task); answers
after it on the same connection wait their turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import httptools

from zscheck.refserver.app import App, AppConfig, Dialect, Timing
from zscheck.refserver.faults import UnknownFault, check
from zscheck.refserver.rest import DROP, Answer, Request, Response
from zscheck.refserver.store import Store, StoreError

log = logging.getLogger("zscheck.refserver")

MAX_BODY = 2 * 1024 * 1024  # Tomcat's default maxPostSize
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle


class ServeError(Exception):
    """The server cannot start; the message is one line a user can act on."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "data/zscheck-refserver.db"
    dialect: Dialect = "rest"
    seed_images: int = 16
    session_timeout: float = 7200.0
    job_delay: float = 0.0
    job_ttl: float = 10800.0
    max_sessions: int = 500
    tenant_name: str = "tenant"
    admin_password: str = "password"
    tenant_password: str = "password"
    durable_fsync: bool = False
    faults: tuple[str, ...] = field(default_factory=tuple)
    timing: Timing = "instant"  # "realistic": api-jobs take tens to hundreds of ms, seeded (timing.JOB_DELAY_*)
    timing_seed: int = 0


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode()


_STATUS_LINES = {code: _status_line(code) for code in (200, 202, 400, 404, 405, 413, 500, 503)}


class _DateHeader:
    """The Date header, formatted once a second rather than once a request."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n".encode()
        return self._value


_date = _DateHeader()


def encode_response(resp: Response, *, keep_alive: bool, head: bool) -> bytes:
    status = _STATUS_LINES.get(resp.status) or _status_line(resp.status)
    extra = b""
    if resp.content_type:
        extra += f"Content-Type: {resp.content_type}\r\n".encode()
    if not keep_alive:
        extra += b"Connection: close\r\n"
    body = b"" if head else resp.body
    return b"%s%sContent-Length: %d\r\n%s\r\n%s" % (status, _date.get(), len(resp.body), extra, body)


class _Connection(asyncio.Protocol):
    """One client connection. httptools calls the on_* methods while `feed_data` runs."""

    def __init__(self, app: App, connections: set[_Connection]) -> None:
        self._app = app
        self._connections = connections
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._closing = False
        self._later: asyncio.Task[None] | None = None  # the last answer still to be sent, if any
        self.last_active = time.monotonic()  # read by the server's idle sweep

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._closing = True
        if self._later is not None:
            self._later.cancel()  # each waiting answer awaits the one before: this cancels them all

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.last_active = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, b"protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self._closing:
                self._fail(400, f"bad HTTP request: {exc}".encode())

    def pause_writing(self) -> None:
        # A client that stops reading must not make us buffer without bound.
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= MAX_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closing or self._transport is None:
            return
        if self._body_size > MAX_BODY:
            self._fail(413, b"request body too large")
            return
        method = self._parser.get_method().decode("ascii", errors="replace")
        raw = self._url.decode("latin-1")
        path, _, query = raw.partition("?")
        request = Request(method, path, query, self._headers, b"".join(self._body))
        response: Answer
        try:
            response = self._app.handle(request)
        except Exception as exc:  # the catch-all in RestServer.handle(): a 500 with the message
            log.exception("unhandled error for %s %s", method, path)
            response = Response(500, str(exc).encode())
        keep_alive = self._parser.should_keep_alive()
        if self._later is not None or not isinstance(response, Response):
            task = asyncio.ensure_future(self._answer_later(self._later, response, keep_alive, method, path))
            self._later = task
            task.add_done_callback(self._sent_later)
            return
        if response is DROP:
            self._drop()
            return
        self._transport.write(encode_response(response, keep_alive=keep_alive, head=method == "HEAD"))
        if not keep_alive:
            self.close()

    async def _answer_later(
        self, previous: asyncio.Task[None] | None, answer: Answer, keep_alive: bool, method: str, path: str
    ) -> None:
        try:
            if previous is not None:
                await previous
            response = answer if isinstance(answer, Response) else await answer
        except asyncio.CancelledError:
            if not isinstance(answer, Response):
                answer.close()  # never started if cancelled while waiting its turn
            raise
        except Exception as exc:
            log.exception("unhandled error for %s %s", method, path)
            response = Response(500, str(exc).encode())
        if self._closing or self._transport is None:
            return
        if response is DROP:
            self._drop()
            return
        self._transport.write(encode_response(response, keep_alive=keep_alive, head=method == "HEAD"))
        if not keep_alive:
            self.close()

    def _sent_later(self, task: asyncio.Task[None]) -> None:
        if self._later is task:
            self._later = None

    # helpers
    def _fail(self, status: int, text: bytes) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(encode_response(Response(status, text), keep_alive=False, head=False))
        self.close()

    def _drop(self) -> None:
        """A load fault's lost answer: the connection is reset with nothing written, whatever was pipelined."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()


class ReferenceServer:
    """The server bound to a socket, inside a running event loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self.store: Store | None = None
        self.app: App | None = None
        self.url = ""

    async def start(self) -> str:
        config = self.config
        try:
            check(config.faults)
        except UnknownFault as exc:
            raise ServeError(str(exc)) from None
        if config.timing not in ("instant", "realistic"):
            raise ServeError(f"unknown timing profile {config.timing!r}: use 'instant' or 'realistic'")
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((config.host, config.port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        try:
            self.store = Store(config.db, durable_fsync=config.durable_fsync)
        except StoreError as exc:
            sock.close()
            raise ServeError(str(exc)) from None
        app_config = AppConfig(
            dialect=config.dialect,
            session_timeout=config.session_timeout,
            job_delay=config.job_delay,
            job_ttl=config.job_ttl,
            max_sessions=config.max_sessions,
            base_url=self.url,
            timing=config.timing,
            timing_seed=config.timing_seed,
        )
        self.store.enable_group_commit(loop.call_soon)
        self.app = App(self.store, app_config, loop.call_later, config.faults)
        self.app.seed(config.seed_images, config.tenant_name, config.tenant_password, config.admin_password)
        pending = self.app.pending_after_restart()
        if pending:
            log.info("%d api-jobs accepted before the restart stay processing (ZStack does not re-run them)", pending)
        app = self.app
        self._server = await loop.create_server(lambda: _Connection(app, self._connections), sock=sock, backlog=1024)
        self._maintenance = asyncio.create_task(self._maintain())
        return self.url

    async def _maintain(self) -> None:
        # One periodic sweep instead of a timer per connection re-armed on every read (a hot path).
        interval = max(0.5, min(5.0, self.config.job_ttl / 4, self.config.session_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            idle_since = time.monotonic() - IDLE_TIMEOUT
            for conn in [c for c in self._connections if c.last_active < idle_since]:
                conn.close()
            if self.app is not None:
                self.app.maintain()

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                conn.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        if self.store is not None:
            self.store.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (about twice the throughput), else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(config: ServerConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then close connections and the database cleanly."""
    loop = new_event_loop()
    server = ReferenceServer(config)
    stop = asyncio.Event()

    async def main() -> None:
        url = await server.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        await server.stop()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


@dataclass
class RunningServer:
    """A reference server on a background thread, for tests and for commands with no --target."""

    url: str
    server: ReferenceServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop (the store is not thread-safe) and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(config: ServerConfig) -> RunningServer:
    loop = new_event_loop()
    server = ReferenceServer(config)
    ready: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready["url"] = loop.run_until_complete(server.start())
        except BaseException as exc:
            ready["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="zscheck-refserver", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in ready:
        raise ready["error"]
    return RunningServer(ready["url"], server, loop, thread)


def default_db_path() -> str:
    base = os.environ.get("ZSCHECK_DATA_DIR", "data")
    return os.path.join(base, "zscheck-refserver.db")
