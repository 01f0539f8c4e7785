"""Benchmark: the `toggle` scenario with every check on keeps at least 90% of a bare locust user's rate.

Why this matters: checks, history and histograms cost CPU in the load generator. If they cost much, an
SRE needs more load machines for the same load, and a saturated generator hides the server's limits.

Method (ratios within one run, alternating, because the machine is shared and noisy):

1. `zscheck serve` (in memory) pinned to CPU 0, so the server is the same for every measurement.
2. Rounds, each on CPU 1 with the same users and duration:
   - bare:    `locust -f bench/locustfile_bare.py`: FastHttpUser sending the same PUT + api-job polls,
              no checks (the baseline);
   - checked: `zscheck load --scenario toggle --target URL`: `loadtests/toggle.py`, every answer judged,
              every operation timed into HdrHistograms and written to the history, linearizability
              checked after the run.
   The rate of each is HTTP requests (PUT + GET) per second, from locust's final JSON stats (first to
   last request), so start-up and shutdown do not count.
3. wrk (if installed: Debian's `wrk`) on CPU 1 sends the same PUTs for the same time: what a C
   generator gets from the same server, for scale (wrk cannot follow each job, so it sends PUTs only).

The claim holds when the median over rounds of checked/bare is >= 0.90. Exit codes: 0 holds, 1 does
not, 2 could not run. Results in reports/bench/load_efficiency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from server_vs_locust import BenchError, Deadline, login_and_images, pin_to, start_server, stop_process, tail

ROOT = Path(__file__).resolve().parents[1]
BARE = Path(__file__).resolve().with_name("locustfile_bare.py")
WRK_SCRIPT = Path(__file__).resolve().with_name("wrk_put.lua")
DEFAULT_OUT = ROOT / "reports" / "bench" / "load_efficiency.json"
CLAIM = 0.90


def http_rate(json_file: Path) -> tuple[float, int]:
    """(requests per second, requests) of the PUT and GET entries in locust's final JSON stats."""
    try:
        entries = json.loads(json_file.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"locust wrote no usable stats to {json_file}: {exc}") from None
    http = [e for e in entries if e.get("method") in ("PUT", "GET") and e.get("num_requests")]
    if not http:
        raise BenchError(f"no requests in {json_file}")
    requests = sum(int(e["num_requests"]) for e in http)
    start = min(float(e["start_time"]) for e in http)
    end = max(float(e["last_request_timestamp"]) for e in http)
    return requests / max(end - start, 1e-9), requests


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bare(url: str, users: int, duration: int, out: Path, cpu: int, deadline: Deadline) -> tuple[float, int]:
    cmd = [
        sys.executable, "-m", "locust", "-f", str(BARE), "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--host", url, "--stop-timeout", "2",
        "--json-file", str(out / "bare"), "--loglevel", "WARNING",
    ]  # fmt: skip
    with (out / "bare.out").open("wb") as sink:
        proc = subprocess.run(
            cmd, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=pin_to(cpu), timeout=deadline.left("bare run")
        )
    if proc.returncode not in (0, 1):
        raise BenchError(f"bare locust exited {proc.returncode}:\n{tail(out / 'bare.out')}")
    return http_rate(out / "bare.json")


def run_checked(url: str, users: int, duration: int, out: Path, cpu: int, deadline: Deadline) -> tuple[float, int]:
    cmd = [
        sys.executable, "-m", "zscheck", "load", "--target", url, "--scenario", "toggle",
        "--users", str(users), "--duration", f"{duration}s", "--seed", "1", "--report-dir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "ZSCHECK_PASSWORD": "password"}
    with (out.parent / f"{out.name}.out").open("wb") as sink:
        proc = subprocess.run(
            cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, preexec_fn=pin_to(cpu),
            timeout=deadline.left("checked run"),
        )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"zscheck load exited {proc.returncode}:\n{tail(out.parent / f'{out.name}.out')}")
    return http_rate(out / "locust.json")


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
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=6, help="bare/checked pairs (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (1 <= args.users <= 500 and 2 <= args.duration <= 120 and 1 <= args.rounds <= 10):
        print("load_efficiency: --users 1..500, --duration 2..120, --rounds 1..10", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("load_efficiency: needs two CPUs (server on one, generator on the other)", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    deadline = Deadline(time.monotonic() + args.rounds * (2 * args.duration + 40) + args.duration + 60)
    server = None
    rounds: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="zscheck-bench-") as tmp:
            work = Path(tmp)
            server, url = start_server(work, cpus[0], max(args.users, 16), deadline)
            for i in range(args.rounds):
                # Alternate which side goes first: drift in the machine's load then favours neither.
                first, second = ("bare", "checked") if i % 2 == 0 else ("checked", "bare")
                measured: dict[str, tuple[float, int, float]] = {}
                for side in (first, second):
                    cpu0 = children_cpu()
                    if side == "bare":
                        rate, n = run_bare(url, args.users, args.duration, work, cpus[1], deadline)
                    else:
                        rate, n = run_checked(url, args.users, args.duration, work / f"checked-{i}", cpus[1], deadline)
                    # CPU per request of the whole process(es): start-up and the checked run's history check included
                    measured[side] = (rate, n, (children_cpu() - cpu0) / n * 1e6)
                (bare, bare_n, bare_us), (checked, checked_n, checked_us) = measured["bare"], measured["checked"]
                rounds.append(
                    {"bare_rps": bare, "checked_rps": checked, "ratio": checked / bare, "bare_requests": bare_n,
                     "checked_requests": checked_n, "bare_cpu_us": bare_us, "checked_cpu_us": checked_us}
                )  # fmt: skip
                print(
                    f"round {i + 1}: bare {bare:6.0f} req/s, checked {checked:6.0f} req/s, ratio {checked / bare:.3f}; "
                    f"CPU per request bare {bare_us:.0f} us, checked {checked_us:.0f} us"
                )
            wrk = run_wrk(url, args.users, args.duration, cpus[1], deadline)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"load_efficiency: could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_process(server)
    ratio = statistics.median(r["ratio"] for r in rounds)
    bare_median = statistics.median(r["bare_rps"] for r in rounds)
    checked_median = statistics.median(r["checked_rps"] for r in rounds)
    holds = ratio >= CLAIM
    result = {
        "users": args.users,
        "duration": args.duration,
        "rounds": rounds,
        "median_ratio": ratio,
        "wrk_put_rps": wrk,
        "claim": f"checked/bare >= {CLAIM}",
        "holds": holds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"median ratio checked/bare: {ratio:.3f} (claim >= {CLAIM}: {'holds' if holds else 'DOES NOT HOLD'})")
    if wrk is None:
        print("wrk: not installed (Debian: apt-get install wrk); no C-generator figure")
    else:
        print(
            f"wrk, PUTs only, same server: {wrk:.0f} req/s; bare locust {bare_median / wrk:.2f}x of it, "
            f"checked {checked_median / wrk:.2f}x"
        )
    print(f"results in {args.out}")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
