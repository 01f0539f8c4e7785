"""`zscheck compare`'s false-positive rate over A/A pairs of real runs, and its power on a 10% regression.

Runs `zscheck load` N times against the correct embedded reference server (same options, one seed each),
then, through `zscheck compare --json` only (the command a user runs):

- A/A: every pair of those runs (all "the same build"): a metric whose verdict is not `~` is a false
  positive. The goal is a rate of at most the stated alpha.
- power: each pair again, the candidate's recorded e2e latencies made 10% slower (every second's p50 and
  p99, and the per-operation numbers, times 1.10, written as a new report directory): the share of pairs
  where compare says `worse`.
- the same two questions across repeated runs (`--last`-style sides of K runs each: random splits of the N
  runs, K against K), where the sample is one value per run.

    python bench/compare_noise.py --runs 10 --duration 6      # about 2 minutes
    python bench/compare_noise.py --runs 4 --duration 3       # a quick look

Results: a table on stdout and reports/bench/compare_noise.json. Exit 0 when the per-second A/A
false-positive rate is at most alpha, 1 when it is not, 2 when the benchmark could not run. Loopback only,
every run bounded (`--duration`, a timeout per command).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OUT = Path("reports/bench/compare_noise.json")


def zscheck(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zscheck", *args], capture_output=True, text=True, timeout=timeout)


def slower(source: Path, target: Path, factor: float) -> Path:
    """A copy of a load run's summary.json with every latency `factor` times longer."""
    data = json.loads((source / "summary.json").read_text())
    data = copy.deepcopy(data)
    result = data["result"]
    for second in result["timeline"]:
        second["p50"] *= factor
        second["p99"] *= factor
    for stats in result["operations"].values():
        for key in ("p50", "p90", "p95", "p99", "p99.9", "max", "mean"):
            stats[key] *= factor
    target.mkdir(parents=True, exist_ok=True)
    (target / "summary.json").write_text(json.dumps(data))
    return target


GATES: dict[str, list[int]] = {}  # "A/A" or "10% slower" -> 1 where `--max-regression 5%` failed the pair


def compare(
    base: str, candidate: str, *, store: str, extra: tuple[str, ...] = (), gate: str | None = None
) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = zscheck(
            "compare", base, candidate, "--store", store, "--json", out.name, "--max-regression", "5%", *extra
        )
        if proc.returncode not in (0, 1):
            raise SystemExit(f"compare could not run: {proc.stderr[-500:]}")
        doc = json.loads(Path(out.name).read_text())
        if gate is not None:
            GATES.setdefault(gate, []).append(proc.returncode == 1)
        metrics: list[dict[str, Any]] = doc["metrics"]
        return metrics


def rate(hits: int, n: int) -> str:
    return f"{hits}/{n} = {hits / n:.3f}" if n else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="real load runs (default 10)")
    parser.add_argument("--duration", type=float, default=6, help="seconds per run (default 6)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--splits", type=int, default=20, help="random K-against-K splits (default 20)")
    args = parser.parse_args()
    if not 2 <= args.runs <= 40 or not 2 <= args.duration <= 60:
        print("--runs 2..40 and --duration 2..60 keep the benchmark bounded", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="zscheck-compare-bench-"))
    store = str(work / "h.sqlite")
    dirs = []
    for i in range(args.runs):
        d = work / f"run{i}"
        proc = zscheck(
            "load", "--duration", f"{args.duration}s", "--users", str(args.users), "--seed", str(i + 1),
            "--report-dir", str(d), "--store", store, timeout=args.duration + 120,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"run {i}: zscheck load exit {proc.returncode}: {proc.stderr[-400:]}", file=sys.stderr)
            return 2
        dirs.append(d)
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    alpha = ("--alpha", str(args.alpha))

    fp: dict[str, list[int]] = {}
    power: dict[str, list[int]] = {}
    for a, b in itertools.combinations(range(args.runs), 2):
        for m in compare(str(dirs[a]), str(dirs[b]), store="off", extra=alpha, gate="A/A, one run a side"):
            if m["verdict"] == "n/a":  # one run a side: shown, not judged
                continue
            fp.setdefault(f"{m['operation']} {m['metric']} ({m['sample']})", []).append(m["verdict"] != "~")
        regressed = slower(dirs[b], work / f"slow{a}-{b}", 1.10)
        for m in compare(str(dirs[a]), str(regressed), store="off", extra=alpha, gate="10% slower, one run a side"):
            if m["metric"] in ("p50", "p99") and m["verdict"] != "n/a":
                power.setdefault(f"{m['operation']} {m['metric']} ({m['sample']})", []).append(m["verdict"] == "worse")

    # Across runs: K against K, one value per run. The runs are imported into a store per split, as two
    # targets, so that `--last K` selects each side.
    k = args.runs // 2
    runs_fp: dict[str, list[int]] = {}
    runs_power: dict[str, list[int]] = {}
    if k >= 4:
        rng = random.Random(0)
        exported = zscheck("runs", "export", "--store", store).stdout.splitlines()
        for split in range(args.splits):
            order = rng.sample(range(args.runs), 2 * k)
            for injected, table in ((1.0, runs_fp), (1.10, runs_power)):
                split_store = str(work / f"split{split}-{injected}.sqlite")
                lines = []
                for side, members in (("http://base", order[:k]), ("http://candidate", order[k:])):
                    for i in members:
                        record = json.loads(exported[i])
                        record["target"], record["id"] = side, f"{record['id']}-{side[7:]}"
                        if side == "http://candidate" and injected != 1.0:
                            summary = record["documents"]["summary.json"]
                            for second in summary["result"]["timeline"]:
                                second["p50"] *= injected
                                second["p99"] *= injected
                            for stats in summary["result"]["operations"].values():
                                for key in ("p50", "p99"):
                                    stats[key] *= injected
                        lines.append(json.dumps(record))
                (work / "split.jsonl").write_text("\n".join(lines) + "\n")
                zscheck("runs", "import", str(work / "split.jsonl"), "--store", split_store)
                gate = f"{'A/A' if injected == 1.0 else '10% slower'}, {k} runs a side"
                metrics = compare(
                    "http://base", "http://candidate", store=split_store, extra=(*alpha, "--last", str(k)), gate=gate
                )
                for m in metrics:
                    if m["sample"] == "runs" and m["verdict"] != "n/a":
                        name = f"{m['operation']} {m['metric']} (runs, {k}v{k})"
                        if injected == 1.0:
                            table.setdefault(name, []).append(m["verdict"] != "~")
                        elif m["metric"] in ("p50", "p99"):
                            table.setdefault(name, []).append(m["verdict"] == "worse")

    medians = [json.loads((d / "summary.json").read_text())["result"]["operations"]["e2e"]["p50"] for d in dirs]
    print(f"\nthe runs' e2e p50: {min(medians) * 1000:.2f} to {max(medians) * 1000:.2f} ms; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print(f"A/A false positives (alpha {args.alpha}), {args.runs} runs of {args.duration:g} s, {args.users} users:")
    for name, hits in {**fp, **runs_fp}.items():
        print(f"  {name:<32} {rate(sum(hits), len(hits))}")
    print("power on an injected 10% latency regression (share of pairs called worse):")
    for name, hits in {**power, **runs_power}.items():
        print(f"  {name:<32} {rate(sum(hits), len(hits))}")
    print("the gate, --max-regression 5% (exit 1: a new finding or a metric worse beyond 5% and the noise floor):")
    for name, hits in GATES.items():
        print(f"  {name:<32} {rate(sum(hits), len(hits))}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "gate_5pct": {n: sum(h) / len(h) for n, h in GATES.items()},
        "runs": args.runs,
        "duration": args.duration,
        "users": args.users,
        "alpha": args.alpha,
        "e2e_p50_range": [min(medians), max(medians)],
        "load_average": [load_before, os.getloadavg()[0]],
        "false_positive_rate": {n: sum(h) / len(h) for n, h in {**fp, **runs_fp}.items()},
        "power_10pct": {n: sum(h) / len(h) for n, h in {**power, **runs_power}.items()},
    }
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results: {OUT}")
    worst = max((sum(h) / len(h) for n, h in fp.items()), default=0.0)
    return 0 if worst <= args.alpha else 1


if __name__ == "__main__":
    sys.exit(main())
