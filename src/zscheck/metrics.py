"""What a load run measured: full-resolution latency per operation, and the run second by second.

Latencies go into HdrHistograms (microseconds, three significant digits, up to an hour), so p99.9 is
read from every sample rather than from locust's rounded buckets. Everything here can be drained into a
plain dict (`drain`) and added into another process's `Metrics` (`absorb`): that is how the histograms
of locust workers reach the master, and how a run's raw results are stored on disk.

Operation names: `put` (the ChangeImageState request), `job` (202 until the job's final answer), `e2e`
(the state change end to end), `query` (an image read), `invalid` (a request a correct server refuses);
each also per event or kind, e.g. `e2e.enable`, `invalid.unknown-image`. Gates name them the same way.
"""

from __future__ import annotations

import base64
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
# The user-level operations: what `rps` and `error_rate` count when a gate names no operation.
TOP_LEVEL = ("e2e", "query", "invalid")
_HDR_BITS = 11  # three significant digits: HdrHistogram keeps 2048 distinct values per power of two
_TIMELINE_BITS = 4  # per-second plots: 8 steps per power of two (about 9% apart) are plenty


def _histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def _floor(us: int, bits: int) -> int:
    """`us` rounded down to a histogram of `bits` significant bits: the same bucket, a shared key."""
    shift = us.bit_length() - bits
    return us if shift <= 0 else (us >> shift) << shift


@dataclass
class OperationStats:
    """Samples are counted in a dict keyed by their histogram bucket and put into the HdrHistogram in bulk:
    recording one value in the pure-Python HdrHistogram costs microseconds, and a load generator records
    several per state change (see bench/load_efficiency.py). The histogram is the same either way."""

    pending: Counter[int] = field(default_factory=Counter)
    _histogram: HdrHistogram = field(default_factory=_histogram)
    failures: int = 0
    known: int = 0  # of the failures, those every check of which is a --baseline's known finding

    @property
    def histogram(self) -> HdrHistogram:
        if self.pending:
            for us, n in self.pending.items():
                self._histogram.record_value(us, n)
            self.pending.clear()
        return self._histogram

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count())

    def record(self, seconds: float, failed: bool, known: bool = False) -> None:
        self.pending[_floor(min(max(int(seconds * 1e6), _LOWEST_US), _HIGHEST_US), _HDR_BITS)] += 1
        if failed:
            self.failures += 1
            self.known += known

    def summary(self, duration: float) -> dict[str, float]:
        h = self.histogram
        out = {name: h.get_value_at_percentile(p) / 1e6 for name, p in PERCENTILES.items()}
        out["max"] = h.get_max_value() / 1e6
        out["mean"] = h.get_mean_value() / 1e6
        out["count"] = float(self.count)
        out["failures"] = float(self.failures)
        out["known_failures"] = float(self.known)
        # Known findings are reported, and do not fail the run: not in the rate a gate holds either.
        out["error_rate"] = (self.failures - self.known) / self.count if self.count else 0.0
        out["rps"] = self.count / duration if duration > 0 else 0.0
        return out


@dataclass
class Second:
    """One second of the run: operations, failures, error codes, a coarse latency distribution."""

    count: int = 0
    failures: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    buckets: Counter[int] = field(default_factory=Counter)

    def quantile(self, q: float) -> float:
        if not self.count:
            return 0.0
        rank, seen = q * sum(self.buckets.values()), 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return bucket / 1e6
        return 0.0


class Metrics:
    """Samples are recorded once, under their most detailed name (`e2e.enable`, or `query`); an operation
    with details (`e2e`) is the sum of them, merged when read. Recording is on the load generator's hot
    path, reading happens once a run."""

    def __init__(self) -> None:
        self.operations: dict[str, OperationStats] = defaultdict(OperationStats)
        self.timeline: dict[int, Second] = defaultdict(Second)
        self.scheduled = 0  # arrival-rate mode: state changes given an intended start time
        self.late = 0  # ...of which started late (the generator or the server could not keep up)

    def record(
        self, operation: str, detail: str | None, seconds: float, *, failed: bool, code: str | None, known: bool = False
    ) -> None:
        """One finished operation; `detail` (the event or invalid kind) names it `operation.detail`. `known`:
        it failed only checks of the --baseline's known findings."""
        self.operations[f"{operation}.{detail}" if detail else operation].record(seconds, failed, known)
        if operation in TOP_LEVEL:
            second = self.timeline[int(time.time())]
            second.count += 1
            second.failures += failed
            if code:
                second.codes[code] += 1
            second.buckets[_floor(max(int(seconds * 1e6), 1), _TIMELINE_BITS)] += 1

    def names(self) -> list[str]:
        """Every operation with samples: the recorded names and the operations they are details of."""
        recorded = [name for name, stats in self.operations.items() if stats.count]
        return sorted(set(recorded) | {name.split(".", 1)[0] for name in recorded})

    def stats(self, name: str) -> OperationStats:
        """The samples of `name`: recorded under it, or under its details (`e2e` is `e2e.enable` + ...)."""
        parts = [s for n, s in self.operations.items() if n == name or n.startswith(name + ".")]
        if len(parts) == 1:
            return parts[0]
        merged = OperationStats()
        for part in parts:
            merged.histogram.add(part.histogram)
            merged.failures += part.failures
            merged.known += part.known
        return merged

    # ------------------------------------------------------------------ moving between processes

    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, as plain data; the counters start again at zero."""
        data = {
            "operations": {
                name: {"h": base64.b64encode(s.histogram.encode()).decode(), "f": s.failures, "k": s.known}
                for name, s in self.operations.items()
                if s.count
            },
            "timeline": {
                str(t): [s.count, s.failures, dict(s.codes), {str(b): n for b, n in s.buckets.items()}]
                for t, s in self.timeline.items()
            },
            "scheduled": self.scheduled,
            "late": self.late,
        }
        self.operations.clear()
        self.timeline.clear()
        self.scheduled = self.late = 0
        return data

    def absorb(self, data: dict[str, Any]) -> None:
        for name, raw in data.get("operations", {}).items():
            stats = self.operations[name]
            stats.histogram.add(HdrHistogram.decode(base64.b64decode(raw["h"])))
            stats.failures += int(raw["f"])
            stats.known += int(raw.get("k", 0))
        for t, (count, failures, codes, buckets) in data.get("timeline", {}).items():
            second = self.timeline[int(t)]
            second.count += count
            second.failures += failures
            second.codes.update(codes)
            second.buckets.update({int(b): n for b, n in buckets.items()})
        self.scheduled += int(data.get("scheduled", 0))
        self.late += int(data.get("late", 0))

    # ------------------------------------------------------------------ reading

    def measured(self, duration: float) -> dict[str | None, dict[str, float]]:
        """`measured[operation][metric]` for the SLO gates; key None is every user-level operation."""
        out: dict[str | None, dict[str, float]] = {name: self.stats(name).summary(duration) for name in self.names()}
        overall = OperationStats()
        for name in TOP_LEVEL:
            stats = self.stats(name)
            overall.histogram.add(stats.histogram)
            overall.failures += stats.failures
            overall.known += stats.known
        if overall.count:
            out[None] = overall.summary(duration)
        return out

    def distribution(self, name: str) -> list[tuple[float, float]]:
        """(percentile, seconds) from p0 to p100, denser in the tail: the latency distribution's shape."""
        h = self.stats(name).histogram
        if not h.get_total_count():
            return []
        points = [0.0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 100]
        return [(p, h.get_value_at_percentile(p) / 1e6) for p in points]

    def timeline_rows(self) -> list[dict[str, Any]]:
        if not self.timeline:
            return []
        start = min(self.timeline)
        return [
            {
                "t": t - start,
                "ops": s.count,
                "failures": s.failures,
                "p50": s.quantile(0.5),
                "p99": s.quantile(0.99),
                "codes": dict(s.codes),
            }
            for t, s in sorted(self.timeline.items())
        ]
