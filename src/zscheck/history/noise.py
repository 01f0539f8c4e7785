"""A/A noise: runs of one build, back to back, stored with labels that pair them, and each metric's
run-to-run noise computed from the pairs.

`zscheck noise` records each pair's two runs with the labels `aa-pair` (the pair's id) and `aa-side`
(`a` or `b`). `zscheck compare` reads the stored pairs of the target and scenario it compares
(`stored_noise`) and, when a side has too few runs for a test over runs, uses their noise as the null;
`zscheck trend` leaves A/A runs out of the nightly series (`is_aa`): they are the harness's measurement of
itself, not nights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zscheck.history.compare import METRICS, metric_key, run_values
from zscheck.history.record import AA_PAIR, AA_SIDE, RunRecord
from zscheck.history.stats import Noise
from zscheck.history.store import Query, Store
from zscheck.report.documents import NoiseMetric

__all__ = ["AA_PAIR", "AA_SIDE", "StoredNoise", "is_aa", "noise_metrics", "noise_of", "pairs_of", "stored_noise"]
MAX_PAIRS = 50  # the newest pairs compare uses: older ones may be of another machine state


def is_aa(record: RunRecord) -> bool:
    return record.is_aa


def pairs_of(records: Iterable[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """The complete A/A pairs among `records`, in the order their first runs come."""
    sides: dict[str, dict[str, RunRecord]] = {}
    for record in records:
        if is_aa(record):
            sides.setdefault(record.labels[AA_PAIR], {})[record.labels.get(AA_SIDE, "")] = record
    return [(s["a"], s["b"]) for s in sides.values() if "a" in s and "b" in s]


def noise_of(pairs: Sequence[tuple[RunRecord, RunRecord]]) -> dict[str, Noise]:
    """Each metric's noise: the log ratio of the pair's second run to its first, for every pair that
    measured it on both runs."""
    ratios: dict[str, list[float]] = {}
    for a, b in pairs:
        va = [run_values(s.result) for s in a.load_summaries()[:1] if s.result is not None]
        vb = [run_values(s.result) for s in b.load_summaries()[:1] if s.result is not None]
        if not va or not vb:
            continue
        for key, value in va[0].items():
            if key in vb[0]:
                ratios.setdefault(key, []).append(math.log(vb[0][key] / value))
    return {key: Noise(tuple(values)) for key, values in ratios.items()}


def noise_metrics(noise: dict[str, Noise], alpha: float) -> list[NoiseMetric]:
    """The noise of each metric as `zscheck noise` writes it (only metrics with two pairs or more have a floor)."""
    out = []
    for operation, metric, unit, _ in METRICS:
        n = noise.get(metric_key(operation, metric))
        if n is None or n.pairs < 2:
            continue
        out.append(
            NoiseMetric(
                operation=operation,
                metric=metric,
                unit="s" if unit == "s" else "ops/s",
                changes=[math.exp(x) - 1 for x in n.log_ratios],
                sigma=n.sigma,
                floor=n.floor(alpha),
            )
        )
    return out


@dataclass(frozen=True)
class StoredNoise:
    noise: dict[str, Noise] = field(default_factory=dict)  # empty: fewer than two pairs stored
    source: str | None = None  # a line saying where it came from
    hosts: tuple[Mapping[str, Any], ...] = ()  # the pairs' runs' host facts: the machine state it describes


def stored_noise(store: Store, target: str, scenario: str | None) -> StoredNoise:
    """The A/A noise stored for this target and scenario (its newest MAX_PAIRS pairs)."""
    records = [r for r in store.query(Query(target=target, scenario=scenario)) if is_aa(r)]
    pairs = pairs_of(reversed(records))[-MAX_PAIRS:]
    if len(pairs) < 2:
        return StoredNoise()
    newest = pairs[-1][1].id
    source = f"{len(pairs)} stored A/A pairs of {target} ({scenario or 'any scenario'}), the newest run {newest}"
    return StoredNoise(noise_of(pairs), source, tuple(r.host for pair in pairs for r in pair))
