"""How long the linearizability checker takes on a 100,000-operation history, against a baseline.

The history comes from simulated registers under concurrent clients (linearizable by construction, so
the checker must search it all rather than stop at the first violation). The baseline, measured in the
same run, is the unavoidable part of any checker: grouping the operations by image and sorting each
group's call and return events. The ratio says how much the search itself costs on top of that.

    python bench/linearizability.py                      # 100,000 operations, 50 clients, 64 images
    python bench/linearizability.py --ops 20000 --keys 4 # more contention per image
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from zscheck.linearizability import Operation, check, simulated_history


def baseline(history: list[Operation]) -> None:
    groups: dict[str, list[Operation]] = defaultdict(list)
    for op in history:
        groups[op.key].append(op)
    for ops in groups.values():
        sorted([(op.invoke, 0, i) for i, op in enumerate(ops)] + [(op.end, 1, i) for i, op in enumerate(ops)])


def best_of(runs: int, fn: object, *args: object) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=100_000, help="operations in the history (default: 100000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default: 50)")
    parser.add_argument("--keys", type=int, default=64, help="images (default: 64)")
    parser.add_argument("--runs", type=int, default=3, help="take the best of this many runs (default: 3)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench/linearizability.json"))
    args = parser.parse_args()
    history, initial = simulated_history(1, args.ops, args.clients, args.keys)
    base = best_of(args.runs, baseline, history)
    checked = best_of(args.runs, lambda: check(history, initial))
    result = check(history, initial)
    data = {
        "operations": args.ops,
        "clients": args.clients,
        "keys": args.keys,
        "linearizable": result.ok,
        "check_s": round(checked, 3),
        "baseline_s": round(base, 3),
        "ratio": round(checked / base, 1),
    }
    print(f"{args.ops} operations, {args.clients} clients, {args.keys} images: linearizable={result.ok}")
    print(f"  checker   {checked:7.3f} s   (best of {args.runs})")
    print(f"  baseline  {base:7.3f} s   (group by image + sort call/return events)")
    print(f"  ratio     {checked / base:7.1f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
