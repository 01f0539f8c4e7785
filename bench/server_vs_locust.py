"""Benchmark: one reference-server process outpaces two locust worker processes driving it.

Why this matters: a load test of the reference server only measures the server if the load generators
are not the bottleneck. On a 2-core machine the best split is one server core and one load core; if the
server needs less than half the CPU per request that a locust worker does, then even two workers (two
cores' worth of load) cannot saturate one server process.

Method (the ratio is measured within one run, because the machine is shared and noisy):

1. `zscheck serve` on a real SQLite file (durable writes are part of the cost), pinned to CPU 0.
2. One headless locust worker (`locustfile_cycle.py`, FastHttpUser, no wait time) pinned to CPU 1, each
   user doing PUT actions + GET api-job until done. The locustfile resets its statistics when the last
   user has logged in and reads utime+stime of itself and of the server (/proc/PID/stat) at that instant
   and again on test_stop, so start-up, log-ins and shutdown count on neither side.
3. Requests come from locust's statistics as they stand at test_stop (its `--csv` files are kept and
   shown too, but locust rewrites them only once a second, so they miss the last second). The claim
   holds when `server req per CPU-s / (2 x locust req per CPU-s) >= 1`.
4. Optionally, a few seconds of a lean raw-socket keep-alive generator (asyncio + httptools, one request
   in flight per connection) on CPU 1, to show what the server does when it is the bottleneck.

Exit codes: 0 the claim holds, 1 it does not, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import functools
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from zscheck import wire

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile_cycle.py")
DEFAULT_OUT = ROOT / "reports" / "bench" / "server_vs_locust.json"
EXPECTED_STATE = {"enable": "Enabled", "disable": "Disabled"}
EXIT_HOLDS, EXIT_FAILS, EXIT_CANNOT_RUN = 0, 1, 2
MAX_DURATION = 120.0


class BenchError(Exception):
    """The benchmark cannot run or finish; the message says why."""


# ---------------------------------------------------------------------------------------- helpers


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> dict[str, list[int]]:
    """Per-CPU [busy, total] clock ticks from /proc/stat: shows how much of a core others took."""
    ticks: dict[str, list[int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                numbers = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
                ticks[name[3:]] = [sum(numbers) - numbers[3] - numbers[4], sum(numbers)]
    return ticks


def pin_to(cpu: int) -> Callable[[], None]:
    """A preexec_fn: the child is pinned before it execs, so no thread of it ever runs elsewhere."""

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


@dataclass
class Deadline:
    """The whole run's time budget: every wait below is bounded by what is left of it."""

    end: float

    def left(self, what: str) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise BenchError(f"total timeout reached while {what}")
        return remaining


def stop_process(proc: subprocess.Popen[Any] | None) -> int | None:
    """SIGTERM (the server closes its database cleanly), then SIGKILL; only the process group we made."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def send(base_url: str, req: wire.WireRequest, timeout: float = 10.0) -> tuple[int, Any]:
    """One blocking request (set-up only: login and image listing), answered as (status, JSON or None)."""
    request = urllib.request.Request(base_url + req.path, data=req.body, headers=dict(req.headers), method=req.method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, wire.parse_json(resp.read())
    except urllib.error.HTTPError as exc:  # 4xx/5xx are answers too
        return exc.code, wire.parse_json(exc.read())


def login_and_images(base_url: str, limit: int) -> tuple[str, list[str]]:
    status, data = send(base_url, wire.login("admin", wire.hash_password("password")))
    if status != 200 or not isinstance(data, dict):
        raise BenchError(f"login answered {status}: {data}")
    session = str(data["inventory"]["uuid"])
    status, data = send(base_url, wire.query_images(session, limit=limit))
    inventories = data.get("inventories") if isinstance(data, dict) else None
    if status != 200 or not inventories:
        raise BenchError(f"image query answered {status}: {data}")
    return session, [str(inv["uuid"]) for inv in inventories]


# ------------------------------------------------------------------------------------- the server


def start_server(workdir: Path, cpu: int, images: int, deadline: Deadline) -> tuple[subprocess.Popen[bytes], str]:
    # stdout and stderr go to files, not pipes: a pipe nobody drains could block the server mid-run.
    out, err = workdir / "server.out", workdir / "server.err"
    cmd = [
        sys.executable, "-m", "zscheck", "serve",
        "--host", "127.0.0.1", "--port", "0",
        "--db", str(workdir / "bench.db"),
        "--seed-images", str(images),
    ]  # fmt: skip
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, preexec_fn=pin_to(cpu), start_new_session=True
        )
    start = time.monotonic()
    while time.monotonic() - start < 30:
        deadline.left("starting the server")
        first = out.read_text(errors="replace").partition("\n")
        if first[1]:  # a whole first line
            url = first[0].rsplit(" ", 1)[-1].strip()
            if not url.startswith("http://127.0.0.1:"):
                proc.kill()
                raise BenchError(f"unexpected first line from the server: {first[0]!r}")
            return proc, url
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}:\n{tail(err)}")
        time.sleep(0.05)
    proc.kill()
    raise BenchError("the server printed no URL within 30 s")


# ------------------------------------------------------------------------------------------ locust


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run_locust(
    url: str,
    server_pid: int,
    cpu: int,
    users: int,
    duration: float,
    csv_prefix: Path,
    workdir: Path,
    deadline: Deadline,
) -> dict[str, Any]:
    window_file = workdir / "locust-window.json"
    log = workdir / "locust.log"
    # The locustfile opens the window once every user has logged in (-r equals -u, so within about a
    # second) and closes it when the run time is up: the extra second keeps the window near --duration.
    run_time = math.ceil(duration) + 1
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
        "--headless", "-u", str(users), "-r", str(users), "-t", f"{run_time}s",
        "--host", url, "--only-summary", "--csv", str(csv_prefix),
    ]  # fmt: skip
    env = {
        **os.environ,
        "ZSCHECK_BENCH_USERS": str(users),
        "ZSCHECK_BENCH_SERVER_PID": str(server_pid),
        "ZSCHECK_BENCH_WINDOW_FILE": str(window_file),
    }
    csv_prefix.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=pin_to(cpu),
            start_new_session=True,
        )
    try:
        proc.wait(min(run_time + 60, deadline.left("running locust")))
    except subprocess.TimeoutExpired:
        raise BenchError(f"locust did not finish in time:\n{tail(log)}") from None
    finally:
        stop_process(proc)
    if not window_file.exists():
        raise BenchError(f"locust exited with {proc.returncode} and no measurement window:\n{tail(log)}")
    window = json.loads(window_file.read_text())
    entries = {entry["name"]: entry for entry in window["stats"]}
    total = entries.pop("Aggregated", None)
    if total is None:
        raise BenchError(f"locust made no requests in the window (exit {proc.returncode}):\n{tail(log)}")
    window_s = window["t1"] - window["t0"]
    csv_total = next((r for r in read_csv(Path(f"{csv_prefix}_stats.csv")) if r["Name"] == "Aggregated"), None)
    return {
        "exit_code": proc.returncode,  # 1 whenever any request failed
        "window_s": window_s,
        "requests": total["requests"],
        "failures": total["failures"],
        "requests_per_s": total["requests"] / window_s,
        # locust's own CSV, for comparison: its last periodic write, up to a second before the end
        "csv_requests": None if csv_total is None else int(csv_total["Request Count"]),
        "csv_requests_per_s": None if csv_total is None else float(csv_total["Requests/s"]),
        "server_cpu_s": window["server_cpu1"] - window["server_cpu0"],
        "locust_cpu_s": window["locust_cpu1"] - window["locust_cpu0"],
        "core_busy": core_busy(window["cores0"], window["cores1"]),
        "by_name": entries,
        "failure_messages": window["errors"],
        "exceptions": window["exceptions"],
        "log_tail": tail(log, 8),
    }


def core_busy(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, float]:
    """The busy fraction of each core over a window, whoever used it."""
    busy: dict[str, float] = {}
    for cpu, (busy1, total1) in after.items():
        busy0, total0 = before.get(cpu, [0, 0])
        busy[cpu] = (busy1 - busy0) / max(1, total1 - total0)
    return busy


# ------------------------------------------------------------------------ the saturation generator


@dataclass
class Tally:
    """What the generator's connections saw, shared by all of them (one thread, no locking)."""

    requests: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)


class CycleConnection(asyncio.Protocol):
    """One keep-alive connection doing PUT actions then GET api-job until done, one request in flight.

    httptools parses the answers (the same parser the server uses, so parsing is cheap on both sides);
    requests come from `wire` and are serialised to bytes here."""

    def __init__(self, host: str, session: str, image: str, tally: Tally, running: Callable[[], bool]) -> None:
        self._host = host
        self._session = session
        self._image = image
        self._tally = tally
        self._running = running
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._toggles = 0
        self._event = "enable"
        self._polling = False
        self._location = ""
        self.closed = asyncio.get_running_loop().create_future()

    def _send(self, req: wire.WireRequest) -> None:
        lines = [f"{req.method} {req.path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in req.headers.items()]
        if req.body is not None:
            lines.append(f"Content-Length: {len(req.body)}")
        assert self._transport is not None
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (req.body or b""))

    def _next_cycle(self) -> None:
        if not self._running():
            if self._transport is not None:
                self._transport.close()
            return
        self._event = wire.STATE_EVENTS[self._toggles % 2]
        self._toggles += 1
        self._polling = False
        self._send(wire.change_state(self._image, self._event, self._session))

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._next_cycle()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._tally.failures[f"unparseable answer: {exc}"] += 1
            if self._transport is not None:
                self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._running():
            self._tally.failures[f"connection closed by the server: {exc}"] += 1
        if not self.closed.done():
            self.closed.set_result(None)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        body, self._body = b"".join(self._body), []
        tally = self._tally
        tally.requests += 1
        name = "GET api-job" if self._polling else "PUT actions"
        tally.statuses[f"{name} {status}"] += 1
        data = wire.parse_json(body)
        if not self._polling:
            location = wire.job_location(status, data)
            if location is None:
                tally.failures[f"PUT actions: expected 202 with a location, got {status}: {body[:120]!r}"] += 1
                self._next_cycle()
                return
            self._polling = True
            self._location = location
            self._send(wire.poll(location))
            return
        if status == 202:
            self._send(wire.poll(self._location))
            return
        inventory = data.get("inventory") if isinstance(data, dict) else None
        state = inventory.get("state") if isinstance(inventory, dict) else None
        if status != 200:
            tally.failures[f"GET api-job: job answered {status}: {body[:120]!r}"] += 1
        elif state != EXPECTED_STATE[self._event]:
            tally.failures[f"GET api-job: job result state {state!r}, expected {EXPECTED_STATE[self._event]!r}"] += 1
        self._next_cycle()


async def _saturate(url: str, server_pid: int, connections: int, duration: float, warmup: float) -> dict[str, Any]:
    session, images = login_and_images(url, connections)
    split = urlsplit(url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    tally, running = Tally(), [True]
    loop = asyncio.get_running_loop()
    protocols: list[CycleConnection] = []
    for i in range(connections):
        image = images[i % len(images)]
        _, protocol = await loop.create_connection(
            functools.partial(CycleConnection, split.netloc, session, image, tally, lambda: running[0]), host, port
        )
        protocols.append(protocol)
    await asyncio.sleep(warmup)  # connections opened, caches warm: the window starts now
    n0, t0, server0, own0, cores0 = (
        tally.requests,
        time.monotonic(),
        cpu_seconds(server_pid),
        cpu_seconds(),
        cpu_ticks(),
    )
    await asyncio.sleep(duration)
    n1, t1, server1, own1, cores1 = (
        tally.requests,
        time.monotonic(),
        cpu_seconds(server_pid),
        cpu_seconds(),
        cpu_ticks(),
    )
    running[0] = False  # each connection closes after its answer in flight
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), 5)
    return {
        "connections": connections,
        "window_s": t1 - t0,
        "requests": n1 - n0,
        "requests_per_s": (n1 - n0) / (t1 - t0),
        "server_cpu_s": server1 - server0,
        "generator_cpu_s": own1 - own0,
        "core_busy": core_busy(cores0, cores1),
        "statuses": dict(tally.statuses),
        "failure_messages": [f"{msg} (x{count})" for msg, count in tally.failures.most_common(10)],
    }


def saturate_worker(url: str, server_pid: int, connections: int, duration: float) -> int:
    """The generator's own process (`--saturate-worker`): prints its result as one JSON line."""
    try:
        import uvloop  # the fast loop when installed, as the server uses

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_saturate(url, server_pid, connections, duration, warmup=1.0))
    print(json.dumps(result), flush=True)
    return 0


def run_saturation(
    url: str, server_pid: int, cpu: int, connections: int, duration: float, workdir: Path, deadline: Deadline
) -> dict[str, Any]:
    err = workdir / "saturate.err"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--saturate-worker", url,
        "--server-pid", str(server_pid), "--users", str(connections), "--duration", str(duration),
    ]  # fmt: skip
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            preexec_fn=pin_to(cpu),
            start_new_session=True,
        )
    try:
        out, _ = proc.communicate(timeout=min(duration + 30, deadline.left("saturating the server")))
    except subprocess.TimeoutExpired:
        raise BenchError("the saturation generator did not finish in time") from None
    finally:
        stop_process(proc)
    if proc.returncode != 0 or not out.strip():
        raise BenchError(f"the saturation generator failed with {proc.returncode}:\n{tail(err)}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------------------- report


def summarise(locust: dict[str, Any], saturation: dict[str, Any] | None) -> dict[str, Any]:
    requests = locust["requests"]
    server_capacity = requests / locust["server_cpu_s"] if locust["server_cpu_s"] > 0 else math.inf
    locust_rate = requests / locust["locust_cpu_s"] if locust["locust_cpu_s"] > 0 else math.inf
    summary = {
        "locust_requests_per_s": locust["requests_per_s"],
        "server_cpu_utilisation": locust["server_cpu_s"] / locust["window_s"],
        "locust_cpu_utilisation": locust["locust_cpu_s"] / locust["window_s"],
        "server_requests_per_cpu_s": server_capacity,
        "locust_requests_per_cpu_s": locust_rate,
        "ratio": server_capacity / (2 * locust_rate),
    }
    if saturation is not None:
        summary["server_requests_per_s_saturated"] = saturation["requests_per_s"]
        summary["server_cpu_utilisation_saturated"] = saturation["server_cpu_s"] / saturation["window_s"]
        summary["server_requests_per_cpu_s_saturated"] = saturation["requests"] / max(1e-9, saturation["server_cpu_s"])
        # The same ratio with the server's cost when busy (as it would be under two workers); not the verdict.
        summary["ratio_saturated"] = summary["server_requests_per_cpu_s_saturated"] / (2 * locust_rate)
    return summary


def _csv(locust: dict[str, Any]) -> str:
    if locust["csv_requests"] is None:
        return "missing"
    return f"{locust['csv_requests']} requests, {locust['csv_requests_per_s']:.0f}/s"


def _cores(busy: dict[str, float], config: dict[str, Any]) -> str:
    server, load = str(config["server_cpu"]), str(config["load_cpu"])
    return f"server CPU {server}: {busy.get(server, 0):.0%}, load CPU {load}: {busy.get(load, 0):.0%}"


def print_table(config: dict[str, Any], locust: dict[str, Any], sat: dict[str, Any] | None, s: dict[str, Any]) -> None:
    verdict = ">= 1: claim holds" if s["ratio"] >= 1 else "< 1: claim FAILS"
    rows: list[tuple[str, str]] = [
        (f"locust: 1 worker, {config['users']} users, CPU {config['load_cpu']}", f"{locust['window_s']:.1f} s window"),
        ("  requests (PUT actions + GET api-job)", f"{locust['requests']}  ({locust['failures']} failed)"),
    ]
    for name, row in sorted(locust["by_name"].items()):
        p99 = "n/a" if row["p99_ms"] is None else f"{row['p99_ms']:.0f}"
        rows.append(
            (
                f"    {name}",
                f"{row['requests']} ({row['failures']} failed), median {row['median_ms']:.0f} ms, p99 {p99} ms",
            )
        )
    rows += [
        ("  locust requests/s (one worker)", f"{s['locust_requests_per_s']:.0f}"),
        ("  locust CSV (rewritten once a second)", _csv(locust)),
        ("  locust CPU seconds / utilisation", f"{locust['locust_cpu_s']:.2f} s / {s['locust_cpu_utilisation']:.0%}"),
        ("  server CPU seconds / utilisation", f"{locust['server_cpu_s']:.2f} s / {s['server_cpu_utilisation']:.0%}"),
        ("  cores busy, by anyone (noise check)", _cores(locust["core_busy"], config)),
        ("server capacity (requests per server CPU-s)", f"{s['server_requests_per_cpu_s']:.0f}"),
        ("locust cost (requests per locust CPU-s)", f"{s['locust_requests_per_cpu_s']:.0f}"),
        ("ratio capacity / (2 x locust per CPU-s)", f"{s['ratio']:.2f}  ({verdict})"),
    ]
    if sat is not None:
        rows += [
            (
                f"server req/s when saturated ({sat['connections']} conns, CPU {config['load_cpu']})",
                f"{sat['requests_per_s']:.0f}  (server CPU {s['server_cpu_utilisation_saturated']:.0%}, "
                f"generator CPU {sat['generator_cpu_s'] / sat['window_s']:.0%}, {sat['window_s']:.1f} s)",
            ),
            ("  server requests per server CPU-s there", f"{s['server_requests_per_cpu_s_saturated']:.0f}"),
            ("  ratio with that cost (informative)", f"{s['ratio_saturated']:.2f}"),
            ("  cores busy, by anyone (noise check)", _cores(sat["core_busy"], config)),
            ("  saturation answers", ", ".join(f"{k}: {v}" for k, v in sorted(sat["statuses"].items()))),
        ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    problems = locust["failure_messages"] + locust["exceptions"] + (sat["failure_messages"] if sat else [])
    for message in problems:
        print(f"  problem: {message}")
    print()


# ------------------------------------------------------------------------------------------- main


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(f"{text} is out of range: it must be between 1 and {MAX_DURATION:.0f}")
    return value


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Show that one zscheck reference-server process outpaces two locust workers: run the "
        "server on one CPU and one locust worker on the other, compare CPU seconds per request. "
        "Exit 0 when server capacity / (2 x locust rate per CPU-second) >= 1, 1 when not, 2 on error.",
    )
    parser.add_argument(
        "--duration", type=_duration, default=15.0, help="measured seconds of locust load (1-120, default: 15)"
    )
    parser.add_argument("--users", type=int, default=50, help="locust users / generator connections (default: 50)")
    parser.add_argument(
        "--saturate",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds of direct saturation with a lean generator afterwards; 0 to skip (default: 5)",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default: 0)")
    parser.add_argument("--load-cpu", type=int, default=1, help="CPU for locust and the generator (default: 1)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="total time budget in seconds (default: durations + 120)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result (default: %(default)s)")
    # Internal: the saturation generator re-runs this file in its own pinned process.
    parser.add_argument("--saturate-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.saturate_worker:
        return saturate_worker(args.saturate_worker, args.server_pid, args.users, args.duration)
    if not 1 <= args.users <= 1000:
        print("server_vs_locust: --users must be between 1 and 1000", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if not 0 <= args.saturate <= MAX_DURATION:
        print(f"server_vs_locust: --saturate must be between 0 and {MAX_DURATION:.0f}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    available = os.sched_getaffinity(0)
    if args.server_cpu == args.load_cpu or not {args.server_cpu, args.load_cpu} <= available:
        print(
            f"server_vs_locust: need two distinct CPUs from {sorted(available)} "
            f"(got --server-cpu {args.server_cpu}, --load-cpu {args.load_cpu})",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    # SIGTERM unwinds like Ctrl-C, so the finally below always stops the children.
    signal.signal(signal.SIGTERM, _interrupt)
    # This process only polls and waits; keeping it off the server's CPU leaves that CPU to the server.
    os.sched_setaffinity(0, {args.load_cpu})
    budget = args.timeout if args.timeout is not None else args.duration + args.saturate + 120
    deadline = Deadline(time.monotonic() + budget)
    config = {
        "duration_s": args.duration,
        "users": args.users,
        "saturate_s": args.saturate,
        "server_cpu": args.server_cpu,
        "load_cpu": args.load_cpu,
        "db": "real SQLite file (WAL, synchronous=NORMAL)",
    }
    server: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="zscheck-bench-") as tmp:
        workdir = Path(tmp)
        try:
            loadavg_before = os.getloadavg()
            server, url = start_server(workdir, args.server_cpu, args.users, deadline)
            print(f"server pid {server.pid} on CPU {args.server_cpu}: {url}", flush=True)
            print(f"locust: {args.users} users on CPU {args.load_cpu} for {args.duration:.0f} s ...", flush=True)
            csv_prefix = args.out.parent / "server_vs_locust_locust"
            locust = run_locust(
                url, server.pid, args.load_cpu, args.users, args.duration, csv_prefix, workdir, deadline
            )
            saturation = None
            if args.saturate > 0:
                print(f"saturation: lean generator on CPU {args.load_cpu} for {args.saturate:.0f} s ...", flush=True)
                saturation = run_saturation(
                    url, server.pid, args.load_cpu, args.users, args.saturate, workdir, deadline
                )
        except BenchError as exc:
            print(f"server_vs_locust: {exc}", file=sys.stderr)
            stop_process(server)
            if (workdir / "server.err").exists():
                print(f"server stderr:\n{tail(workdir / 'server.err')}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        except KeyboardInterrupt:
            print("server_vs_locust: interrupted", file=sys.stderr)
            return EXIT_CANNOT_RUN
        finally:
            server_exit = stop_process(server)
        server_log = (workdir / "server.err").read_text(errors="replace").strip()
    summary = summarise(locust, saturation)
    print_table(config, locust, saturation, summary)
    if server_log:
        print(f"server stderr ({len(server_log.splitlines())} lines):\n{server_log[-2000:]}\n")
    result = {
        "claim": "one reference-server process outpaces two locust worker processes driving it",
        "holds": summary["ratio"] >= 1,
        "summary": summary,
        "config": config,
        "locust": locust,
        "saturation": saturation,
        "server": {"exit_code": server_exit, "stderr": server_log[-4000:]},
        "environment": {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_before": loadavg_before,
            "platform": platform.platform(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {args.out}")
    return EXIT_HOLDS if summary["ratio"] >= 1 else EXIT_FAILS


if __name__ == "__main__":
    raise SystemExit(main())
