"""Benchmark (baseline only, so far): what the current in-memory path costs per million operations, the
numbers a streaming soak path (issue 14, "Soaks of hours") has to beat.

Today `zscheck load` keeps every operation of the run in memory (the recorder's history, merged on the
master), writes it whole to raw-results.json, and checks linearizability on the whole history at the end.
This measures, for a simulated linearizable history (`zscheck.linearizability.simulated_history`: 50
clients, 64 images), per million operations:

- memory: the Python objects the history takes (tracemalloc, the list of Operations),
- raw-results.json: the JSON bytes of the history as the recorder writes it (one object per operation),
- the history check's time (`check`, the whole history at once).

and extrapolates to one hour and to eight hours at the issue's measured rate (2,524 operations/s), against
the goal (8 h within 500 MB; the check within 60 s per hour of history).

    python bench/soak.py                 # 1,000,000 operations
    python bench/soak.py --ops 200000    # quicker
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

from zscheck.linearizability import check, simulated_history

RATE = 2524.0  # operations/s, measured on the embedded server (issue 14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=1_000_000)
    a = parser.parse_args()
    tracemalloc.start()
    history, initial = simulated_history(7, a.ops, 50, 64)
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    raw = sum(
        len(json.dumps({"key": o.key, "kind": o.kind, "value": o.value, "invoke": o.invoke, "complete": o.complete,
                        "client": o.client}))
        for o in history[:100_000]
    ) * len(history) / min(len(history), 100_000)  # fmt: skip
    started = time.process_time()  # CPU seconds: the machine is shared
    result = check(history, initial=initial)
    seconds = time.process_time() - started
    per_million = 1_000_000 / len(history)
    hour = RATE * 3600 / 1_000_000  # millions of operations in an hour at RATE
    mem_m, raw_m, check_m = memory * per_million / 1e6, raw * per_million / 1e6, seconds * per_million
    print(f"{len(history):,} operations ({'linearizable' if result.ok else 'VIOLATED'}), in-memory path:")
    print(
        f"per million operations: history {mem_m:.0f} MB in memory, raw-results.json {raw_m:.0f} MB, "
        f"check {check_m:.1f} CPU s"
    )
    print(
        f"one hour at {RATE:g}/s ({hour:.1f} M ops): {mem_m * hour:.0f} MB, check {check_m * hour:.0f} s (goal <= 60 s)"
    )
    print(
        f"eight hours: {mem_m * hour * 8 / 1000:.1f} GB in memory (goal <= 0.5 GB), "
        f"raw {raw_m * hour * 8 / 1000:.1f} GB"
    )


if __name__ == "__main__":
    main()
