"""Benchmark: the `toggle` scenario with every check on keeps at least 90% of a bare locust user's rate.

Why this matters: checks, history and histograms cost CPU in the load generator. If they cost much, an
SRE needs more load machines for the same load, and a saturated generator hides the server's limits.

Method. The machine is shared and noisy: run after run, the rate one core gives swings by 30%. So the
two generators are measured side by side, at the same moment, on the same core:

1. `zscheck serve` (in memory) pinned to CPU 0: the same server for everything.
2. Each round, on CPU 1:
   - checked: `zscheck load --scenario toggle --target URL` (`loadtests/toggle.py`): every answer judged,
     every operation timed into HdrHistograms and written to the history;
   - bare: `locust -f bench/locustfile_bare.py`: a FastHttpUser sending the same PUT + api-job polls
     (byte-identical, built by `zscheck._wire`), with no checks.
   Both have the same users. The bare run starts once the checked one is loading, and the checked one
   outlasts it, so the two share CPU 1 (the kernel gives two busy processes equal time) for the bare
   run's whole duration. The rate of each is HTTP requests (PUT + GET) per second over the same whole
   seconds, from locust's per-second counts in its JSON stats; the first and last second are left out.
   With equal CPU, the ratio of rates is the ratio of what each costs per request.
3. Each round runs twice, against two baselines:
   - `stock`: a stock FastHttpUser, as the claim is worded;
   - `no-cookies`: the same with locust's cookie jar off. zscheck's users keep no cookies, like ZStack's
     SDK, and a cookie jar costs on every request; this baseline shows the cost of the checks alone.
4. The server's CPU over the window is recorded: above 85% of its core the server, not the generators,
   may be what limits, and the round is reported as server-bound (the claim then cannot be judged).
5. For scale, sequentially and not part of the claim: wrk (Debian's `wrk`, PUTs only: it cannot follow
   jobs) and the bare user alone on CPU 1.

The claim holds when the median over rounds of checked/bare against the stock baseline is >= 0.90. Exit
codes: 0 holds, 1 does not, 2 could not run (or server-bound). Results in reports/bench/load_efficiency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server_vs_locust import (
    BenchError,
    Deadline,
    cpu_seconds,
    login_and_images,
    pin_to,
    start_server,
    stop_process,
    tail,
)

ROOT = Path(__file__).resolve().parents[1]
BARE = Path(__file__).resolve().with_name("locustfile_bare.py")
WRK_SCRIPT = Path(__file__).resolve().with_name("wrk_put.lua")
DEFAULT_OUT = ROOT / "reports" / "bench" / "load_efficiency.json"
CLAIM = 0.90
BASELINES = {"stock": [], "no-cookies": ["--no-cookies"]}
SERVER_BOUND = 0.85  # server CPU share over the window above which the server may be the limit
LEAD = 4.0  # seconds the checked run is given before the bare one starts, and after it ends


def per_second(json_file: Path) -> Counter[int]:
    """HTTP requests (PUT and GET entries) per whole second, from locust's final JSON stats."""
    try:
        entries = json.loads(json_file.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"locust wrote no usable stats to {json_file}: {exc}") from None
    counts: Counter[int] = Counter()
    for entry in entries:
        if entry.get("method") in ("PUT", "GET"):
            counts.update({int(t): int(n) for t, n in entry.get("num_reqs_per_sec", {}).items()})
    if not counts:
        raise BenchError(f"no requests in {json_file}")
    return counts


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


@dataclass
class CpuSampler:
    """CPU seconds of named processes, sampled on whole-second boundaries of the wall clock."""

    pids: dict[str, int]
    samples: dict[int, dict[str, float]]

    def sample_until(self, end: float, *procs: subprocess.Popen[bytes]) -> None:
        while time.time() < end and any(p.poll() is None for p in procs):
            time.sleep(max(0.0, 1 - time.time() % 1))
            second = round(time.time())
            reading = {}
            for name, pid in self.pids.items():
                try:
                    reading[name] = cpu_seconds(pid)
                except OSError:
                    continue
            self.samples[second] = reading

    def share(self, name: str, first: int, last: int) -> float | None:
        """CPU share of `name` from the start of second `first` to the end of second `last`."""
        a, b = self.samples.get(first, {}).get(name), self.samples.get(last + 1, {}).get(name)
        return None if a is None or b is None else (b - a) / (last + 1 - first)


def start_checked(url: str, users: int, duration: float, out: Path, cpu: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "zscheck", "load", "--target", url, "--scenario", "toggle", "--quiet",
        "--users", str(users), "--duration", f"{duration:.0f}s", "--seed", "1", "--report-dir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "ZSCHECK_PASSWORD": "password"}
    sink = (out.parent / f"{out.name}.out").open("wb")
    return subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, preexec_fn=pin_to(cpu))


def start_bare(url: str, users: int, duration: float, out: Path, cpu: int, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "locust", "-f", str(BARE), "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{duration:.0f}s", "--host", url, "--stop-timeout", "2",
        "--json-file", str(out.with_suffix("")), "--loglevel", "WARNING", *extra,  # locust adds .json
    ]  # fmt: skip
    sink = out.with_suffix(".out").open("wb")
    return subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=pin_to(cpu))


def wait_for_locust(parent: subprocess.Popen[bytes], out: Path, deadline: Deadline) -> int:
    """The pid of `zscheck load`'s locust, once its users are loading (its log says they are spawned)."""
    while True:
        deadline.left("waiting for the checked run to start loading")
        if parent.poll() is not None:
            raise BenchError(f"zscheck load exited {parent.returncode}:\n{tail(out.parent / f'{out.name}.out')}")
        log = out / "locust.log"
        kids = children_of(parent.pid)
        if kids and log.exists() and "All users spawned" in log.read_text(errors="replace"):
            return kids[0]
        time.sleep(0.1)


def side_by_side(
    url: str, users: int, duration: int, work: Path, cpus: list[int], server_pid: int, extra: list[str], tag: str,
    deadline: Deadline,
) -> dict[str, Any]:  # fmt: skip
    checked_out, bare_out = work / f"checked-{tag}", work / f"bare-{tag}.json"
    checked = start_checked(url, users, duration + 2 * LEAD + 2, checked_out, cpus[1])
    bare = None
    try:
        locust_pid = wait_for_locust(checked, checked_out, deadline)
        time.sleep(1)  # past the spawn
        bare = start_bare(url, users, duration, bare_out, cpus[1], extra)
        sampler = CpuSampler({"server": server_pid, "checked": locust_pid, "bare": bare.pid}, {})
        sampler.sample_until(time.time() + duration + LEAD, bare)
        bare.wait(timeout=deadline.left("bare run"))
        if bare.returncode not in (0, 1):
            raise BenchError(f"bare locust exited {bare.returncode}:\n{tail(bare_out.with_suffix('.out'))}")
        checked.wait(timeout=deadline.left("checked run"))
        if checked.returncode != 0:
            raise BenchError(f"zscheck load exited {checked.returncode}:\n{tail(work / f'checked-{tag}.out')}")
    finally:
        for proc in (bare, checked):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    bare_counts, checked_counts = per_second(bare_out), per_second(checked_out / "locust.json")
    first, last = min(bare_counts) + 1, max(bare_counts) - 1  # whole seconds of the bare run, ends left out
    if last - first < 2:
        raise BenchError(f"the bare run lasted under 4 s ({sorted(bare_counts)})")
    if not (min(checked_counts) < first and max(checked_counts) > last):
        raise BenchError("the checked run did not cover the bare run's window")
    seconds = range(first, last + 1)
    bare_rate = sum(bare_counts[t] for t in seconds) / len(seconds)
    checked_rate = sum(checked_counts[t] for t in seconds) / len(seconds)
    return {
        "bare_rps": bare_rate,
        "checked_rps": checked_rate,
        "ratio": checked_rate / bare_rate,
        "seconds": len(seconds),
        "cpu": {name: sampler.share(name, first, last) for name in ("server", "checked", "bare")},
    }


def alone(url: str, users: int, duration: int, work: Path, cpu: int, deadline: Deadline) -> float:
    """The bare user alone on the core, for scale."""
    out = work / "bare-alone.json"
    proc = start_bare(url, users, duration, out, cpu, [])
    proc.wait(timeout=deadline.left("bare run alone"))
    counts = per_second(out)
    seconds = range(min(counts) + 1, max(counts))
    return sum(counts[t] for t in seconds) / max(len(seconds), 1)


def run_wrk(url: str, users: int, duration: int, cpu: int, deadline: Deadline) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    session, images = login_and_images(url, users)
    env = {**os.environ, "ZSCHECK_BENCH_SESSION": session, "ZSCHECK_BENCH_IMAGES": ",".join(images)}
    proc = subprocess.run(
        [wrk, "-t1", f"-c{users}", f"-d{duration}s", "-s", str(WRK_SCRIPT), url],
        capture_output=True, text=True, env=env, preexec_fn=pin_to(cpu), timeout=deadline.left("wrk"),
    )  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-500:]}")
    return float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20, help="users on each side (default: %(default)s)")
    parser.add_argument("--duration", type=int, default=12, help="seconds of the bare run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (1 <= args.users <= 500 and 6 <= args.duration <= 120 and 1 <= args.rounds <= 10):
        print("load_efficiency: --users 1..500, --duration 6..120, --rounds 1..10", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("load_efficiency: needs two CPUs (server on one, generators on the other)", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    per_run = args.duration + 2 * LEAD + 30
    deadline = Deadline(time.monotonic() + args.rounds * len(BASELINES) * per_run + 2 * args.duration + 120)
    server = None
    rounds: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="zscheck-bench-") as tmp:
            work = Path(tmp)
            server, url = start_server(work, cpus[0], max(args.users, 16), deadline)
            for i in range(args.rounds):
                for baseline, extra in BASELINES.items():
                    result = side_by_side(
                        url, args.users, args.duration, work, cpus, server.pid, extra, f"{i}-{baseline}", deadline
                    )
                    result.update(round=i + 1, baseline=baseline)
                    rounds.append(result)
                    cpu = result["cpu"]
                    print(
                        f"round {i + 1} vs {baseline:10s}: bare {result['bare_rps']:5.0f} req/s, checked "
                        f"{result['checked_rps']:5.0f} req/s, ratio {result['ratio']:.3f}; CPU share bare "
                        f"{_pct(cpu['bare'])}, checked {_pct(cpu['checked'])}, server {_pct(cpu['server'])}",
                        flush=True,
                    )
            bare_alone = alone(url, args.users, args.duration, work, cpus[1], deadline)
            wrk = run_wrk(url, args.users, args.duration, cpus[1], deadline)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"load_efficiency: could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_process(server)
    medians = {b: statistics.median(r["ratio"] for r in rounds if r["baseline"] == b) for b in BASELINES}
    server_bound = [r for r in rounds if (r["cpu"]["server"] or 0) > SERVER_BOUND]
    holds = medians["stock"] >= CLAIM and not server_bound
    result = {
        "users": args.users,
        "duration": args.duration,
        "rounds": rounds,
        "median_ratio": medians,
        "server_bound_rounds": len(server_bound),
        "bare_alone_rps": bare_alone,
        "wrk_put_rps": wrk,
        "claim": f"median checked/bare (stock FastHttpUser) >= {CLAIM}",
        "holds": holds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"median ratio checked/bare, stock FastHttpUser: {medians['stock']:.3f} (claim >= {CLAIM}: "
          f"{'holds' if holds else 'DOES NOT HOLD'})")  # fmt: skip
    print(f"median ratio checked/bare, no cookies on either side (the checks alone): {medians['no-cookies']:.3f}")
    if server_bound:
        print(f"{len(server_bound)} round(s) had the server above {SERVER_BOUND:.0%} CPU: it may be the limit")
    print(f"alone on the core, for scale: bare locust {bare_alone:.0f} req/s", end="")
    print(f"; wrk (PUTs only) {wrk:.0f} req/s" if wrk else "; wrk not installed (Debian: apt-get install wrk)")
    print(f"results in {args.out}")
    if server_bound:
        return 2
    return 0 if holds else 1


def _pct(share: float | None) -> str:
    return "?" if share is None else f"{share:.0%}"


if __name__ == "__main__":
    sys.exit(main())
