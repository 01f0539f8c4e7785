"""Shared fixtures: real reference servers on free loopback ports, and clients logged in to them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from zscheck import Client
from zscheck.refserver import RunningServer, ServerConfig, start_in_thread


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An `alone` test is a slow one too, so `-m "not slow"` leaves it out."""
    for item in items:
        if item.get_closest_marker("alone"):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """An `alone` test that failed inside a pytest-xdist worker says why that matters: its margins assume
    the machine to itself (the README's second command)."""
    report: pytest.TestReport = yield
    if report.failed and item.get_closest_marker("alone") and os.environ.get("PYTEST_XDIST_WORKER"):
        report.sections.append(
            ("why this may be the machine", "this test measures latency or the load generator's CPU and ran in "
             "a pytest-xdist worker, maybe beside other test files; rerun it alone: pytest -m alone")
        )  # fmt: skip
    return report


PASSWORD = "password"  # the reference server's default for both accounts, as on a fresh ZStack

ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def make_server() -> Iterator[ServerFactory]:
    """Start servers with any ServerConfig overrides; all are stopped at the end of the test."""
    started: list[RunningServer] = []

    def make(**overrides: object) -> RunningServer:
        config = replace(ServerConfig(port=0, db=":memory:"), **overrides)
        server = start_in_thread(config)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: ServerFactory) -> RunningServer:
    return make_server()


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        yield zs


def image_uuids(zs: Client, *conditions: str) -> list[str]:
    result = zs.query_images(conditions)
    assert result.ok, result.final.text()
    return [inv["uuid"] for inv in result.data["inventories"]]


class ServeProcess:
    """`zscheck serve` as a real subprocess, for signals, kill -9 and the command line itself."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"server did not start: {line!r} {err!r}")
        self.url = line.rsplit(" ", 1)[-1].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def serve_process() -> Iterator[Callable[..., ServeProcess]]:
    procs: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        proc = ServeProcess(*args, env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "refserver.db")
