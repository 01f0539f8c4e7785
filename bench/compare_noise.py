"""`zscheck compare`'s false-positive rate over A/A pairs of real runs, and its power on a 10% regression.

Runs `zscheck load` N times against the correct embedded reference server (same options, one seed each):
N runs of one build. The server times its jobs like a real node (`--timing realistic`, the default), as a
release candidate does: a closed loop against the instant server measures the load generator (its
self-check says so, the run exits 2, and so does this benchmark), not the target. Then, through `zscheck
compare --json` only (the command a user runs), on stores made of those runs with `zscheck runs import`:

- one run a side, judged against stored A/A noise: every pair (i, j) of the runs, base i and candidate j,
  the other N-2 runs stored as A/A pairs of the base's target (labelled as `zscheck noise` labels them).
  A metric whose verdict is not `~` is a false positive; the goal is a rate of at most alpha.
- one run a side with no A/A runs stored: every verdict must be `~` (with the reason).
- K against K (`--last K` sides: random splits of the N runs), the permutation test over runs.
- power: each of those again, the candidate's recorded latencies made 10% slower (every second's p50 and
  p99, and the per-operation numbers, times 1.10): the share called `worse`.
- the gate, `--max-regression 5%` (exit 1), for each.

    python bench/compare_noise.py --runs 10 --duration 6      # about 10 minutes on a shared 2-core machine
    python bench/compare_noise.py --runs 6 --duration 3       # a quick look (no K-against-K: K < 4)
    python bench/compare_noise.py --timing instant --rate 200 # the instant server, an open model
    python bench/compare_noise.py --runs 42 --duration 4 --max-pairs 100   # 20 A/A pairs stored: the
                                                              # one-run-a-side test ranks among them
    python bench/compare_noise.py --runs-from /tmp/zscheck-compare-bench-XXXX/h.sqlite --max-pairs 100 \
        --pairing shuffled     # the same runs, the A/A pairs made of runs as far apart as the compared ones

Results: a table on stdout and reports/bench/compare_noise.json. Exit 0 when every A/A false-positive
rate (the worst metric's) is at most alpha, 1 when one is not, 2 when the benchmark could not run.
Loopback only, every run bounded (`--duration`, a timeout per command).
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUT = Path("reports/bench/compare_noise.json")


def zscheck(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zscheck", *args], capture_output=True, text=True, timeout=timeout)


def scaled(record: dict[str, Any], factor: float) -> dict[str, Any]:
    """A stored run's record with every latency of its load result `factor` times longer."""
    record = copy.deepcopy(record)
    result = record["documents"]["summary.json"]["result"]
    for second in result["timeline"]:
        second["p50"] *= factor
        second["p99"] *= factor
    for stats in result["operations"].values():
        for key in ("p50", "p90", "p95", "p99", "p99.9", "max", "mean"):
            stats[key] *= factor
    return record


def as_run(record: dict[str, Any], target: str, suffix: str, labels: dict[str, str] | None = None) -> str:
    out = copy.deepcopy(record)
    out["target"], out["id"], out["labels"] = target, f"{record['id']}-{suffix}", labels or {}
    return json.dumps(out)


GATES: dict[str, list[int]] = {}  # what -> 1 where `--max-regression 5%` failed the comparison


def compare(store: str, *args: str, gate: str) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = zscheck("compare", *args, "--store", store, "--json", out.name, "--max-regression", "5%")
        if proc.returncode not in (0, 1):
            raise SystemExit(f"compare could not run: {proc.stderr[-500:]}")
        doc = json.loads(Path(out.name).read_text())
        GATES.setdefault(gate, []).append(proc.returncode == 1)
        metrics: list[dict[str, Any]] = doc["metrics"]
        return metrics


def store_of(work: Path, name: str, lines: list[str]) -> str:
    path = work / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    store = str(work / f"{name}.sqlite")
    proc = zscheck("runs", "import", str(path), "--store", store)
    if proc.returncode != 0:
        raise SystemExit(f"runs import failed: {proc.stderr[-500:]}")
    return store


def tally(table: dict[str, list[int]], metrics: list[dict[str, Any]], *, power: bool, label: str) -> None:
    for m in metrics:
        if power and m["metric"] not in ("p50", "p99"):
            continue
        hit = m["verdict"] == "worse" if power else m["verdict"] != "~"
        table.setdefault(f"{m['operation']} {m['metric']} ({label})", []).append(hit)


def rate(hits: Sequence[int], n: int | None = None) -> str:
    n = len(hits) if n is None else n
    return f"{sum(hits)}/{n} = {sum(hits) / n:.3f}" if n else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="real load runs (default 10)")
    parser.add_argument("--duration", type=float, default=6, help="seconds per run (default 6)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--timing", choices=("realistic", "instant"), default="realistic", help="the server's jobs")
    parser.add_argument("--rate", type=float, default=None, help="runs in --rate mode (an open model)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--splits", type=int, default=20, help="random K-against-K splits (default 20)")
    parser.add_argument("--max-pairs", type=int, default=None, help="one-run-a-side pairs to compare (default all)")
    parser.add_argument(
        "--pairing", choices=("adjacent", "shuffled"), default="adjacent",
        help="how the other runs make A/A pairs: adjacent in time, as `zscheck noise` records them back to back "
        "(default), or shuffled (seeded), so that a pair spans what the compared runs span",
    )  # fmt: skip
    parser.add_argument("--runs-from", metavar="STORE", help="the runs of an earlier bench (its h.sqlite): no new runs")
    args = parser.parse_args()
    if not 6 <= args.runs <= 44 or not 2 <= args.duration <= 60:
        print("--runs 6..44 and --duration 2..60 keep the benchmark bounded (and leave 2 A/A pairs)", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="zscheck-compare-bench-"))
    store = args.runs_from or str(work / "h.sqlite")
    for i in range(0 if args.runs_from else args.runs):
        proc = zscheck(
            "load", "--duration", f"{args.duration}s", "--users", str(args.users), "--seed", str(i + 1),
            "--timing", args.timing, *(["--rate", f"{args.rate:g}"] if args.rate else []),
            "--report-dir", str(work / f"run{i}"), "--store", store, timeout=args.duration + 120,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"run {i}: zscheck load exit {proc.returncode}: {proc.stderr[-400:]}", file=sys.stderr)
            return 2
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    records = [json.loads(line) for line in zscheck("runs", "export", "--store", store).stdout.splitlines()]
    if args.runs_from:
        records.sort(key=lambda r: r["id"])  # ids start with their time: the order they ran in
        args.runs = len(records)
    alpha = ("--alpha", str(args.alpha))
    fp: dict[str, list[int]] = {}
    power: dict[str, list[int]] = {}
    untested: list[int] = []  # one run a side without A/A runs: 1 where a metric was judged anyway

    # One run a side: base i, candidate j, the other runs stored as A/A pairs of the base's target.
    every = list(itertools.combinations(range(args.runs), 2))
    if args.max_pairs is not None and args.max_pairs < len(every):  # a seeded sample: every run a base alike
        every = sorted(random.Random(1).sample(every, args.max_pairs))
    for n, (i, j) in enumerate(every):
        rest = [k for k in range(args.runs) if k not in (i, j)]
        if args.pairing == "shuffled":
            random.Random(n).shuffle(rest)
        pairs = [
            as_run(records[k], "http://base", f"aa{p}{side}", {"aa-pair": f"bench-{p}", "aa-side": side})
            for p in range(len(rest) // 2)
            for k, side in ((rest[2 * p], "a"), (rest[2 * p + 1], "b"))
        ]
        base_id = f"{records[i]['id']}-base"
        lines = [as_run(records[i], "http://base", "base"), as_run(records[i], "http://bare", "bare"), *pairs]
        lines += [as_run(scaled(records[j], f), "http://candidate", f"cand{f}") for f in (1.0, 1.10)]
        s = store_of(work, f"one{n}", lines)  # one store per pair: an import costs as much as a compare
        for factor, table, what in ((1.0, fp, "A/A"), (1.10, power, "10% slower")):
            cand_id = f"{records[j]['id']}-cand{factor}"
            metrics = compare(s, base_id, cand_id, *alpha, gate=f"{what}, one run a side, A/A noise stored")
            tally(table, metrics, power=factor != 1.0, label="1v1, A/A noise")
        if n < 10:  # the base's twin under a target with no A/A runs stored: nothing may be judged
            bare = f"{records[i]['id']}-bare"
            metrics = compare(s, bare, f"{records[j]['id']}-cand1.0", *alpha, gate="A/A, one run a side, no A/A noise")
            untested.append(any(m["verdict"] != "~" or m["test"] != "none" for m in metrics))
        print(f"pair {n + 1}/{len(every)} compared", file=sys.stderr)

    # K against K: random splits of the N runs into two targets, --last K each (the permutation test).
    k = args.runs // 2
    if k >= 4:
        rng = random.Random(0)
        for split in range(args.splits):
            order = rng.sample(range(args.runs), 2 * k)
            for factor, table, what in ((1.0, fp, "A/A"), (1.10, power, "10% slower")):
                lines = [as_run(records[i], "http://base", "b") for i in order[:k]]
                lines += [as_run(scaled(records[i], factor), "http://candidate", "c") for i in order[k:]]
                s = store_of(work, f"split{split}-{factor}", lines)
                metrics = compare(
                    s, "http://base", "http://candidate", "--last", str(k), *alpha, gate=f"{what}, {k} runs a side"
                )
                tally(table, metrics, power=factor != 1.0, label=f"{k}v{k}, permutation")

    medians = [r["documents"]["summary.json"]["result"]["operations"]["e2e"]["p50"] for r in records]
    print(f"\nthe runs' e2e p50: {min(medians) * 1000:.2f} to {max(medians) * 1000:.2f} ms; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    runs = f"the {args.runs} runs of {args.runs_from}" if args.runs_from else f"{args.runs} runs of {args.duration:g} s"
    print(f"A/A false positives (alpha {args.alpha}), {runs}, {args.users} users, A/A pairs {args.pairing}:")
    for name, hits in fp.items():
        print(f"  {name:<40} {rate(hits)}")
    print(f"  one run a side, no A/A runs stored: a metric judged in {rate(untested)} comparisons")
    print("power on an injected 10% latency regression (share called worse):")
    for name, hits in power.items():
        print(f"  {name:<40} {rate(hits)}")
    print("the gate, --max-regression 5% (exit 1: a metric significantly worse by more than 5%):")
    for name, hits in GATES.items():
        print(f"  {name:<48} {rate(hits)}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "runs": args.runs,
        "timing": args.timing,
        "rate": args.rate,
        "duration": args.duration,
        "users": args.users,
        "alpha": args.alpha,
        "e2e_p50_range": [min(medians), max(medians)],
        "load_average": [load_before, os.getloadavg()[0]],
        "false_positive_rate": {n: sum(h) / len(h) for n, h in fp.items()},
        "judged_without_noise": sum(untested),
        "power_10pct": {n: sum(h) / len(h) for n, h in power.items()},
        "gate_5pct": {n: sum(h) / len(h) for n, h in GATES.items()},
    }
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results: {OUT}")
    worst = max((sum(h) / len(h) for h in fp.values()), default=0.0)
    return 0 if worst <= args.alpha and not any(untested) else 1


if __name__ == "__main__":
    sys.exit(main())
