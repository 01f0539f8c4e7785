"""The arithmetic of `load_efficiency.py`: from what one round measured to a per-round ratio, and from the
rounds to a verdict. Pure (standard library only, no I/O) so that `tests/bench/` can test it with
hand-made samples.

A generator's cost is judged per CPU-second it actually got, not per wall-clock second: on a shared core
the kernel need not give two processes equal time (autogroups, other load), and a rate per wall-clock
second then measures the scheduler. Normalising by CPU seconds corrects most of that, but not all: a
generator's per-second fixed costs (statistics, history, timers) are spread over more requests when it
gets more CPU, and one that waits for the server pays wake-ups that a busy one batches. So a round is
judged only when the comparison is like for like; see `judge_round` for exactly when.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

CLAIM = 0.90  # checked requests per CPU-second >= 0.90 x the stock bare user's
MAX_SHARE_GAP = 0.03  # the two generators' CPU shares may differ by at most 3 points
MIN_CORE_BUSY = 0.90  # the generators' core must be busy (by anyone) at least 90% of the window
MIN_CPU_S = 2.0  # each generator must get at least 2 CPU-seconds in the window
SERVER_BOUND = 0.85  # above this share of its core the server, not the generators, may be the limit
MAX_LATE_S = 0.25  # a CPU sample later than this after its second boundary: the sampler itself was starved
SIDES = ("checked", "bare")


@dataclass(frozen=True)
class Sample:
    """What one side-by-side round measured over its window (the same wall-clock interval for all)."""

    baseline: str  # "stock" or "no-cookies"
    seconds: float  # wall-clock length of the window, between the two CPU samples
    requests: dict[str, int]  # "checked", "bare": HTTP requests (PUT + GET) completed in the window
    cpu_s: dict[str, float]  # "checked", "bare", "server": CPU seconds of each process tree in the window
    core_busy: float  # the generators' core: busy fraction over the window, by any process
    late_s: float = 0.0  # the later of the two CPU samples' delays after their second boundaries


@dataclass(frozen=True)
class RoundResult:
    baseline: str
    per_cpu_s: dict[str, float]  # requests per CPU-second, each side
    per_s: dict[str, float]  # requests per wall-clock second, each side (informative)
    shares: dict[str, float]  # CPU share of its core over the window: checked, bare, server
    ratio: float  # checked per CPU-second / bare per CPU-second
    refused: list[str] = field(default_factory=list)  # why this round cannot be judged; empty if it can

    @property
    def judged(self) -> bool:
        return not self.refused


@dataclass(frozen=True)
class Verdict:
    medians: dict[str, float | None]  # per baseline, over its judged rounds (None: none judged)
    judged: dict[str, int]  # per baseline: rounds judged
    total: dict[str, int]  # per baseline: rounds run
    exit_code: int  # 0 holds, 1 does not hold, 2 could not judge
    message: str


def judge_round(sample: Sample) -> RoundResult:
    """Requests per CPU-second on each side, their ratio, and why the round cannot be judged, if so.

    A round is refused when:
    - the two generators' shares of their core differ by more than MAX_SHARE_GAP (3 points). Per
      CPU-second figures depend on how much CPU a generator got (per-second fixed costs spread over more
      requests, fewer idle wake-ups), so unequal shares bias the ratio towards the side that got more.
      Measured at 00e2fab: with shares of 48% (checked) and 24% (bare) per CPU-second put the checked user
      at 1.00 of a stock one, where equal shares give 0.85 (+17% for a 2:1 split; the issue's run, 50-57%
      against 27-32%, read 1.06). Rounds with equal shares differ by 0-2 points; 3 points at shares near
      40% is a split of 1.08:1, worth about 1.3% on the ratio, well inside the claim's 10% margin;
    - the generators' core was busy less than MIN_CORE_BUSY (90%) of the window: two generators with no
      wait time keep a core busy, so idle time means at least one was waiting (on the server, the network,
      its own start or stop) and its CPU per request is not its cost at full load;
    - either generator got under MIN_CPU_S (2 CPU-seconds): /proc counts CPU in 10 ms ticks, one tick of
      error at each end is 1% of 2 s;
    - the server used more than SERVER_BOUND (85%) of its core: it, not the generators, may be the limit;
    - a CPU sample was taken more than MAX_LATE_S (0.25 s) after its second boundary: requests are counted
      in whole seconds, so CPU and requests would not cover the same interval.
    """
    seconds = max(sample.seconds, 1e-9)
    shares = {name: sample.cpu_s.get(name, 0.0) / seconds for name in (*SIDES, "server")}
    per_cpu_s = {side: sample.requests[side] / max(sample.cpu_s.get(side, 0.0), 1e-9) for side in SIDES}
    per_s = {side: sample.requests[side] / seconds for side in SIDES}
    refused = []
    gap = abs(shares["checked"] - shares["bare"])
    if gap > MAX_SHARE_GAP:
        refused.append(
            f"shares differ by {gap * 100:.0f} points (checked {shares['checked']:.0%}, bare {shares['bare']:.0%};"
            f" at most {MAX_SHARE_GAP * 100:.0f})"
        )
    if sample.core_busy < MIN_CORE_BUSY:
        refused.append(f"the generators' core was busy only {sample.core_busy:.0%} (a generator was waiting)")
    for side in SIDES:
        if sample.cpu_s.get(side, 0.0) < MIN_CPU_S:
            refused.append(f"{side} got only {sample.cpu_s.get(side, 0.0):.2f} CPU-s (at least {MIN_CPU_S:g})")
    if shares["server"] > SERVER_BOUND:
        refused.append(f"server-bound: the server used {shares['server']:.0%} of its core")
    if sample.late_s > MAX_LATE_S:
        refused.append(f"a CPU sample was {sample.late_s:.2f} s late (the sampler was starved)")
    ratio = per_cpu_s["checked"] / per_cpu_s["bare"] if per_cpu_s["bare"] > 0 else 0.0
    return RoundResult(sample.baseline, per_cpu_s, per_s, shares, ratio, refused)


def verdict(results: Sequence[RoundResult], claim: float = CLAIM, baseline: str = "stock") -> Verdict:
    """The median ratio per baseline over its judged rounds; the claim is judged against `baseline` only.

    The claim is judged when more than half of the `baseline` rounds could be judged (3 of 4, 2 of 2, 1 of
    1): a stray round on a noisy machine costs that round, but a machine that never gives the two
    generators like-for-like conditions gets no verdict. Exit codes: 0 the median is >= `claim`, 1 it is
    below, 2 could not judge."""
    names = sorted({r.baseline for r in results}, key=lambda b: (b != baseline, b))
    medians: dict[str, float | None] = {}
    judged: dict[str, int] = {}
    total: dict[str, int] = {}
    for name in names:
        ratios = [r.ratio for r in results if r.baseline == name and r.judged]
        medians[name] = statistics.median(ratios) if ratios else None
        judged[name] = len(ratios)
        total[name] = sum(1 for r in results if r.baseline == name)
    n, of = judged.get(baseline, 0), total.get(baseline, 0)
    median = medians.get(baseline)
    if of == 0 or 2 * n <= of or median is None:
        reasons = sorted({reason for r in results if r.baseline == baseline for reason in r.refused})
        detail = "; ".join(reasons) if reasons else f"no {baseline} rounds"
        return Verdict(
            medians, judged, total, 2, f"could not judge: {n} of {of} {baseline} rounds judgeable ({detail})"
        )
    holds = median >= claim
    message = (
        f"median checked/bare per CPU-second vs {baseline}: {median:.3f} over {n} of {of} rounds "
        f"(claim >= {claim:.2f}: {'holds' if holds else 'DOES NOT HOLD'})"
    )
    return Verdict(medians, judged, total, 0 if holds else 1, message)
