"""`zscheck trend`'s detection of a seeded step in a synthetic 60-night series with this machine's noise.

1. Runs `zscheck load` a few times against the correct embedded reference server and measures this
   machine's run-to-run spread of the e2e p50 (the coefficient of variation of the runs' medians). The
   server times its jobs like a real node (`--timing realistic`, the default here), as a nightly target
   does: a closed loop against the instant server saturates the load generator (its self-check says so),
   and such a run measures the generator, so trend leaves it out of the latency series and so does this
   calibration (exit 2 when a calibration run was generator-bound).
2. For each seed and step size (0: no step, the false-alarm case; 10% and 20% slower from night 45 on)
   writes 60 nights as run records (one real run's record, its latencies scaled by that night's lognormal
   noise of the measured spread, times the step from night 45), imports them with `zscheck runs import`,
   and runs `zscheck trend --json` on them (the command a nightly job runs).
   Each night also has a canary run (the embedded server on the same host): the host's share of the
   noise is the same for both, their own share is the spread measured between back-to-back runs.
3. Counts, for e2e p50 and for e2e p50 / canary: a step found when the series has a worse change point
   within 2 nights of night 45; a false alarm when a series without a step has any change point. Reports
   the found magnitude against the seeded one.

    python bench/trend_step.py --seeds 20          # about 3 minutes
    python bench/trend_step.py --seeds 3 --calibration-runs 3     # a quick look
    python bench/trend_step.py --timing instant --rate 200        # the instant server, an open model

Results: a table on stdout and reports/bench/trend_step.json. Exit 0 when the 20% step is found in at
least 90% of the series (by either) and the false-alarm rate is at most 10% (by both), 1 otherwise, 2 when
it could not run.
Loopback only; every run bounded.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OUT = Path("reports/bench/trend_step.json")
NIGHTS, STEP_AT, DAY = 60, 45, 86400.0


def zscheck(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zscheck", *args], capture_output=True, text=True, timeout=timeout)


def scaled(template: dict[str, Any], night: int, factor: float, seed: int) -> dict[str, Any]:
    record = json.loads(json.dumps(template))
    record["id"] = f"bench-{seed}-{night:02d}"
    record["target"] = "http://bench"
    record["started"] = 1.8e9 + night * DAY
    summary = record["documents"]["summary.json"]
    summary["started"] = record["started"]
    for second in summary["result"]["timeline"]:
        second["p50"] *= factor
        second["p99"] *= factor
    for stats in summary["result"]["operations"].values():
        for key in ("p50", "p90", "p95", "p99", "p99.9", "max", "mean"):
            stats[key] *= factor
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="series per step size (default 20)")
    parser.add_argument("--calibration-runs", type=int, default=6, help="real runs measuring the noise")
    parser.add_argument("--duration", type=float, default=4, help="seconds per calibration run (default 4)")
    parser.add_argument("--cv", type=float, default=None, help="use this noise instead of the measured one")
    parser.add_argument("--timing", choices=("realistic", "instant"), default="realistic", help="the server's jobs")
    parser.add_argument("--rate", type=float, default=None, help="calibrate in --rate mode (an open model)")
    args = parser.parse_args()
    if not 1 <= args.seeds <= 200 or not 3 <= args.calibration_runs <= 30:
        print("--seeds 1..200 and --calibration-runs 3..30 keep the benchmark bounded", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="zscheck-trend-bench-"))
    store = str(work / "calibration.sqlite")
    for i in range(args.calibration_runs):
        proc = zscheck(
            "load", "--duration", f"{args.duration}s", "--users", "8", "--seed", str(i + 1),
            "--timing", args.timing, *(["--rate", f"{args.rate:g}"] if args.rate else []),
            "--report-dir", str(work / f"run{i}"), "--store", store, timeout=args.duration + 120,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"calibration run {i}: exit {proc.returncode}: {proc.stderr[-400:]}", file=sys.stderr)
            return 2
    records = [json.loads(line) for line in zscheck("runs", "export", "--store", store).stdout.splitlines()]
    for record in records:
        checks = record["documents"]["summary.json"]["result"]["self_checks"]
        bound = [c["text"] for c in checks if c["check"] == "generator_cpu" and not c["ok"]]
        if bound:
            print(f"calibration run {record['id']} measured its load generator: {bound[0]}", file=sys.stderr)
            return 2
    p50s = [r["documents"]["summary.json"]["result"]["operations"]["e2e"]["p50"] for r in records]
    cv = statistics.stdev(p50s) / statistics.mean(p50s)
    print(f"this machine: e2e p50 over {len(p50s)} runs {[round(v * 1000, 3) for v in p50s]} ms, cv {cv:.3f}")
    if args.cv is not None:
        cv = args.cv
        print(f"the series use cv {cv:.3f} (--cv) instead")
    sigma = math.sqrt(math.log(1 + cv * cv))

    # What a canary run right next to the target's does not share: the spread of back-to-back pairs'
    # ratio (runs 0 and 1, 2 and 3, ...), per run.
    ratios = [math.log(p50s[i + 1] / p50s[i]) for i in range(0, len(p50s) - 1, 2)]
    own = statistics.stdev(ratios) / math.sqrt(2) if len(ratios) > 1 else abs(ratios[0]) / math.sqrt(2)
    print(f"back-to-back pairs: {len(ratios)}, the noise a canary does not share: sigma {own:.3f}")
    machine_sigma = max(0.0, sigma**2 - own**2) ** 0.5  # the shared part of the measured spread
    if args.cv is not None:  # a given noise: all of it the target's own, none shared (the canary's worst case)
        machine_sigma, own = 0.0, sigma

    outcomes: dict[float, list[dict[str, Any]]] = {}
    for step in (0.0, 0.10, 0.20):
        for seed in range(args.seeds):
            rng = random.Random(seed * 1000 + int(step * 100))
            lines = []
            for night in range(NIGHTS):
                machine = math.exp(rng.gauss(0, machine_sigma))  # the host's share: target and canary alike
                factor = machine * math.exp(rng.gauss(0, own)) * (1 + step if night >= STEP_AT else 1)
                # one real run as every night's shape: the nights differ by the noise alone
                lines.append(json.dumps(scaled(records[0], night, factor, seed)))
                canary = scaled(records[0], night, machine * math.exp(rng.gauss(0, own)), seed)
                canary["id"], canary["target"] = canary["id"] + "-canary", "embedded reference server"
                lines.append(json.dumps(canary))
            series_store = str(work / f"s{step}-{seed}.sqlite")
            (work / "nights.jsonl").write_text("\n".join(lines) + "\n")
            zscheck("runs", "import", str(work / "nights.jsonl"), "--store", series_store)
            out = work / "trend.json"
            proc = zscheck("trend", "http://bench", "--store", series_store, "--json", str(out))
            if proc.returncode != 0:
                print(f"trend could not run: {proc.stderr[-400:]}", file=sys.stderr)
                return 2
            doc = json.loads(out.read_text())
            row: dict[str, Any] = {}
            for metric in ("e2e p50", "e2e p50 / canary"):
                series = next(s for s in doc["series"] if s["metric"] == metric)
                found = [cp for cp in series["change_points"] if abs(cp["index"] - STEP_AT) <= 2 and cp["worse"]]
                row[metric] = {
                    "found": bool(found),
                    "change_points": len(series["change_points"]),
                    "magnitude": found[0]["change"] if found else None,
                }
            outcomes.setdefault(step, []).append(row)
        print(f"step {step:.0%}: done", file=sys.stderr)

    print(f"\n{args.seeds} synthetic 60-night series per step, noise cv {cv:.3f}, step at night 45:")
    summary: dict[str, Any] = {
        "cv": cv, "own_sigma": own, "seeds": args.seeds, "timing": args.timing, "rate": args.rate, "steps": {},
    }  # fmt: skip
    for step, rows in outcomes.items():
        for metric in ("e2e p50", "e2e p50 / canary"):
            cells = [r[metric] for r in rows]
            found = sum(c["found"] for c in cells)
            any_cp = sum(c["change_points"] > 0 for c in cells)
            magnitudes = [c["magnitude"] for c in cells if c["magnitude"] is not None]
            median = statistics.median(magnitudes) if magnitudes else None
            shown = f"{median:+.1%}" if median is not None else "-"
            if step == 0:
                print(f"  {metric:<17} no step: series with any change point (false alarms) {any_cp}/{len(rows)}")
            else:
                print(
                    f"  {metric:<17} +{step:.0%}: found at night 45 +/- 2 in {found}/{len(rows)}, median size {shown}"
                )
            summary["steps"][f"{metric} {step:.2f}"] = {"found": found, "any": any_cp, "n": len(rows), "median": median}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results: {OUT}")

    def rate(step: float, metric: str, what: str) -> float:
        cells = [r[metric] for r in outcomes[step]]
        return sum(bool(c["found"]) if what == "found" else c["change_points"] > 0 for c in cells) / len(cells)

    ok = max(rate(0.20, m, "found") for m in ("e2e p50", "e2e p50 / canary")) >= 0.9
    false_rate = max(rate(0.0, m, "any") for m in ("e2e p50", "e2e p50 / canary"))
    return 0 if ok and false_rate <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
