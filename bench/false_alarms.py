"""False alarms against a correct server, under both timing profiles, and what the realistic one costs.

A verdict gates releases and pages people, so a correct server must pass every time. This runs `zscheck
contract` and `zscheck load` against the embedded reference server (no fault) for N seeds under the
`instant` profile (jobs finish at once) and the `realistic` one (jobs take tens to hundreds of
milliseconds with a tail, timestamps have one-second resolution, as on a real node), and reports:

- false alarms per command and profile: runs that exit 1 (the goal is 0); runs that exit 2 are listed
  apart (the harness could not run: never counted as a pass);
- wall-clock time per run, and the ratio realistic / instant of the median contract run (the goal is at
  most 2: probes go out concurrently, so slow jobs overlap instead of adding up).

    python bench/false_alarms.py --seeds 20               # from the repository root, zscheck installed
    python bench/false_alarms.py --seeds 3 --max-examples 10 --load-duration 4    # a quick look

Exit 0 when there is no false alarm and no run that could not run, and the time ratio is at most 2;
1 when there is a false alarm or the ratio is above 2; 2 when the benchmark itself could not run.
Everything is loopback (the embedded server on 127.0.0.1) and bounded: each run has a timeout.
Results: a table on stdout and reports/bench/false_alarms.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

PROFILES = ("instant", "realistic")
OUT = Path("reports/bench/false_alarms.json")


@dataclass
class Run:
    command: str
    profile: str
    seed: int
    exit_code: int
    seconds: float
    cpu_seconds: float  # user + system of the run and its children: what the machine's load cannot inflate
    failures_by_check: dict[str, int]
    tail: str  # the last lines printed, for a run that did not pass


def run_one(command: str, profile: str, seed: int, args: argparse.Namespace, tmp: Path) -> Run:
    report_dir = tmp / f"{command}-{profile}-{seed}"
    argv = [sys.executable, "-m", "zscheck", command, "--quiet", "--seed", str(seed), "--timing", profile]
    argv += ["--report-dir", str(report_dir)]
    if command == "contract":
        argv += ["--max-examples", str(args.max_examples)]
    else:
        argv += ["--duration", f"{args.load_duration}s", "--users", str(args.users)]
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        watchdog = threading.Timer(args.run_timeout, proc.kill)  # each run bounded in time
        watchdog.start()
        # wait4, not wait(): the run's CPU time and its children's (pytest, schemathesis' CLI, locust).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        watchdog.cancel()
        cpu = usage.ru_utime + usage.ru_stime
        out.seek(0)
        output = out.read()
    if time.monotonic() - started >= args.run_timeout:
        code, output = 2, f"timed out after {args.run_timeout} s\n{output}"
    seconds = time.monotonic() - started
    summary_path = report_dir / "summary.json"
    by_check: dict[str, int] = {}
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        by_check = summary.get("failures_by_check") or summary.get("violations_by_check") or {}
    tail = "" if code == 0 else "\n".join(output.strip().splitlines()[-12:])
    return Run(command, profile, seed, code, round(seconds, 2), round(cpu, 2), by_check, tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="seeds per command and profile (default: 20)")
    parser.add_argument("--max-examples", type=int, default=25, help="contract: examples per property")
    parser.add_argument("--load-duration", type=int, default=5, help="load: seconds per run")
    parser.add_argument("--users", type=int, default=5, help="load: users per run")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (default: 2, one per core)")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds one run may take")
    parser.add_argument("--commands", default="contract,load", help="which commands (default: contract,load)")
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 200 or not 1 <= args.parallel <= 8:
        parser.error("--seeds must be 1..200 and --parallel 1..8")
    commands = [c for c in args.commands.split(",") if c]
    if set(commands) - {"contract", "load"}:
        parser.error(f"--commands: {args.commands!r}; it takes contract and/or load")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zscheck-false-alarms-") as tmp, ThreadPoolExecutor(args.parallel) as pool:
        jobs = [
            pool.submit(run_one, command, profile, seed, args, Path(tmp))
            for command in commands
            for seed in range(args.seeds)
            for profile in PROFILES
        ]
        runs = [job.result() for job in jobs]
    total = time.monotonic() - started
    rows = []
    for command in commands:
        for profile in PROFILES:
            mine = [r for r in runs if r.command == command and r.profile == profile]
            rows.append(
                {
                    "command": command,
                    "profile": profile,
                    "runs": len(mine),
                    "false_alarms": sum(1 for r in mine if r.exit_code == 1),
                    "could_not_run": sum(1 for r in mine if r.exit_code not in (0, 1)),
                    "median_s": round(statistics.median(r.seconds for r in mine), 2),
                    "median_cpu_s": round(statistics.median(r.cpu_seconds for r in mine), 2),
                    "max_s": max(r.seconds for r in mine),
                }
            )
    ratio = paired = None
    per_seed: list[float] = []
    if "contract" in commands:
        medians = {row["profile"]: row["median_s"] for row in rows if row["command"] == "contract"}
        ratio = round(medians["realistic"] / medians["instant"], 2) if medians["instant"] else None
        # Per seed, the two profiles ran back to back: their ratio is less at the mercy of the machine's load
        # drifting over the whole benchmark than the ratio of the medians.
        pairs = {
            seed: {r.profile: r.seconds for r in runs if r.command == "contract" and r.seed == seed}
            for seed in range(args.seeds)
        }
        per_seed = [p["realistic"] / p["instant"] for p in pairs.values() if p.get("instant")]
        paired = round(statistics.median(per_seed), 2) if per_seed else None
    header = ("command", "profile", "runs", "false alarms", "could not run", "median s", "max s", "median cpu s")
    print(f"{header[0]:9} {header[1]:10} " + " ".join(f"{h:>{len(h) + 1}}" for h in header[2:]))
    for row in rows:
        values = (
            row["runs"],
            row["false_alarms"],
            row["could_not_run"],
            row["median_s"],
            row["max_s"],
            row["median_cpu_s"],
        )
        print(
            f"{row['command']:9} {row['profile']:10} "
            + " ".join(f"{v!s:>{len(h) + 1}}" for v, h in zip(values, header[2:], strict=True))
        )
    if ratio is not None:
        print(f"contract time, realistic / instant (median run): {ratio}x (goal: at most 2x)")
        print(f"per seed, back to back: {', '.join(f'{r:.2f}x' for r in per_seed)}; median {paired}x")
    print(f"total {total:.0f} s for {len(runs)} runs, {args.parallel} at a time")
    for run in runs:
        if run.exit_code != 0:
            print(f"\n{run.command} {run.profile} seed {run.seed}: exit {run.exit_code} {run.failures_by_check}")
            print(run.tail)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {"args": vars(args), "rows": rows, "ratio": ratio, "paired_ratio": paired}
            | {"runs": [asdict(r) for r in runs]},
            indent=2,
        )
    )
    print(f"\nresults in {OUT}")
    if any(r.exit_code not in (0, 1) for r in runs) and not any(r.exit_code == 1 for r in runs):
        return 2
    return 0 if all(r.exit_code == 0 for r in runs) and (ratio is None or ratio <= 2.0) else 1


if __name__ == "__main__":
    sys.exit(main())
