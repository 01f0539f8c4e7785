"""Benchmark: the `toggle` scenario with every check on costs at most about 10% more generator CPU per
request than a bare locust user: checked requests per CPU-second >= 0.90 x the stock user's.

Why this matters: checks, history and histograms cost CPU in the load generator. If they cost much, an
SRE needs more load machines for the same load, and a saturated generator hides the server's limits.

Method. The machine is shared and noisy: run after run, the rate one core gives swings by 30%. So the
two generators are measured side by side, at the same moment, on the same core, and each is charged for
the CPU it actually got:

1. `zscheck serve` (in memory) pinned to CPU 0: the same server for everything.
2. Each round, on CPU 1:
   - checked: `zscheck load --scenario toggle --target URL` (`loadtests/toggle.py`): every answer judged,
     every operation timed into HdrHistograms and written to the history;
   - bare: `locust -f bench/locustfile_bare.py`: a FastHttpUser sending the same PUT + api-job polls
     (byte-identical, built by `zscheck.wire`), with no checks.
   Both have the same users and no wait time, so both are CPU-bound. The bare run starts once the checked
   one is loading, and the checked one outlasts it. Each is started in a session of its own: the kernel
   shares a core between sessions (autogroups) before it shares it between their processes, so a
   generator left in the caller's session splits its share with whatever else the caller runs there
   (a test suite, a CPU hog): that is how a busy machine once gave the bare user 27-32% of the core and
   the checked one 50-57%.
3. The window is the bare run's whole seconds, its first and last left out. Requests (PUT + GET) per
   second come from locust's JSON stats. At each second boundary the bench reads utime+stime (and
   cutime+cstime, for children that exited) of every process of each generator's tree (`zscheck load`
   and its locust; the bare locust and any children), of the server's, and the generators' core's busy
   ticks from /proc/stat. Each side's figure is requests in the window per CPU-second it used in the
   window; the round's ratio is checked/bare of those. Wall-clock rates and CPU shares are reported too.
4. A round is judged only when the comparison is like for like (`efficiency_verdict.judge_round`): the
   two shares within 3 points of each other, the core at least 90% busy (else a generator was waiting),
   at least 2 CPU-seconds each, the server at most 85% of its core (else it may be the limit), and the
   CPU samples on time. Per CPU-second normalisation corrects unequal shares only in part: per-second
   fixed costs are spread over more requests on the side that got more CPU.
5. Each round runs twice, against two baselines:
   - `stock`: a stock FastHttpUser, as the claim is worded;
   - `no-cookies`: the same with locust's cookie jar off. zscheck's users keep no cookies, like ZStack's
     SDK, and a cookie jar costs on every request; this baseline shows the cost of the checks alone.
6. For scale, sequentially and not part of the claim: the bare user alone on CPU 1 (requests/s and per
   CPU-second) and wrk (Debian's `wrk`, PUTs only: it cannot follow jobs) if installed.

The claim holds when the median over the judged stock rounds of the ratio is >= 0.90, and more than half
of the stock rounds could be judged. Exit codes: 0 holds, 1 does not, 2 could not run or could not judge.
Results in reports/bench/load_efficiency.json. Bounded: 127.0.0.1 only, --duration 6..120, --rounds
1..10, every wait within a total deadline; about 3.5 + 0.9 x (rounds - 4) minutes at --duration 12.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from efficiency_verdict import CLAIM, RoundResult, Sample, judge_round, verdict
from server_vs_locust import (
    BenchError,
    Deadline,
    cpu_ticks,
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
BASELINES = {"stock": [], "no-cookies": ["--no-cookies"]}
LEAD = 4.0  # seconds the checked run is given before the bare one starts, and after it ends
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def process_table() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, CPU seconds), from /proc/PID/stat.

    CPU seconds are utime + stime (all its threads) + cutime + cstime (children it has reaped), so a
    child that exits inside a window stays counted: its time moves to its parent's cutime."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            # The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
            fields = stat[stat.rindex(")") + 2 :].split()
            # fields 4 (ppid) and 14-17 (utime stime cutime cstime) of proc(5)
            table[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]) / CLK_TCK)
        except (OSError, ValueError, IndexError):
            continue  # exited while we read
    return table


def tree_cpu(table: dict[int, tuple[int, float]], root: int) -> float | None:
    """CPU seconds of `root` and all its descendants (None if `root` is gone)."""
    if root not in table:
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += table[pid][1]
        stack.extend(children.get(pid, []))
    return total


@dataclass
class Reading:
    at: float  # time.time() when read
    late: float  # seconds after the second boundary it was meant for
    cpu: dict[str, float | None]  # CPU seconds of each named process tree
    core: list[int] | None  # [busy, total] ticks of the generators' core


@dataclass
class CpuSampler:
    """CPU seconds of named process trees and the generators' core's ticks, on every whole second."""

    roots: dict[str, int]
    core: int
    samples: dict[int, Reading] = field(default_factory=dict)

    def sample_until(self, end: float, *procs: subprocess.Popen[bytes]) -> None:
        while time.time() < end and any(p.poll() is None for p in procs):
            target = math.floor(time.time()) + 1
            while (wait := target - time.time()) > 0:
                time.sleep(wait)
            now = time.time()
            table, ticks = process_table(), cpu_ticks().get(str(self.core))
            self.samples[target] = Reading(
                now, now - target, {n: tree_cpu(table, p) for n, p in self.roots.items()}, ticks
            )

    def window(self, first: int, last: int) -> tuple[float, dict[str, float], float, float]:
        """From the start of second `first` to the end of second `last`: wall seconds between the two
        samples, CPU seconds of each tree, the core's busy fraction, and the later sample's delay."""
        a, b = self.samples.get(first), self.samples.get(last + 1)
        if a is None or b is None:
            raise BenchError(f"no CPU sample at {first if a is None else last + 1} (window {first}..{last})")
        cpu = {}
        for name in self.roots:
            start, end = a.cpu.get(name), b.cpu.get(name)
            if start is None or end is None:
                raise BenchError(f"the {name} process was gone at an edge of the window")
            cpu[name] = end - start
        busy = 0.0
        if a.core is not None and b.core is not None:
            busy = (b.core[0] - a.core[0]) / max(1, b.core[1] - a.core[1])
        return b.at - a.at, cpu, busy, max(a.late, b.late)


def start_checked(url: str, users: int, duration: float, out: Path, cpu: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "zscheck", "load", "--target", url, "--scenario", "toggle", "--quiet",
        "--users", str(users), "--duration", f"{duration:.0f}s", "--seed", "1", "--report-dir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "ZSCHECK_PASSWORD": "password"}
    with (out.parent / f"{out.name}.out").open("wb") as sink:
        return subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=pin_to(cpu), start_new_session=True,  # its own autogroup: see the docstring
        )  # fmt: skip


def start_bare(url: str, users: int, duration: float, out: Path, cpu: int, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "locust", "-f", str(BARE), "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{duration:.0f}s", "--host", url, "--stop-timeout", "2",
        "--json-file", str(out.with_suffix("")), "--loglevel", "WARNING", *extra,  # locust adds .json
    ]  # fmt: skip
    with out.with_suffix(".out").open("wb") as sink:
        return subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=pin_to(cpu), start_new_session=True,  # its own autogroup: see the docstring
        )  # fmt: skip


def children_of(pid: int) -> list[int]:
    return [child for child, (parent, _) in process_table().items() if parent == pid]


def wait_for_locust(parent: subprocess.Popen[bytes], out: Path, deadline: Deadline) -> int:
    """The pid of `zscheck load`'s locust, once it is loading (its log says its users are spawned)."""
    while True:
        deadline.left("waiting for the checked run to start loading")
        if parent.poll() is not None:
            raise BenchError(f"zscheck load exited {parent.returncode}:\n{tail(out.parent / f'{out.name}.out')}")
        log = out / "locust.log"
        kids = children_of(parent.pid)
        if kids and log.exists() and "All users spawned" in log.read_text(errors="replace"):
            return kids[0]
        time.sleep(0.1)


def whole_seconds(counts: Counter[int], what: str) -> tuple[int, int]:
    """The run's whole seconds, its first and last (partly idle: start-up, stop) left out."""
    first, last = min(counts) + 1, max(counts) - 1
    if last - first < 2:
        raise BenchError(f"the {what} run lasted under 4 s ({sorted(counts)})")
    return first, last


def side_by_side(
    url: str, users: int, duration: int, work: Path, cpus: list[int], server_pid: int, extra: list[str],
    baseline: str, tag: str, deadline: Deadline,
) -> Sample:  # fmt: skip
    checked_out, bare_out = work / f"checked-{tag}", work / f"bare-{tag}.json"
    checked = start_checked(url, users, duration + 2 * LEAD + 2, checked_out, cpus[1])
    bare = None
    try:
        locust_pid = wait_for_locust(checked, checked_out, deadline)
        time.sleep(1)  # past the spawn
        bare = start_bare(url, users, duration, bare_out, cpus[1], extra)
        # "checked" is the whole tree (zscheck load and its locust); "checked_locust" its locust alone, to
        # show what `zscheck load` itself takes (following the run, progress): informative only.
        roots = {"server": server_pid, "checked": checked.pid, "checked_locust": locust_pid, "bare": bare.pid}
        sampler = CpuSampler(roots, cpus[1])
        sampler.sample_until(time.time() + duration + LEAD, bare)
        bare.wait(timeout=deadline.left("bare run"))
        if bare.returncode not in (0, 1):
            raise BenchError(f"bare locust exited {bare.returncode}:\n{tail(bare_out.with_suffix('.out'))}")
        checked.wait(timeout=deadline.left("checked run"))
        if checked.returncode != 0:
            raise BenchError(f"zscheck load exited {checked.returncode}:\n{tail(work / f'checked-{tag}.out')}")
    finally:
        for proc in (bare, checked):
            stop_process(proc)
    bare_counts, checked_counts = per_second(bare_out), per_second(checked_out / "locust.json")
    first, last = whole_seconds(bare_counts, "bare")
    if not (min(checked_counts) < first and max(checked_counts) > last):
        raise BenchError("the checked run did not cover the bare run's window")
    seconds, cpu, busy, late = sampler.window(first, last)
    window = range(first, last + 1)
    requests = {"checked": sum(checked_counts[t] for t in window), "bare": sum(bare_counts[t] for t in window)}
    return Sample(baseline, seconds, requests, cpu, busy, late)


def alone(url: str, users: int, duration: int, work: Path, cpu: int, deadline: Deadline) -> dict[str, float]:
    """The bare user alone on the core, for scale: requests per second and per CPU-second."""
    out = work / "bare-alone.json"
    proc = start_bare(url, users, duration, out, cpu, [])
    try:
        sampler = CpuSampler({"bare": proc.pid}, cpu)
        sampler.sample_until(time.time() + duration + LEAD, proc)
        proc.wait(timeout=deadline.left("bare run alone"))
    finally:
        stop_process(proc)
    counts = per_second(out)
    first, last = whole_seconds(counts, "bare (alone)")
    seconds, cpu_s, busy, _ = sampler.window(first, last)
    requests = sum(counts[t] for t in range(first, last + 1))
    return {
        "rps": requests / seconds,
        "per_cpu_s": requests / max(cpu_s["bare"], 1e-9),
        "share": cpu_s["bare"] / seconds,
        "core_busy": busy,
    }


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


def describe(i: int, sample: Sample, result: RoundResult) -> str:
    cpu, rate, share = result.per_cpu_s, result.per_s, result.shares
    own = (
        max(0.0, sample.cpu_s["checked"] - sample.cpu_s.get("checked_locust", sample.cpu_s["checked"])) / sample.seconds
    )
    line = (
        f"round {i} vs {result.baseline:10s}: per CPU-s bare {cpu['bare']:5.0f}, checked {cpu['checked']:5.0f}, "
        f"ratio {result.ratio:.3f}; req/s bare {rate['bare']:5.0f}, checked {rate['checked']:5.0f}; CPU share "
        f"bare {share['bare']:.0%}, checked {share['checked']:.0%} (zscheck load itself {own:.1%}), "
        f"server {share['server']:.0%}, core busy {sample.core_busy:.0%}"
    )
    return line + ("" if result.judged else "\n  not judged: " + "; ".join(result.refused))


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
    # This process only samples and waits: on the server's core, it leaves the generators' core to them.
    os.sched_setaffinity(0, {cpus[0]})
    per_run = args.duration + 2 * LEAD + 30
    deadline = Deadline(time.monotonic() + args.rounds * len(BASELINES) * per_run + 2 * args.duration + 120)
    started, loadavg_before = time.monotonic(), os.getloadavg()
    server = None
    samples: list[Sample] = []
    results: list[RoundResult] = []
    try:
        with tempfile.TemporaryDirectory(prefix="zscheck-bench-") as tmp:
            work = Path(tmp)
            server, url = start_server(work, cpus[0], max(args.users, 16), deadline)
            for i in range(args.rounds):
                for baseline, extra in BASELINES.items():
                    tag = f"{i}-{baseline}"
                    sample = side_by_side(
                        url, args.users, args.duration, work, cpus, server.pid, extra, baseline, tag, deadline
                    )
                    samples.append(sample)
                    results.append(judge_round(sample))
                    print(describe(i + 1, sample, results[-1]), flush=True)
            bare_alone = alone(url, args.users, args.duration, work, cpus[1], deadline)
            wrk = run_wrk(url, args.users, args.duration, cpus[1], deadline)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"load_efficiency: could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_process(server)
    outcome = verdict(results)
    result = {
        "claim": f"median checked/bare requests per generator CPU-second (stock FastHttpUser) >= {CLAIM}",
        "holds": outcome.exit_code == 0,
        "exit_code": outcome.exit_code,
        "verdict": outcome.message,
        "median_ratio": outcome.medians,
        "judged_rounds": outcome.judged,
        "users": args.users,
        "duration": args.duration,
        "rounds": [
            {"round": n // len(BASELINES) + 1, **dataclasses.asdict(s), **dataclasses.asdict(r), "judged": r.judged}
            for n, (s, r) in enumerate(zip(samples, results, strict=True))
        ],
        "bare_alone": bare_alone,
        "wrk_put_rps": wrk,
        "environment": {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "elapsed_s": round(time.monotonic() - started, 1),
            "loadavg_before": loadavg_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(outcome.message)
    for baseline, median in outcome.medians.items():
        if baseline != "stock":
            shown = "not judged" if median is None else f"{median:.3f}"
            print(f"median checked/bare per CPU-second vs {baseline} (the checks alone): {shown} "
                  f"over {outcome.judged[baseline]} of {outcome.total[baseline]} rounds")  # fmt: skip
    print(f"alone on the core, for scale: bare locust {bare_alone['rps']:.0f} req/s, "
          f"{bare_alone['per_cpu_s']:.0f} per CPU-s ({bare_alone['share']:.0%} of the core)", end="")  # fmt: skip
    print(f"; wrk (PUTs only) {wrk:.0f} req/s" if wrk else "; wrk not installed (Debian: apt-get install wrk)")
    print(f"results in {args.out} ({time.monotonic() - started:.0f} s)")
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
