"""The state machine runs beside the other suites (`beside()` in the plugin): its lanes overlap the other
suites in time, the run never has more than `--workers` requests in flight (`RequestLimiter`, shared by
every client of the run), a fault the state machine catches is still caught and reported against the
state machine's test, and the shrink budget is spent once by searches that overlap."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.test_trust import contract
from tests.conftest import PASSWORD, ServerFactory
from zscheck.client import Client, RequestLimiter
from zscheck.conformance.harness import ShrinkClock
from zscheck.errors import ConfigError

MACHINE = "contracts/test_state_machine.py::test_image_state_model"
WORKERS = 3

# Loaded into the contract run's pytest (PYTEST_ADDOPTS): when each test's call ran, and when the tests
# that ran beside started and finished, in wall-clock seconds.
PROBE = """
import json, os, time
from zscheck.conformance import plugin

calls = {}

def pytest_runtest_logreport(report):
    if report.when == "call":
        calls[report.nodeid] = (report.start, report.stop)

def pytest_unconfigure(config):
    shift = time.time() - time.monotonic()
    beside = {k: (s + shift, None if f is None else f + shift) for k, (s, f) in plugin.beside_times(config).items()}
    zs = plugin.harness_of(config)
    images = {"scratch": zs.scratch, "admin": zs.admin_images} if zs is not None else {}
    with open(os.environ["BESIDE_PROBE_OUT"], "w") as out:
        json.dump({"calls": calls, "beside": beside, "images": images}, out)
"""


# ----------------------------------------------------------------------------------- the limiter alone


def test_the_limiter_never_lets_more_than_its_slots_through() -> None:
    limiter = RequestLimiter(3)
    lock, inside, most = threading.Lock(), [0], [0]

    def one() -> None:
        with limiter:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=one) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most[0] <= 3 and limiter.peak <= 3, (most, limiter.peak)
    assert limiter.in_flight == 0  # every slot given back
    assert limiter.waited > 0  # the bound was reached: some had to queue


def test_the_limiter_serves_waiters_first_come_first_served() -> None:
    limiter = RequestLimiter(1)
    limiter.acquire()  # held: everyone below queues
    order: list[int] = []

    def one(i: int) -> None:
        with limiter:
            order.append(i)

    threads = []
    for i in range(6):
        threads.append(threading.Thread(target=one, args=(i,)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while limiter.waited < i + 1 and time.monotonic() < deadline:  # queued before the next one starts
            time.sleep(0.001)
    limiter.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(6))


def test_a_limiter_needs_a_slot() -> None:
    with pytest.raises(ConfigError, match="at least 1 slot"):
        RequestLimiter(0)


class _Counting(BaseHTTPRequestHandler):
    """A slow target that counts the requests it is answering at once."""

    lock = threading.Lock()
    inside = 0
    most = 0

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.inside += 1
            cls.most = max(cls.most, cls.inside)
        time.sleep(0.02)
        with cls.lock:
            cls.inside -= 1
        body = b'{"version": "zscheck"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_GET  # GetVersion is a PUT

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def test_clients_sharing_a_limiter_keep_the_target_at_its_bound() -> None:
    """Counted at the target: two clients, eight threads, two slots."""
    handler = type("Handler", (_Counting,), {"lock": threading.Lock(), "inside": 0, "most": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    limiter = RequestLimiter(2)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    clients = [Client(url, limiter=limiter), Client(url, limiter=limiter)]
    try:
        statuses: list[int] = []

        def calls(client: Client) -> None:
            for _ in range(5):
                statuses.append(client.get_version().final.status)

        threads = [threading.Thread(target=calls, args=(clients[i % 2],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for client in clients:
            client.close()
        server.shutdown()
        server.server_close()
    assert handler.most == 2, handler.most  # reached, and never passed
    assert statuses == [200] * 40


# ----------------------------------------------------------------------------------- the shrink clock


def test_overlapping_searches_spend_the_shrink_budget_once() -> None:
    clock = ShrinkClock(10.0)
    clock.closed = [(0.0, 4.0), (2.0, 6.0), (8.0, 9.0)]  # two overlapping, one apart: 6 + 1 s
    assert clock.spent(now=20.0) == pytest.approx(7.0)
    assert clock.left(now=20.0) == pytest.approx(3.0)
    clock.closed.append((9.0, 30.0))
    assert clock.left(now=40.0) == 1.0  # spent out: every later search still gets a second
    assert 5.0 + clock == pytest.approx(6.0, abs=0.1)  # how Hypothesis reads it: perf_counter() + budget


def test_a_search_is_counted_from_the_first_failure_to_the_end_of_its_test() -> None:
    clock = ShrinkClock(10.0)
    clock.failed("")  # outside any test: nothing to search
    assert clock.searching == {}
    clock.failed("a")
    clock.failed("a")  # the first failure counts
    start, left = clock.searching["a"]
    assert left == pytest.approx(10.0, abs=0.5)
    spent, left_then = clock.finish("a", start + 4.0) or (0.0, 0.0)
    assert spent == pytest.approx(4.0) and left_then == left
    assert clock.left() == pytest.approx(6.0, abs=0.5)
    assert clock.finish("a") is None  # finished once


# ----------------------------------------------------------------------------------- a whole run


class _CountingProxy(BaseHTTPRequestHandler):
    """Forwards to a correct server (Host kept, so job locations come back through here) and counts the
    requests in flight at once."""

    backend = ""
    lock = threading.Lock()
    inside = 0
    most = 0
    total = 0

    def _forward(self) -> None:
        cls = type(self)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
        with cls.lock:
            cls.inside += 1
            cls.total += 1
            cls.most = max(cls.most, cls.inside)
        # http.client, not httpx: schemathesis sends header values httpx refuses to send on (a NUL byte),
        # and the proxy must pass on whatever the run sends.
        connection = http.client.HTTPConnection(self.backend, timeout=30)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers.items():
                connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            content = answer.read()
        finally:
            connection.close()
            with cls.lock:
                cls.inside -= 1
        self.send_response(answer.status)
        head = self.command == "HEAD"  # no body: the backend's Content-Length stands
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "server", "date") and (
                head or key.lower() != "content-length"
            ):
                self.send_header(key, value)
        if not head:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if not head:
            self.wfile.write(content)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def counting_proxy(make_server: ServerFactory) -> Iterator[type[_CountingProxy]]:
    backend = make_server(timing="realistic", timing_seed=4).url.split("://", 1)[1].rstrip("/")
    handler = type("Handler", (_CountingProxy,), {"backend": backend, "lock": threading.Lock()})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{proxy.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield handler
    finally:
        proxy.shutdown()
        proxy.server_close()


def _probed(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "beside_probe.py").write_text(PROBE)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, "PYTEST_ADDOPTS": "-p beside_probe", "BESIDE_PROBE_OUT": str(tmp_path / "probe.json")}


def _overlap(span: tuple[float, float], others: list[tuple[float, float]]) -> float:
    """Seconds of `span` during which at least one of `others` ran."""
    covered, reach = 0.0, span[0]
    for start, stop in sorted(others):
        start, stop = max(start, reach), min(stop, span[1])
        if stop > start:
            covered += stop - start
            reach = stop
    return covered


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_state_machine_runs_beside_the_other_suites_within_the_bound(
    counting_proxy: type[_CountingProxy], tmp_path: Path
) -> None:
    """A correct server with a real node's timing, behind a proxy that counts requests in flight: the run
    passes, the state machine's lanes ran while the other suites ran, on images made for them (one per
    lane), and the target never had more than `--workers` requests at once."""
    url = counting_proxy.url  # type: ignore[attr-defined]
    code, summary, output = contract(
        tmp_path / "r", "--target", url, "--max-examples", "40", "--seed", "2", "--workers", str(WORKERS),
        env={"ZSCHECK_PASSWORD": PASSWORD, **_probed(tmp_path)},
    )  # fmt: skip
    assert code == 0, output[-3000:]
    assert summary["verdict"] == "PASS"
    probe = json.loads((tmp_path / "probe.json").read_text())
    started, finished = probe["beside"][MACHINE]
    assert finished is not None and finished > started
    others = [(span[0], span[1]) for test, span in probe["calls"].items() if test != MACHINE]
    assert len(others) > 10
    first = min(start for start, _ in others)
    assert started <= first + 1.0, (started, first)  # started with the session, not when its test came
    # The lanes ran while the other suites did: most of the time it took, or most of the others' time when
    # they were done first (a serial run overlaps nothing).
    last = max(stop for _, stop in others)
    shared = _overlap((started, finished), others)
    assert shared >= 0.5 * min(finished - started, last - first), (shared, started, finished, first, last)
    # Counted at the target: the parts went out side by side, never more than --workers at once.
    assert counting_proxy.total >= summary["requests"] * 0.9, (counting_proxy.total, summary["requests"])
    assert 2 <= counting_proxy.most <= WORKERS, counting_proxy.most
    # One image of its own per lane (40 examples: a budget of 10, 3 lanes at 3 workers), restored at the end.
    machine = set(probe["images"]["scratch"]["zscheck-machine"])
    assert len(machine) == 3 and not machine & set(probe["images"]["admin"]), probe["images"]
    journal = [json.loads(line) for line in (tmp_path / "r" / "journal.jsonl").read_text().splitlines()]
    created = {e["uuid"] for e in journal if e["kind"] == "image" and e.get("created")}
    restored = {e["uuid"] for e in journal if e["kind"] == "restored"}
    assert machine <= created and machine <= restored, (machine, created, restored)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_fault_the_state_machine_catches_is_reported_against_it(tmp_path: Path) -> None:
    """`lost-update` (a query after a change shows the old state): caught by the lanes while the other
    suites ran, and reported as the state machine's failure, with its steps. 40 examples: a budget of 10
    in 3 lanes (at 15, one lane of 5 examples, whose first are the simplest, missed it once in CI)."""
    code, summary, output = contract(
        tmp_path / "r", "--fault", "lost-update", "--max-examples", "40", "--seed", "7", "--no-shrink",
        "--timing", "realistic", env=_probed(tmp_path),
    )  # fmt: skip
    assert code == 1, output[-3000:]
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert MACHINE in probe["beside"]  # it ran beside
    mine = [f for f in summary["failures"] if f["test"] == MACHINE]
    assert any(f["check"] == "query_agrees" for f in mine), [(f["test"], f["check"]) for f in summary["failures"]]
    # A lane's steps never end up under another test, whatever the main thread was running then.
    for failure in summary["failures"]:
        if "state = ImageStates()" in failure.get("steps", ""):
            assert failure["test"] == MACHINE, failure["test"]
