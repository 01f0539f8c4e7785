"""Benchmark: the CPU a `zscheck contract` run costs, this checkout against another commit, side by side.

Each round runs the same seeded contract run of the embedded reference server once per side, the order
alternating (so neither side always runs first), and reads each process's own CPU (user + system, from
`os.wait4`): the two sides share this machine, so CPU seconds compare them, not wall-clock time. The
commit is unpacked from this checkout's git history (src, contracts, loadtests) and run with PYTHONPATH
on its src/, as bench/soak.py does. Both sides must reach the same verdict, or the bench stops.

    python bench/contract_cpu.py --against 1c6a4e0                 # a faulty run (disable-noop), 5 rounds
    python bench/contract_cpu.py --against 1c6a4e0 --fault none    # the correct server

Bounded: every run has a 300 s timeout, and the rounds are counted (--rounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def contract(src: Path, out: Path, fault: str | None, seed: int, examples: int) -> tuple[int, float, float]:
    """One run: its exit code, CPU seconds (user + system) and wall seconds."""
    argv = [sys.executable, "-m", "zscheck", "contract", "--quiet", "--report-dir", str(out), "--seed", str(seed),
            "--max-examples", str(examples), "--no-schemathesis-report", "--no-shrink", "--store", "off"]  # fmt: skip
    if fault:
        argv += ["--fault", fault]
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = started + 300
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"contract_cpu: a run took over 300 s ({src})")
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, time.monotonic() - started


def main() -> None:
    from soak import baseline  # the same unpacking of a commit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="COMMIT", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="runs per side (default 5)")
    parser.add_argument("--fault", default="disable-noop", help="the embedded server's fault, or none")
    parser.add_argument("--max-examples", type=int, default=15)
    args = parser.parse_args()
    fault = None if args.fault == "none" else args.fault
    cpu: dict[str, list[float]] = {args.against: [], "this checkout": []}
    wall: dict[str, list[float]] = {args.against: [], "this checkout": []}
    with tempfile.TemporaryDirectory(prefix="contract-cpu-") as tmp:
        work = Path(tmp)
        sides = {args.against: baseline(args.against, work / "against"), "this checkout": REPO / "src"}
        for k in range(args.rounds):
            order = list(sides) if k % 2 == 0 else list(sides)[::-1]
            codes = {}
            for label in order:
                code, seconds, took = contract(sides[label], work / f"r{k}-{len(codes)}", fault, k, args.max_examples)
                codes[label] = code
                cpu[label].append(seconds)
                wall[label].append(took)
            if len(set(codes.values())) != 1 or set(codes.values()) - {0, 1}:
                sys.exit(f"contract_cpu: round {k}: the sides disagree or could not run: {codes}")
    print(
        f"contract_cpu: zscheck contract --fault {args.fault} --max-examples {args.max_examples}, {args.rounds} "
        f"rounds a side, load average {os.getloadavg()[0]:.2f}"
    )
    for label in cpu:
        print(
            f"  {label:>14}: CPU {statistics.median(cpu[label]):.2f} s a run (median; "
            f"{min(cpu[label]):.2f} to {max(cpu[label]):.2f}), wall {statistics.median(wall[label]):.2f} s"
        )
    ratio = statistics.median(cpu["this checkout"]) / statistics.median(cpu[args.against])
    print(f"  this checkout / {args.against}: {ratio:.2f} of the CPU a run")


if __name__ == "__main__":
    main()
