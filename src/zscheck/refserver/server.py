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

LINGER = 5.0  # seconds an answered bad request's connection is read and discarded before it is closed


@dataclass(frozen=True)
class Limits:
    """What one client may send, each refused the way a front end (Tomcat, nginx) refuses it.

    Why: without them one client could make the server buffer 64 MiB of headers (memory never returned),
    read an endless chunked body forever, or hold a connection by sending a byte a second. Defaults are
    a front end's: nginx's 8 KiB request line and 32 KiB of headers, Tomcat's 2 MiB maxPostSize, 60 s."""

    max_url: int = 8 * 1024  # bytes of request target: 414 beyond
    max_headers: int = 32 * 1024  # bytes of header names and values: 431 beyond
    max_body: int = 2 * 1024 * 1024  # bytes of body, chunked or not: 413 beyond
    request_timeout: float = 60.0  # seconds from a request's first byte to its last: 408 beyond
    idle_timeout: float = 60.0  # seconds a keep-alive connection may sit with nothing asked: closed

    @property
    def sweep_interval(self) -> float:
        return max(0.05, min(1.0, self.request_timeout / 4, self.idle_timeout / 4))


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
    limits: Limits = field(default_factory=Limits)


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode()


_STATUS_LINES = {code: _status_line(code) for code in (200, 202, 400, 404, 405, 408, 413, 414, 431, 500, 501, 503)}


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

    def __init__(self, app: App, connections: set[_Connection], limits: Limits) -> None:
        self._app = app
        self._store = app.store
        self._held: list[tuple[Response, bool, bool]] | None = None  # answers waiting for a commit
        self._connections = connections
        self._limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._url_size = 0
        self._header_size = 0  # bytes of header names and values, as httptools hands them over
        self._head_size = 0  # bytes received while the request line and headers are read
        self._in_head = False
        self._closing = False
        self._later: asyncio.Task[None] | None = None  # the last answer still to be sent, if any
        self.last_active = time.monotonic()  # read by the server's sweep
        self.request_started: float | None = None  # the first byte of a request not yet complete

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
            return  # answered and lingering (or closed): what follows is read and discarded
        self.last_active = time.monotonic()
        if self._in_head:
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # Answered in on_message_complete: CONNECT with 501 (closing), an Upgrade like any request
            # (RFC 9110 §7.8 lets a server ignore it). The bytes after it are the next request's.
            if not self._closing:
                self._parser = httptools.HttpRequestParser(self)
                offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
                if offset < len(data):
                    self.data_received(data[offset:])
            return
        except httptools.HttpParserError as exc:
            if not self._closing:
                self._fail(400, f"bad HTTP request: {exc}".encode())
            return
        # httptools keeps a header's name and value until the next one starts: a single endless header is
        # only visible here, counted as it arrives (within one read of the limit).
        if self._in_head and self._head_size > self._limits.max_url + self._limits.max_headers + 1024:
            self._fail(431, b"request header fields too large")

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
        self._url_size = 0
        self._header_size = 0
        self._head_size = 0
        self._in_head = True
        self.request_started = self.last_active

    def on_url(self, url: bytes) -> None:
        self._url_size += len(url)
        if self._url_size > self._limits.max_url:
            self._fail(414, b"request URI too long")
            return
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_size += len(name) + len(value)
        if self._header_size > self._limits.max_headers:
            self._fail(431, b"request header fields too large")
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        # A declared body too large is refused before it is sent (no on_headers_complete: one callback less
        # per request on the hot path; the head ends for the byte count at the first body byte).
        if key == "content-length" and text.isdigit() and int(text) > self._limits.max_body:
            self._fail(413, b"request body too large")
            return
        self._headers.setdefault(key, text)

    def on_body(self, body: bytes) -> None:
        self._in_head = False
        if self._closing:
            return
        self._body_size += len(body)
        if self._body_size > self._limits.max_body:
            self._fail(413, b"request body too large")  # at once: an endless chunked body is not read on
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.request_started = None
        self._in_head = False
        if self._closing or self._transport is None:
            return
        method = self._parser.get_method().decode("ascii", errors="replace")
        if method == "CONNECT":
            self._fail(501, b"CONNECT is not supported")
            return
        raw = self._url.decode("latin-1")
        path, _, query = raw.partition("?")
        request = Request(method, path, query, self._headers, b"".join(self._body))
        response: Answer
        try:
            response = self._app.handle(request)
        except StoreError as exc:  # the store logs it once per episode: no traceback per request
            response = Response(500, str(exc).encode())
        except Exception as exc:  # the catch-all in RestServer.handle(): a 500 with the message
            log.exception("unhandled error for %s %s", method, path)
            response = Response(500, str(exc).encode())
        keep_alive = self._parser.should_keep_alive()
        if self._later is not None or not isinstance(response, Response):
            task = asyncio.ensure_future(self._answer_later(self._later, response, keep_alive, method, path))
            self._later = task
            task.add_done_callback(self._sent_later)
            return
        self._send(response, keep_alive, method == "HEAD")

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
        self._send(response, keep_alive, method == "HEAD")

    def _sent_later(self, task: asyncio.Task[None]) -> None:
        if self._later is task:
            self._later = None

    # answering
    def _send(self, response: Response, keep_alive: bool, head: bool) -> None:
        """Write an answer, unless a batch of writes is open: then every answer waits for its commit, in
        order, so no client hears of a change (or of a job's 202) that a crash could still take back."""
        if self._held is not None:
            self._held.append((response, keep_alive, head))
        elif self._store.uncommitted:
            self._held = [(response, keep_alive, head)]
            self._store.after_commit(self._release)
        else:
            self._write(response, keep_alive, head)

    def _release(self, committed: bool) -> None:
        """The batch committed: the held answers go out. It failed: nothing of it is saved, so each
        becomes a 500 (a change answered 500 is never committed)."""
        held, self._held = self._held or [], None
        for response, keep_alive, head in held:
            if self._closing or self._transport is None:
                return
            if not committed and response is not DROP:
                response = Response(500, b"the change could not be saved: the database cannot be written")
            if not self._write(response, keep_alive, head):
                return

    def _write(self, response: Response, keep_alive: bool, head: bool) -> bool:
        """False when the connection ends with it."""
        assert self._transport is not None
        if response is DROP:
            self._drop()
            return False
        self._transport.write(encode_response(response, keep_alive=keep_alive, head=head))
        if not keep_alive:
            self.close()
            return False
        return True

    # helpers
    def idle(self) -> bool:
        """Nothing asked and nothing owed: a keep-alive connection the idle sweep may close."""
        return self.request_started is None and self._later is None and self._held is None

    def _fail(self, status: int, text: bytes) -> None:
        """A front end's refusal: the answer, then the connection closed once the client has read it.

        Closing at once with unread input would reset the connection and could destroy the answer before
        the client reads it; so, as nginx's lingering close, what the client still sends is read and
        discarded for at most LINGER seconds (data_received drops it)."""
        if self._transport is None or self._closing:
            return
        self._closing = True
        self.request_started = None
        transport = self._transport
        transport.write(encode_response(Response(status, text), keep_alive=False, head=False))
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER, transport.close)

    def _drop(self) -> None:
        """A load fault's lost answer: the connection is reset with nothing written, whatever was pipelined."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def timed_out(self) -> None:
        self._fail(408, b"request timed out")

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
        self._sweep: asyncio.Task[None] | None = None
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
        try:
            self.app = App(self.store, app_config, loop.call_later, config.faults)
            self.app.seed(config.seed_images, config.tenant_name, config.tenant_password, config.admin_password)
        except StoreError as exc:  # a file that opened but cannot be written (read-only, full)
            sock.close()
            self.store.close()
            raise ServeError(str(exc)) from None
        pending = self.app.pending_after_restart()
        if pending:
            log.info("%d api-jobs accepted before the restart stay processing (ZStack does not re-run them)", pending)
        app = self.app
        limits = config.limits
        self._server = await loop.create_server(
            lambda: _Connection(app, self._connections, limits), sock=sock, backlog=1024
        )
        self._maintenance = asyncio.create_task(self._maintain())
        self._sweep = asyncio.create_task(self._sweep_connections())
        return self.url

    async def _sweep_connections(self) -> None:
        """408 to a request that takes too long to arrive (a client dripping a byte a second), and close
        keep-alive connections idle too long: one periodic sweep, not a timer per connection re-armed on
        every read (a hot path)."""
        limits = self.config.limits
        while True:
            await asyncio.sleep(limits.sweep_interval)
            now = time.monotonic()
            for conn in list(self._connections):
                started = conn.request_started
                if started is not None and now - started > limits.request_timeout:
                    conn.timed_out()
                elif conn.idle() and now - conn.last_active > limits.idle_timeout:
                    conn.close()

    async def _maintain(self) -> None:
        # One periodic sweep instead of a timer per connection re-armed on every read (a hot path).
        interval = max(0.5, min(5.0, self.config.job_ttl / 4, self.config.session_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            if self.app is not None:
                with contextlib.suppress(StoreError):  # logged by the store, once per episode
                    self.app.maintain()

    async def stop(self) -> None:
        for task in (self._maintenance, self._sweep):
            if task is not None:
                task.cancel()
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
