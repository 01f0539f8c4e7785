"""`zscheck trend`'s detection of a seeded step in a synthetic 60-night series with this machine's noise.

1. Runs `zscheck load` a few times against the correct embedded reference server and measures this
   machine's run-to-run spread of the e2e p50 (the coefficient of variation of the runs' medians).
2. For each seed and step size (0: no step, the false-alarm case; 10% and 20% slower from night 45 on)
   writes 60 nights as run records (one real run's record, its latencies scaled by that night's lognormal
   noise of the measured spread, times the step from night 45), imports them with `zscheck runs import`,
   and runs `zscheck trend --json` on them (the command a nightly job runs).
3. Counts: a step found when e2e p50 has a worse change point within 2 nights of night 45; a false alarm
   when a series without a step has any e2e p50 change point. Reports the found magnitude against the
   seeded one.

    python bench/trend_step.py --seeds 20          # about 3 minutes
    python bench/trend_step.py --seeds 3 --calibration-runs 3     # a quick look

Results: a table on stdout and reports/bench/trend_step.json. Exit 0 when the 20% step is found in at
least 90% of the series and the false-alarm rate is at most 10%, 1 otherwise, 2 when it could not run.
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
    args = parser.parse_args()
    if not 1 <= args.seeds <= 200 or not 3 <= args.calibration_runs <= 30:
        print("--seeds 1..200 and --calibration-runs 3..30 keep the benchmark bounded", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="zscheck-trend-bench-"))
    store = str(work / "calibration.sqlite")
    for i in range(args.calibration_runs):
        proc = zscheck(
            "load", "--duration", f"{args.duration}s", "--users", "8", "--seed", str(i + 1),
            "--report-dir", str(work / f"run{i}"), "--store", store, timeout=args.duration + 120,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"calibration run {i}: exit {proc.returncode}: {proc.stderr[-400:]}", file=sys.stderr)
            return 2
    records = [json.loads(line) for line in zscheck("runs", "export", "--store", store).stdout.splitlines()]
    p50s = [r["documents"]["summary.json"]["result"]["operations"]["e2e"]["p50"] for r in records]
    cv = statistics.stdev(p50s) / statistics.mean(p50s)
    sigma = math.sqrt(math.log(1 + cv * cv))
    print(f"this machine: e2e p50 over {len(p50s)} runs {[round(v * 1000, 3) for v in p50s]} ms, cv {cv:.3f}")

    outcomes: dict[float, list[dict[str, Any]]] = {}
    for step in (0.0, 0.10, 0.20):
        for seed in range(args.seeds):
            rng = random.Random(seed * 1000 + int(step * 100))
            lines = []
            for night in range(NIGHTS):
                factor = math.exp(rng.gauss(0, sigma)) * (1 + step if night >= STEP_AT else 1)
                # one real run as every night's shape: the nights differ by the measured noise alone
                lines.append(json.dumps(scaled(records[0], night, factor, seed)))
            series_store = str(work / f"s{step}-{seed}.sqlite")
            (work / "nights.jsonl").write_text("\n".join(lines) + "\n")
            zscheck("runs", "import", str(work / "nights.jsonl"), "--store", series_store)
            out = work / "trend.json"
            proc = zscheck("trend", "http://bench", "--store", series_store, "--json", str(out))
            if proc.returncode != 0:
                print(f"trend could not run: {proc.stderr[-400:]}", file=sys.stderr)
                return 2
            doc = json.loads(out.read_text())
            p50 = next(s for s in doc["series"] if s["metric"] == "e2e p50")
            found = [cp for cp in p50["change_points"] if abs(cp["index"] - STEP_AT) <= 2 and cp["worse"]]
            outcomes.setdefault(step, []).append(
                {
                    "found": bool(found),
                    "change_points": len(p50["change_points"]),
                    "magnitude": found[0]["change"] if found else None,
                }
            )
        print(f"step {step:.0%}: done", file=sys.stderr)

    print(f"\n{args.seeds} synthetic 60-night series per step, noise cv {cv:.3f} (this machine), step at night 45:")
    summary: dict[str, Any] = {"cv": cv, "seeds": args.seeds, "steps": {}}
    for step, rows in outcomes.items():
        found = sum(r["found"] for r in rows)
        any_cp = sum(r["change_points"] > 0 for r in rows)
        magnitudes = [r["magnitude"] for r in rows if r["magnitude"] is not None]
        median = statistics.median(magnitudes) if magnitudes else None
        shown = f"{median:+.1%}" if median is not None else "-"
        if step == 0:
            print(f"  no step: series with any e2e p50 change point (false alarms) {any_cp}/{len(rows)}")
        else:
            print(f"  +{step:.0%}: found at night 45 +/- 2 in {found}/{len(rows)}, median size found {shown}")
        summary["steps"][f"{step:.2f}"] = {"found": found, "any_change_point": any_cp, "n": len(rows), "median": median}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results: {OUT}")
    ok = outcomes[0.20] and sum(r["found"] for r in outcomes[0.20]) >= 0.9 * len(outcomes[0.20])
    false_rate = sum(r["change_points"] > 0 for r in outcomes[0.0]) / len(outcomes[0.0])
    return 0 if ok and false_rate <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
