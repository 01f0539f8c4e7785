"""Benchmark: `zscheck capacity --refine` costs at most twice the plain search, and finds the knee the
reference server's `latency-under-load` fault puts where its parameters say.

The fault answers each changeImageState PUT and poll LATENCY_PER_REQUEST (2 ms) late per request in
flight. toggle with no reads after writes sends a PUT and one poll per operation and keeps one request
in flight per user, so with N users an operation's mean latency is 2 x 2 ms x N: a gate `e2e:mean<G`
breaks above floor(G / 4 ms) users, and throughput is flat at 1 / (2 x 2 ms) = 250 operations/s.

Each round runs the plain search and the refined one back to back on the same machine (users from
--start by --step), and reports wall time, the CPU seconds of zscheck and its children (locust, the
embedded server), the knee and the lowest broken load. The claim is the ratio refined / plain of wall
time and of CPU seconds; the knee of each is shown against the prediction.

    python bench/capacity_refine.py                     # 3 rounds, gate e2e:mean<71ms (knee 17 users)
    python bench/capacity_refine.py --rounds 1 --gate-ms 91 --step 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The fault's parameter (LATENCY_PER_REQUEST in zscheck/refserver/faults.py, internal: benchmarks use the
# stable tier only; tests/load/test_capacity.py imports it and would fail if the two parted).
LATENCY_PER_REQUEST = 0.002
REQUESTS_PER_OPERATION = 2


def search(gate_ms: float, start: int, step: int, stop: int, step_duration: float, refine: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable, "-m", "zscheck", "capacity", "--fault", "latency-under-load", "--read-after-write", "0",
            "--slo", f"e2e:mean<{gate_ms:g}ms", "--start", str(start), "--step", str(step), "--stop", str(stop),
            "--step-duration", f"{step_duration:g}s", "--seed", "1", "--report-dir", tmp, "--quiet",
        ] + (["--refine"] if refine else [])  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=os.environ)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        doc = json.loads((Path(tmp) / "capacity.json").read_text())
    if proc.returncode != 0:
        raise SystemExit(f"capacity exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    knee = doc["knee"] or {}
    model = doc["model"]
    fitted = model["peak_throughput"] or model["ceiling"] or {}
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "points": len(doc["points"]),
        "knee": knee.get("users", math.nan),
        "broken": knee.get("broken_users") or math.nan,
        "ceiling": fitted.get("value", math.nan),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gate-ms", type=float, default=71.0)
    parser.add_argument("--start", type=int, default=5)
    parser.add_argument("--step", type=int, default=5)
    parser.add_argument("--stop", type=int, default=40)
    parser.add_argument("--step-duration", type=float, default=3.0)
    a = parser.parse_args()
    predicted = math.floor(a.gate_ms / 1000 / (REQUESTS_PER_OPERATION * LATENCY_PER_REQUEST))
    ceiling = 1 / (REQUESTS_PER_OPERATION * LATENCY_PER_REQUEST)
    print(f"fault: {LATENCY_PER_REQUEST * 1000:g} ms per request in flight; gate e2e:mean<{a.gate_ms:g}ms")
    print(f"predicted: knee {predicted} users (broken at {predicted + 1}), ceiling {ceiling:.0f} ops/s")
    print("round  search   wall s   cpu s  points  knee  broken  ceiling")
    ratios_wall, ratios_cpu = [], []
    for r in range(1, a.rounds + 1):
        rows = {}
        for refine in (False, True):
            m = search(a.gate_ms, a.start, a.step, a.stop, a.step_duration, refine)
            rows[refine] = m
            print(
                f"{r:5d}  {'refine' if refine else 'plain':7} {m['wall']:8.1f} {m['cpu']:7.1f} {m['points']:7.0f} "
                f"{m['knee']:5.0f} {m['broken']:7.0f} {m['ceiling']:8.1f}"
            )
        ratios_wall.append(rows[True]["wall"] / rows[False]["wall"])
        ratios_cpu.append(rows[True]["cpu"] / rows[False]["cpu"])
    print(
        f"refine / plain: wall {statistics.median(ratios_wall):.2f}x (max {max(ratios_wall):.2f}x), "
        f"CPU {statistics.median(ratios_cpu):.2f}x (max {max(ratios_cpu):.2f}x); the claim is <= 2x"
    )


if __name__ == "__main__":
    main()
