"""Benchmark: a shortened soak, the streamed history against the in-memory path it replaced, live and side
by side (issue 14, "Soaks of hours": an 8-hour run at full rate within 500 MB for zscheck's own processes,
and the history check within 60 s per hour of history).

1. Two `zscheck load --scenario toggle --target URL` runs (CPU 1), each against a `zscheck serve` of its
   own (CPU 0) (`--seconds` each, the same users and processes): this checkout (the history streamed to
   per-process files, checked a stretch at a time) and the in-memory path, the harness at
   `--baseline-commit` (unpacked from this checkout's git history, run with PYTHONPATH on its src/): its
   history held in each locust process, written whole into raw-results.json, read back and checked whole.
   Every second the bench reads VmRSS of each process of the load's tree (`zscheck load` and its locust
   processes; not the server) from /proc: the peak of their sum, and its growth over the second half of
   the seconds with every process up (least squares; a Python process's heap warms up for a minute or
   so, then stays flat when nothing grows), which says whether memory grows with the run.
2. The streamed run's history checked both ways, each in a fresh Python process: its CPU seconds, then
   in a second pass under tracemalloc the peak of what the check allocated; the same verdict both ways.
   Streamed: `zscheck.linearizability.check_files` on the files. In-memory: the files turned into the old
   raw-results.json outside the measurement, then that file parsed whole, every Operation built and
   `linearizability.check` run on the whole history. What a locust process held per million operations
   (tracemalloc, the Operations) is printed too.
3. The checker alone on the previous bench's simulated history (50 clients on 64 images: every operation
   overlaps several), whole and streamed: CPU per million operations and the most operations held.
4. Per million operations and extrapolated to eight hours, at the run's own rate and at the issue's
   2,524 operations/s: the peak plus the growth (if any) for eight hours; the check's CPU per hour.

    python bench/soak.py --seconds 150      # 150 s each, 20 users, 2 locust processes
    python bench/soak.py --seconds 30       # quicker (the growth is then the heaps' warm-up)
    python bench/soak.py --seconds 3600 --streamed-only   # an hour of this checkout alone (the in-memory
                                            # path would hold gigabytes): RSS over the hour, growth, check
    python bench/soak.py --seconds 1800 --streamed-only --against c4196ef   # that commit's soak, then
                                            # this checkout's: their memory growth side by side
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

# server_vs_locust (the server and process helpers) is imported where used: the --check processes
# measure their own peak RSS and must not start with its imports.

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
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, "src", "loadtests", "contracts"], capture_output=True
    )
    if archive.returncode:
        sys.exit(
            f"soak: cannot unpack the baseline {commit}: {archive.stderr.decode()[-500:]} (give --baseline-commit)"
        )
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where / "src"


def run_load(
    url: str, seconds: int, users: int, processes: int, out: Path, src: Path | None = None
) -> tuple[list[tuple[float, float, int]], int]:
    cmd = [
        sys.executable, "-m", "zscheck", "load", "--target", url, "--scenario", "toggle", "--quiet",
        "--users", str(users), "--processes", str(processes), "--duration", f"{seconds}s", "--seed", "1",
        "--report-dir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "ZSCHECK_PASSWORD": "password"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    from server_vs_locust import pin_to, stop_process

    samples: list[tuple[float, float, int]] = []  # (seconds since start, MB of the load's tree, its processes)
    with (out.parent / f"{out.name}.out").open("wb") as sink:
        proc = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=pin_to(1 if (os.cpu_count() or 1) > 1 else 0), start_new_session=True,
        )  # fmt: skip
        start = time.monotonic()
        try:
            while proc.poll() is None and time.monotonic() - start < seconds + 300:
                pids = tree(proc.pid)
                samples.append((time.monotonic() - start, sum(rss_mb(pid) for pid in pids), len(pids)))
                time.sleep(1.0)
        finally:
            stop_process(proc)
    return samples, proc.returncode


def checker(mode: str, run: Path) -> None:
    """In a fresh process: check the run's history one way, twice: timed (CPU seconds), then under
    tracemalloc (the peak of what the check allocated); print both as one JSON line."""
    from zscheck import linearizability
    from zscheck.linearizability import Operation, Result

    initial = json.loads((run / "plan.json").read_text())["images"]

    def once() -> Result:
        if mode == "stream":  # what `zscheck load` does now
            return linearizability.check_files(run / "history", initial)[0]
        # what it did before: the whole raw-results.json parsed, every operation built, one check
        data = json.loads((run / "old-raw-results.json").read_text())
        history = [Operation(k, kind, v, i, c, client) for k, kind, v, i, c, client in data["history"]]
        return linearizability.check(history, initial=initial)

    started = time.process_time()
    result = once()
    cpu = time.process_time() - started
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"cpu": cpu, "peak_mb": peak / 1e6, "ok": result.ok, "ops": result.operations}))


def old_results(run: Path) -> float:
    """Write the run's history as the in-memory path wrote it (all of it in raw-results.json); return the
    bytes per operation a locust process held them in (tracemalloc, on up to 200,000 Operations)."""
    from zscheck import linearizability
    from zscheck.linearizability import Operation

    history = list(linearizability.read_files(run / "history"))
    sample = history[:200_000]
    tracemalloc.start()
    copy = [Operation(o.key, o.kind, o.value, o.invoke, o.complete, o.client) for o in sample]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del copy
    rows = [[o.key, o.kind, o.value, o.invoke, o.complete, o.client] for o in history]
    (run / "old-raw-results.json").write_text(json.dumps({"history": rows}))
    return held / len(sample)


def simulated(ops: int) -> tuple[float, float, int, bool]:
    """The checker alone on overlapping histories (the previous bench's: 50 clients on 64 images, every
    operation overlapping several others): CPU s per million operations whole and streamed (fed in send
    order, a watermark every 1,000 operations), the most operations the streamed one held, same verdict."""
    from zscheck import linearizability

    history, initial = linearizability.simulated_history(7, ops, 50, 64)
    started = time.process_time()
    whole = linearizability.check(history, initial=initial)
    whole_cpu = time.process_time() - started
    started = time.process_time()
    checker = linearizability.StreamChecker(initial)
    ordered = sorted(history, key=lambda o: o.invoke)
    for n, op in enumerate(ordered):
        checker.add(op)
        if n % 1000 == 999 and n + 1 < len(ordered):
            checker.advance(ordered[n + 1].invoke)
    streamed = checker.finish()
    stream_cpu = time.process_time() - started
    same = (whole.ok, sorted(v.key for v in whole.violations)) == (
        streamed.ok,
        sorted(v.key for v in streamed.violations),
    )
    return whole_cpu * 1e6 / ops, stream_cpu * 1e6 / ops, checker.peak_held, same and whole.ok


def measure(mode: str, run: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--check", mode, str(run)], capture_output=True, text=True, timeout=3600, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def shape(samples: list[tuple[float, float, int]]) -> tuple[float, float]:
    """The load tree's peak MB, and its growth in MB per hour while it loads: the samples with every
    process of the tree up (zscheck load, locust's master and workers), the first half left out
    (start-up and the heaps' warm-up), fitted by least squares."""
    peak = max(mb for _, mb, _ in samples)
    full = max(n for _, _, n in samples)
    loading = [(t, mb) for t, mb, n in samples if n == full]
    late = loading[len(loading) // 2 :]
    if len(late) < 3:
        return peak, 0.0
    mt, mm = sum(t for t, _ in late) / len(late), sum(mb for _, mb in late) / len(late)
    slope = sum((t - mt) * (mb - mm) for t, mb in late) / sum((t - mt) ** 2 for t, _ in late)
    return peak, slope * 3600


def operations_and_seconds(run: Path, default: float) -> float:
    try:
        return float(json.loads((run / "summary.json").read_text())["result"]["duration"])
    except (OSError, KeyError, TypeError, ValueError):
        return default


def streamed_only(seconds: int, users: int, processes: int, against: str | None) -> None:
    """An hours-long soak of this checkout alone: the load tree's RSS at each tenth of the run, its peak
    and growth, the history on disk and the check's CPU, extrapolated to eight hours. With `against`,
    the same soak of that commit first (unpacked like the in-memory baseline), its memory beside."""
    from server_vs_locust import Deadline, start_server, stop_process

    sides = [("this checkout", None)] if against is None else [(against, against), ("this checkout", None)]
    deadline = Deadline(time.monotonic() + len(sides) * (seconds + 1200))
    shapes: list[tuple[str, float, float, float, list[tuple[float, float, int]]]] = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        for label, commit in sides:
            name = "against" if commit else "run"
            src = baseline(commit, work / "baseline") if commit else None
            (work / name).mkdir()
            server, url = start_server(work / name, 0, users, deadline)
            try:
                samples, code = run_load(url, seconds, users, processes, work / name / "report", src)
            finally:
                stop_process(server)
            if code != 0:
                tail = (work / name / "report.out").read_text()[-2000:]
                sys.exit(f"soak: zscheck load ({label}) exited {code}:\n{tail}")
            took = operations_and_seconds(work / name / "report", seconds)
            ops = json.loads((work / name / "report" / "summary.json").read_text())["result"]["operations"]["all"]
            peak, growth = shape(samples)
            shapes.append((label, float(ops["count"]) / took, peak, growth, samples))
        run = work / "run" / "report"
        history_bytes = sum(p.stat().st_size for p in (run / "history").glob("history-*.jsonl"))
        took = operations_and_seconds(run, seconds)
        stream = measure("stream", run)
    ops = stream["ops"]
    rate, per_m = ops / took, 1e6 / ops
    print(
        f"soak: toggle, {users} users, {processes} locust processes, --duration {seconds}s, load average "
        f"{os.getloadavg()[0]:.2f}: {ops:,} operations ({rate:,.0f}/s), the history "
        f"{'linearizable' if stream['ok'] else 'VIOLATED'}"
    )
    for label, ops_s, peak, growth, samples in shapes:
        tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)] for k in range(1, 11)]
        shown = ", ".join(f"{mb:.0f}" for _, mb, _ in tenths)
        print(f"{label}: zscheck load + locust RSS at each tenth: {shown} MB")
        print(
            f"{label}: {ops_s:,.0f} user-level ops/s, peak {peak:.0f} MB, growth over the second half {growth:+.0f} "
            f"MB/h ({growth / (ops_s * 3.6e-3):+.1f} MB per M user-level operations); {HOURS} h at this rate: "
            f"{peak + max(growth, 0.0) * (HOURS - seconds / 3600):.0f} MB (goal 500 MB)"
        )
    print(
        f"history {history_bytes / 1e6:.0f} MB on disk ({history_bytes * per_m / 1e6:.0f} MB / M ops), check "
        f"{stream['cpu']:.1f} CPU s ({stream['cpu'] * per_m:.1f} / M ops, {stream['cpu'] * 3600 / took:.0f} s per "
        f"hour of history), its peak allocation {stream['peak_mb']:.1f} MB"
    )
    disk8 = history_bytes * 3600 * HOURS / took / 1e9
    print(f"{HOURS} h at this rate: {disk8:.1f} GB of history on disk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--baseline-commit", default=BASELINE, help="the in-memory path to run side by side")
    parser.add_argument("--simulated", type=int, default=200_000, help="operations of the checker-only part")
    parser.add_argument("--streamed-only", action="store_true", help="this checkout alone, no in-memory side")
    parser.add_argument("--against", metavar="COMMIT", help="with --streamed-only: that commit's soak first, beside")
    parser.add_argument("--check", nargs=2, metavar=("MODE", "RUN"), help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.check:
        checker(a.check[0], Path(a.check[1]))
        return
    if a.streamed_only:
        streamed_only(a.seconds, a.users, a.processes, a.against)
        return
    from server_vs_locust import Deadline, start_server, stop_process

    deadline = Deadline(time.monotonic() + 2 * a.seconds + 1200)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        old_src = baseline(a.baseline_commit, work / "baseline")
        results = []
        for name, src in (("run", None), ("old", old_src)):  # a server each: neither sees the other's images
            (work / name).mkdir()
            server, url = start_server(work / name, 0, a.users, deadline)
            try:
                results.append(run_load(url, a.seconds, a.users, a.processes, work / name / "report", src))
            finally:
                stop_process(server)
        (samples, code), (old_samples, old_code) = results
        run, old = work / "run" / "report", work / "old" / "report"
        for name, c in (("run", code), ("old", old_code)):
            if c != 0:
                sys.exit(f"soak: zscheck load ({name}) exited {c}:\n{(work / name / 'report.out').read_text()[-2000:]}")
        history_bytes = sum(p.stat().st_size for p in (run / "history").glob("history-*.jsonl"))
        summary_bytes = (run / "raw-results.json").stat().st_size
        old_ops = len(json.loads((old / "raw-results.json").read_text())["history"])
        old_bytes = (old / "raw-results.json").stat().st_size
        seconds = operations_and_seconds(run, a.seconds)
        old_seconds = operations_and_seconds(old, a.seconds)
        held = old_results(run)
        stream, memory = measure("stream", run), measure("memory", run)
    ops = stream["ops"]
    assert stream["ok"] == memory["ok"] and memory["ops"] == ops, (stream, memory)
    per_m, rate, old_rate = 1e6 / ops, ops / seconds, old_ops / old_seconds
    peak, growth = shape(samples)
    old_peak, old_growth = shape(old_samples)
    # The in-memory path's history costs what its peak is above the streamed one's, and that grows with
    # the operations (every one held in each locust process and in zscheck load): per million, scaled.
    old_per_m = max(old_peak - peak, 0.0) * 1e6 / old_ops
    check_s, old_check_s = stream["cpu"] * per_m, memory["cpu"] * per_m
    print(
        f"soak: toggle, {a.users} users, {a.processes} locust processes, --duration {a.seconds}s each, load average "
        f"{os.getloadavg()[0]:.2f}: streamed {ops:,} operations ({rate:,.0f}/s), in-memory ({a.baseline_commit}) "
        f"{old_ops:,} ({old_rate:,.0f}/s); the streamed history {'linearizable' if stream['ok'] else 'VIOLATED'} "
        "checked both ways"
    )
    rows = [
        ("zscheck load + locust: peak RSS", f"{peak:.0f} MB", f"{old_peak:.0f} MB"),
        ("  growth past start-up", f"{growth:+.0f} MB/h", f"{old_growth:+.0f} MB/h"),
        (
            "  growth per M operations",
            f"{growth / (rate * 3.6e-3):+.0f} MB",
            f"{old_growth / (old_rate * 3.6e-3):+.0f} MB",
        ),
        ("  peak above the streamed one", "-", f"{old_per_m:.0f} MB / M ops"),
        ("history on disk / M ops", f"{history_bytes * per_m / 1e6:.0f} MB", f"{old_bytes / old_ops:.0f} MB"),
        ("raw-results.json", f"{summary_bytes / 1e3:.0f} kB", f"{old_bytes / 1e6:.1f} MB"),
        ("check CPU s / M ops (same history)", f"{check_s:.1f}", f"{old_check_s:.1f}"),
        ("check's peak allocation (same)", f"{stream['peak_mb']:.1f} MB", f"{memory['peak_mb']:.1f} MB"),
        ("  per M ops", f"{stream['peak_mb'] * per_m:.0f} MB", f"{memory['peak_mb'] * per_m:.0f} MB"),
        ("history held per locust process", "0 (on disk)", f"{held:.0f} MB / M ops"),
    ]
    print(f"{'':36}{'streamed':>16}{'in-memory':>16}")
    for name, st, me in rows:
        print(f"{name:36}{st:>16}{me:>16}")
    whole_s, stream_s, held_most, same = simulated(a.simulated)
    print(
        f"the checker alone, {a.simulated:,} simulated operations (50 clients on 64 images, overlapping): whole "
        f"{whole_s:.1f} CPU s / M ops, streamed {stream_s:.1f}, holding at most {held_most:,} operations; "
        f"{'the same verdict (linearizable)' if same else 'VERDICTS DIFFER'}"
    )
    for label, r in ((f"this run's rate, {rate:,.0f}/s", rate), (f"the issue's rate, {RATE:,.0f}/s", RATE)):
        m8 = r * 3600 * HOURS / 1e6
        mem8 = peak + max(growth, 0.0) / rate * r * HOURS
        old8 = peak + old_per_m * m8
        print(
            f"{HOURS} h at {label} ({m8:.0f} M ops): streamed {mem8:.0f} MB, {history_bytes * per_m * m8 / 1e9:.1f} GB "
            f"of history on disk, check {check_s * r * 3.6e-3:.0f} s per hour of history; in-memory "
            f"{old8 / 1000:.1f} GB, check {old_check_s * r * 3.6e-3:.0f} s per hour (goals: 500 MB, 60 s per hour)"
        )


if __name__ == "__main__":
    main()
