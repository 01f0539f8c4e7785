"""Benchmark: a shortened soak, the streamed history against the in-memory path it replaced, live and side
by side (issue 14, "Soaks of hours": an 8-hour run at full rate within 500 MB for zscheck's own processes,
and the history check within 60 s per hour of history).

1. `zscheck serve` (in memory, CPU 0), then two `zscheck load --scenario toggle --target URL` runs against
   it (CPU 1, `--seconds` each, the same users and processes): this checkout (the history streamed to
   per-process files, checked a stretch at a time) and the in-memory path, the harness at
   `--baseline-commit` (unpacked from this checkout's git history, run with PYTHONPATH on its src/): its
   history held in each locust process, written whole into raw-results.json, read back and checked whole.
   Every second the bench reads VmRSS of each process of the load's tree (`zscheck load` and its locust
   processes; not the server) from /proc: the peak of their sum, and that sum at the middle and at the
   end of the run (past start-up), which says whether memory grows with the run.
2. The streamed run's history checked both ways, each in a fresh Python process that reports its CPU
   seconds and its peak RSS (getrusage), with the same verdict: `zscheck.load.oplog.check` on the files;
   and the files turned into the old raw-results.json outside the measurement, then `RunResults.read` +
   `linearizability.check` on the whole history, measured. The Operation objects a locust process held
   per million (tracemalloc) are printed too.
3. Per million operations and extrapolated to eight hours, at the run's own rate and at the issue's
   2,524 operations/s. What still grows with the run by design (the per-second timeline kept for the
   report and its plots) is measured on its own: a Metrics with an hour of seconds (tracemalloc).

    python bench/soak.py                    # 60 s each, 20 users, 2 locust processes
    python bench/soak.py --seconds 20       # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from server_vs_locust import Deadline, pin_to, start_server, stop_process

RATE = 2524.0  # operations/s, measured on the embedded server (issue 14)
BASELINE = "7243085"  # the last commit whose history was kept in memory
HOURS = 8


def tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def baseline(commit: str, where: Path) -> Path:
    """The in-memory path, live: the harness as it was at `commit` (before the history was streamed),
    unpacked from this checkout's git history; run with PYTHONPATH pointing at its src/."""
    repo = Path(__file__).resolve().parents[1]
    where.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit, "src", "loadtests"], capture_output=True)
    if archive.returncode:
        sys.exit(
            f"soak: cannot unpack the baseline {commit}: {archive.stderr.decode()[-500:]} (give --baseline-commit)"
        )
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where / "src"


def run_load(
    url: str, seconds: int, users: int, processes: int, out: Path, src: Path | None = None
) -> tuple[list[tuple[float, float]], int]:
    cmd = [
        sys.executable, "-m", "zscheck", "load", "--target", url, "--scenario", "toggle", "--quiet",
        "--users", str(users), "--processes", str(processes), "--duration", f"{seconds}s", "--seed", "1",
        "--report-dir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "ZSCHECK_PASSWORD": "password"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    samples: list[tuple[float, float]] = []  # (seconds since start, MB of the load's tree)
    with (out.parent / f"{out.name}.out").open("wb") as sink:
        proc = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=pin_to(1 if (os.cpu_count() or 1) > 1 else 0), start_new_session=True,
        )  # fmt: skip
        start = time.monotonic()
        try:
            while proc.poll() is None and time.monotonic() - start < seconds + 300:
                samples.append((time.monotonic() - start, sum(rss_mb(pid) for pid in tree(proc.pid))))
                time.sleep(1.0)
        finally:
            stop_process(proc)
    return samples, proc.returncode


def checker(mode: str, run: Path) -> None:
    """In a fresh process: check the run's history one way; print what it cost as one JSON line."""
    from zscheck import linearizability
    from zscheck.load import oplog
    from zscheck.load.recorder import RunResults

    initial = json.loads((run / "plan.json").read_text())["images"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.process_time()
    if mode == "stream":
        result, _ = oplog.check(run / "history", initial)
        held = None
    else:
        results = RunResults.read(run / "old-raw-results.json")
        result = linearizability.check(results.recorder.history, initial=initial)
        held = len(results.recorder.history)
    cpu = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu": cpu, "peak_mb": peak, "start_mb": before, "ok": result.ok,
                      "operations": result.operations, "held": held}))  # fmt: skip


def old_results(run: Path) -> float:
    """Write the run's history as the in-memory path wrote it (one raw-results.json); return the
    Operations' MB per million as a locust process held them (tracemalloc, on up to 200,000 of them)."""
    from zscheck.load import oplog
    from zscheck.load.recorder import Recorder, RunResults

    recorder = Recorder(history_limit=10**9)
    for op in oplog.read(run / "history"):
        recorder.operation(op)
    sample = recorder.history[:200_000]
    tracemalloc.start()
    copy = [type(o)(o.key, o.kind, o.value, o.invoke, o.complete, o.client) for o in sample]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del copy
    RunResults.write(run / "old-raw-results.json", recorder, 0.0, 1.0)
    return held / len(sample)  # bytes per operation: MB per million


def timeline_mb_per_hour() -> float:
    """What the per-second timeline costs for an hour of run (it is kept for the report's plots)."""
    from zscheck.metrics import Metrics

    tracemalloc.start()
    metrics = Metrics()
    for t in range(3600):
        second = metrics.timeline[t]
        second.count, second.failures = 2500, 0
        second.buckets.update({1 << b: 100 for b in range(10, 22)})  # a dozen latency buckets a second
    mb, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return mb / 1e6


def measure(mode: str, run: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--check", mode, str(run)], capture_output=True, text=True, timeout=3600, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def shape(samples: list[tuple[float, float]], seconds: int) -> tuple[float, float, float]:
    """Peak, middle and end of the load tree's MB, past the first 30% (start-up)."""
    loaded = [mb for t, mb in samples if t >= seconds * 0.3] or [0.0]
    return max(mb for _, mb in samples), loaded[len(loaded) // 2], loaded[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--baseline-commit", default=BASELINE, help="the in-memory path to run side by side")
    parser.add_argument("--check", nargs=2, metavar=("MODE", "RUN"), help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.check:
        checker(a.check[0], Path(a.check[1]))
        return
    deadline = Deadline(time.monotonic() + 2 * a.seconds + 1200)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        old_src = baseline(a.baseline_commit, work / "baseline")
        server, url = start_server(work, 0, a.users, deadline)
        try:
            samples, code = run_load(url, a.seconds, a.users, a.processes, work / "run")
            old_samples, old_code = run_load(url, a.seconds, a.users, a.processes, work / "old", old_src)
        finally:
            stop_process(server)
        run = work / "run"
        for name, c in (("run", code), ("old", old_code)):
            if c != 0:
                sys.exit(f"soak: zscheck load ({name}) exited {c}:\n{(work / f'{name}.out').read_text()[-2000:]}")
        history_bytes = sum(p.stat().st_size for p in (run / "history").glob("history-*.jsonl"))
        old_raw = json.loads((work / "old" / "raw-results.json").read_text())
        old_ops, old_bytes = len(old_raw["history"]), (work / "old" / "raw-results.json").stat().st_size
        del old_raw
        held_mb_per_m = old_results(run)
        stream, memory = measure("stream", run), measure("memory", run)
    ops = stream["operations"]
    assert stream["ok"] == memory["ok"] and memory["operations"] == ops, (stream, memory)
    per_m, rate = 1e6 / ops, ops / a.seconds
    peak, mid, end = shape(samples, a.seconds)
    old_peak, old_mid, old_end = shape(old_samples, a.seconds)
    line = timeline_mb_per_hour()
    print(
        f"soak: {a.seconds} s toggle, {a.users} users, {a.processes} locust processes, load average "
        f"{os.getloadavg()[0]:.2f}; streamed {ops:,} operations ({rate:,.0f}/s), "
        f"{'linearizable' if stream['ok'] else 'VIOLATED'} both ways; in-memory ({a.baseline_commit[:7]}) "
        f"{old_ops:,} operations"
    )
    print(f"{'':34}{'streamed':>14}{'in-memory':>14}")
    rows = [
        ("load + locust RSS: peak", f"{peak:.0f} MB", f"{old_peak:.0f} MB"),
        ("  mid-run -> end", f"{mid:.0f} -> {end:.0f} MB", f"{old_mid:.0f} -> {old_end:.0f} MB"),
        ("history bytes / M ops", f"{history_bytes * per_m / 1e6:.0f} MB", f"{old_bytes / old_ops:.0f} MB"),
        ("check CPU s / M ops (same history)", f"{stream['cpu'] * per_m:.1f}", f"{memory['cpu'] * per_m:.1f}"),
        ("checker peak RSS (same history)", f"{stream['peak_mb']:.0f} MB", f"{memory['peak_mb']:.0f} MB"),
        ("  of which python + imports", f"{stream['start_mb']:.0f} MB", f"{memory['start_mb']:.0f} MB"),
        ("history held per locust process", "~0 (on disk)", f"{held_mb_per_m:.0f} MB / M ops"),
    ]
    for name, st, me in rows:
        print(f"{name:34}{st:>14}{me:>14}")
    for label, r in ((f"this run's rate ({rate:,.0f}/s)", rate), (f"the issue's rate ({RATE:,.0f}/s)", RATE)):
        m8 = r * 3600 * HOURS / 1e6
        grown = (memory["peak_mb"] - memory["start_mb"]) * per_m * m8 + held_mb_per_m * m8
        print(
            f"{HOURS} h at {label}, {m8:.0f} M ops: streamed {peak + HOURS * line * 2:.0f} MB (the run's peak + "
            f"the per-second timeline, {line:.1f} MB/h, in the master and in zscheck load), history "
            f"{history_bytes * per_m * m8 / 1e9:.1f} GB on disk, check {stream['cpu'] * per_m * r * 3.6e-3:.0f} s "
            f"per hour of history; in-memory {old_peak / 1000 + grown / 1000:.1f} GB, check "
            f"{memory['cpu'] * per_m * r * 3.6e-3:.0f} s per hour (goals: 500 MB, 60 s per hour)"
        )


if __name__ == "__main__":
    main()
