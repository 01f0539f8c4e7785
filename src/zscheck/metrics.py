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
from array import array
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
SETTLE_AFTER = 15  # seconds: a worker reports every 3 s, so later samples for a second are rare
_PENDING_MAX = 4096  # buckets absorbed before they go into the histogram: a dict of them costs ~100 B each


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
    several per state change (see bench/load_efficiency.py). The histogram is the same either way.

    The histogram is made only when it is read. Each HdrHistogram is a reference cycle (it and its
    encoder, ~190 KB), freed only by the cyclic garbage collector's rare full passes: a worker that
    made one per operation for every report (every 3 s) and a master that decoded one for each held
    tens of megabytes of them between passes, and an hour's soak grew by that. A worker now ships its
    buckets (`drain`), never a histogram; the master keeps one per operation for the whole run."""

    pending: Counter[int] = field(default_factory=Counter)
    _histogram: HdrHistogram | None = None
    failures: int = 0
    known: int = 0  # of the failures, those every check of which is a --baseline's known finding

    @property
    def histogram(self) -> HdrHistogram:
        if self._histogram is None:
            self._histogram = _histogram()
        if self.pending:
            for us, n in self.pending.items():
                self._histogram.record_value(us, n)
            self.pending.clear()
        return self._histogram

    def samples(self) -> dict[str, Any]:
        """The samples as plain data: the buckets ("b", bucket in microseconds -> samples), or the encoded
        histogram ("h") once one was made (then the buckets are in it)."""
        if self._histogram is None:
            return {"b": {str(us): n for us, n in self.pending.items()}}
        return {"h": base64.b64encode(self.histogram.encode()).decode()}

    @property
    def count(self) -> int:
        held = int(self._histogram.get_total_count()) if self._histogram is not None else 0
        return held + sum(self.pending.values())

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


@dataclass(slots=True)
class Second:
    """One second of the run: operations, failures, error codes, a coarse latency distribution.

    A run keeps every second for its timeline, so a settled one (`SETTLE_AFTER` seconds old) packs its
    buckets into one 8-byte word each (bucket << 32 | samples): at 2,500 operations/s a second holds ~46
    buckets, 9.3 MB an hour as dicts, 2.6 MB packed (tracemalloc; tests/test_metrics.py holds it under 4).
    A sample for a packed second (a late report) unpacks it first."""

    count: int = 0
    failures: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    buckets: Counter[int] | None = field(default_factory=Counter)
    packed: array[int] | None = None

    def live(self) -> Counter[int]:
        """The buckets to add to: unpacked if the second was settled."""
        if self.buckets is None:
            self.buckets = Counter(self.distribution())
            self.packed = None
        return self.buckets

    def settle(self) -> None:
        if self.buckets is not None:
            self.packed = array("Q", sorted(b << 32 | n for b, n in self.distribution().items()))
            self.buckets = None

    def distribution(self) -> dict[int, int]:
        """Bucket (microseconds, rounded down) -> samples."""
        if self.buckets is not None:
            return dict(self.buckets)
        return {word >> 32: word & 0xFFFFFFFF for word in self.packed or ()}

    def quantile(self, q: float) -> float:
        if not self.count:
            return 0.0
        buckets = self.distribution()
        rank, seen = q * sum(buckets.values()), 0
        for bucket in sorted(buckets):
            seen += buckets[bucket]
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
        self._unsettled: set[int] = set()  # seconds whose buckets are still dicts
        self._newest = 0  # the newest second recorded or absorbed
        self.scheduled = 0  # arrival-rate mode: state changes given an intended start time
        self.late = 0  # ...of which started late (the generator or the server could not keep up)

    def record(
        self, operation: str, detail: str | None, seconds: float, *, failed: bool, code: str | None, known: bool = False
    ) -> None:
        """One finished operation; `detail` (the event or invalid kind) names it `operation.detail`. `known`:
        it failed only checks of the --baseline's known findings."""
        self.operations[f"{operation}.{detail}" if detail else operation].record(seconds, failed, known)
        if operation in TOP_LEVEL:
            now = int(time.time())
            second = self.timeline[now]
            second.count += 1
            second.failures += failed
            if code:
                second.codes[code] += 1
            second.live()[_floor(max(int(seconds * 1e6), 1), _TIMELINE_BITS)] += 1
            if now != self._newest:
                self._settle(now)

    def _settle(self, t: int) -> None:
        """`t` is a second just seen: pack those `SETTLE_AFTER` older than the newest."""
        self._newest = max(self._newest, t)
        self._unsettled.add(t)
        for old in [u for u in self._unsettled if u < self._newest - SETTLE_AFTER]:
            self.timeline[old].settle()
            self._unsettled.discard(old)

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
                name: {**s.samples(), "f": s.failures, "k": s.known} for name, s in self.operations.items() if s.count
            },
            "timeline": {
                str(t): [s.count, s.failures, dict(s.codes), {str(b): n for b, n in s.distribution().items()}]
                for t, s in self.timeline.items()
            },
            "scheduled": self.scheduled,
            "late": self.late,
        }
        self.operations.clear()
        self.timeline.clear()
        self._unsettled.clear()
        self.scheduled = self.late = 0
        return data

    def absorb(self, data: dict[str, Any]) -> None:
        for name, raw in data.get("operations", {}).items():
            stats = self.operations[name]
            if "h" in raw:  # a histogram: raw results written before buckets were shipped, or a long run's
                stats.histogram.add(HdrHistogram.decode(base64.b64decode(raw["h"])))
            stats.pending.update({int(us): int(n) for us, n in raw.get("b", {}).items()})
            if len(stats.pending) > _PENDING_MAX:
                stats.histogram.get_total_count()  # reading the histogram puts the pending buckets in
            stats.failures += int(raw["f"])
            stats.known += int(raw.get("k", 0))
        for t, (count, failures, codes, buckets) in data.get("timeline", {}).items():
            second = self.timeline[int(t)]
            second.count += count
            second.failures += failures
            second.codes.update(codes)
            second.live().update({int(b): int(n) for b, n in buckets.items()})
            self._settle(int(t))
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
