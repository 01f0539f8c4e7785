"""Can a load run's numbers be trusted? The run measures its own generator while it runs, and says so.

A latency measured by a load generator that is itself out of CPU is the generator's latency, not the
target's: the operation was answered, but the answer waited for the generator's event loop. Locust's own
warning samples every 10 s and only above 90 % of a core; this module samples every locust process of
this machine each second from the start, from /proc:

- `utime + stime` (/proc/PID/stat): the CPU the process got;
- the run-queue delay (/proc/PID/task/*/schedstat, second field): the time it was ready to run and
  waited for a core. On a shared machine a generator is starved long before it shows 100 %: what it
  *wanted* is what it got plus what it waited for.

A process is saturated in a second when it wanted at least SATURATED of a core (ran + waited); the run
is generator-bound when some load process was saturated in at least BOUND_SHARE of its seconds after the
first STARTUP (locust importing and spawning), and at least MIN_SECONDS of them.

What that changes, and what it does not. A closed loop with no think time against a fast target always
saturates something, often the generator: that alone makes the throughput the generator's and the
latencies upper bounds (an answer may have waited for the generator's event loop, never the other way).
So a gate that *passed* still passed (the target did at least that well), and correctness findings stand;
but a gate that *failed* while the generator was the limit is no verdict on the target: the run exits 2
(COULD NOT RUN) with the reason and what to do (more `--processes`, more workers, fewer users per
process, a quieter machine), never a latency verdict.

The other checks: in `--rate` mode the delivered rate against the offered one and the share of late
starts; history operations dropped (the recorder's cap); and with workers the clocks: the master
measures each worker's clock against its own (users.py) at its start and then every CLOCK_INTERVAL
(`WorkerClock`), the history is put on the master's clock, and each operation is widened by its worker's
bound at that time; a bound over CLOCK_BOUND would hide faults shorter than it, so the history is then no
verdict.
"""

from __future__ import annotations

import bisect
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

SATURATED = 0.85  # share of one core a process wanted (ran + waited for) in a second. At 0.9 a generator
# pinned to the target's core, averaging 0.90 (ran 0.69, waited 0.21), was saturated in none of its seconds.
BOUND_SHARE = 0.5  # share of the sampled seconds (after the first) a process must be saturated in
MIN_SECONDS = 3  # fewer sampled seconds (after start-up) say nothing either way
STARTUP = 2  # sampled seconds left out at the start: locust importing and spawning its users
LATE_SHARE = 0.05  # rate mode: more late starts than this share and the rate was not delivered
DELIVERED_SHARE = 0.9  # rate mode: delivered below this share of the offered rate
CLOCK_BOUND = 0.25  # s: a worker's clock located less well than this leaves the history no verdict
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


@dataclass
class _Last:
    cpu: float  # seconds
    wait: float  # seconds
    at: float  # monotonic seconds


@dataclass
class Second:
    t: float  # seconds from the start of sampling
    cpu: float  # share of one core it ran
    wait: float  # share of the second it waited for a core

    @property
    def wanted(self) -> float:
        return self.cpu + self.wait


@dataclass
class ProcessCpu:
    pid: int
    role: str  # "locust" (a single process), "master", "worker"
    seconds: list[Second] = field(default_factory=list)

    def after_start(self) -> list[Second]:
        return self.seconds[STARTUP:]  # locust starting up (imports, spawning) is no load

    @property
    def saturated_share(self) -> float:
        seconds = self.after_start()
        if not seconds:
            return 0.0
        return sum(1 for s in seconds if s.wanted >= SATURATED) / len(seconds)

    @property
    def mean_cpu(self) -> float:
        seconds = self.after_start()
        return sum(s.cpu for s in seconds) / len(seconds) if seconds else 0.0

    @property
    def mean_wait(self) -> float:
        seconds = self.after_start()
        return sum(s.wait for s in seconds) / len(seconds) if seconds else 0.0

    @property
    def bound(self) -> bool:
        return len(self.after_start()) >= MIN_SECONDS and self.saturated_share >= BOUND_SHARE


def _process_line(p: ProcessCpu) -> str:
    sampled = len(p.after_start())
    if sampled < MIN_SECONDS:  # a 2 s run's "0% of 0 s" read as a measurement; it is none
        return f"pid {p.pid}: too short to judge ({sampled} s sampled after start-up, {MIN_SECONDS} needed)"
    return (
        f"pid {p.pid} ran {p.mean_cpu * 100:.0f}% of a core, waited {p.mean_wait * 100:.0f}%, "
        f"saturated {p.saturated_share * 100:.0f}% of {sampled} s"
    )


def _children(pid: int) -> list[int]:
    """Direct children, from /proc/PID/task/*/children (every thread's)."""
    found: list[int] = []
    try:
        for task in (_PROC / str(pid) / "task").iterdir():
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    except OSError:
        pass
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def _read(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, run-queue wait seconds) of a process so far, None if it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)
    wait = 0.0
    try:
        for task in (_PROC / str(pid) / "task").iterdir():
            try:
                wait += int((task / "schedstat").read_text().split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        pass
    return cpu, wait


class Sampler:
    """Every locust process under `root` (the locust this run started), sampled once a second."""

    def __init__(self, root: int, started: float) -> None:
        self.root, self.started = root, started
        self.processes: dict[int, ProcessCpu] = {}
        self._last: dict[int, _Last] = {}
        self.available = (_PROC / str(root) / "stat").exists()

    def sample(self, now: float) -> None:
        if not self.available:
            return
        pids = _tree(self.root)
        for pid in pids:
            read = _read(pid)
            if read is None:
                continue
            cpu, wait = read
            last = self._last.get(pid)
            self._last[pid] = _Last(cpu, wait, now)
            if pid not in self.processes:
                role = "locust" if pid == self.root else "worker"
                self.processes[pid] = ProcessCpu(pid, role)
            if last is None or now - last.at < 0.5:
                continue
            span = now - last.at
            self.processes[pid].seconds.append(
                Second(
                    round(now - self.started, 2), max(0.0, (cpu - last.cpu) / span), max(0.0, (wait - last.wait) / span)
                )
            )
        if len(self.processes) > 1 and self.root in self.processes:
            self.processes[self.root].role = "master"  # with --processes the first process only coordinates

    def generators(self) -> list[ProcessCpu]:
        """The processes that generate load: the workers, or the one locust."""
        workers = [p for p in self.processes.values() if p.role == "worker"]
        return workers or [p for p in self.processes.values() if p.role == "locust"]


@dataclass(frozen=True)
class Finding:
    check: str  # generator_cpu, delivered_rate, late_starts, history_dropped, clock_skew
    ok: bool
    text: str
    advice: str = ""


def _more_cpu(processes: int, users: int) -> str:
    """What gives a saturated generator more CPU. More processes only help while each would still carry
    a user: one user cannot be split (the advice read "--processes 2 (fewer than 1 users per process)")."""
    more = min(processes * 2, users)

    def count(n: int) -> str:
        return f"{n} user" + ("s" if n != 1 else "")

    if more > processes:
        split = f"--processes {more} (about {count(math.ceil(users / more))} per process), "
    elif users < processes:
        split = f"not more --processes (the {processes} already outnumber the {count(users)}): "
    else:
        split = f"not more --processes (each of the {processes} already carries {count(users // processes)}): "
    return f"give it more CPU: {split}workers on other machines (--master), or a quieter machine"


def judge(
    sampler: Sampler | None,
    *,
    processes: int,
    users: int,
    rate: float | None,
    delivered: float,
    scheduled: int,
    late: int,
    history_dropped: int,
    remote_workers: bool,
    skew_allowed: float,
    clocks: dict[str, WorkerClock] | None,
    unlocated: list[str] | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    if remote_workers:
        findings.append(Finding("generator_cpu", True, "generator CPU: not sampled (workers on other machines)"))
    elif sampler is None or not sampler.available:
        findings.append(Finding("generator_cpu", True, "generator CPU: not sampled (no /proc on this system)"))
    else:
        gens = sampler.generators()
        bound = [p for p in gens if p.bound]
        shown = ", ".join(_process_line(p) for p in gens)
        if bound:
            findings.append(
                Finding(
                    "generator_cpu",
                    False,
                    f"the load generator was the limit: {shown}",
                    _more_cpu(processes, users),
                )
            )
        else:
            findings.append(Finding("generator_cpu", True, f"generator CPU: {shown or 'no samples'}"))
    if rate:
        share = delivered / rate if rate else 1.0
        ok = share >= DELIVERED_SHARE
        findings.append(
            Finding(
                "delivered_rate",
                ok,
                f"delivered {delivered:.1f} of {rate:g} operations/s offered ({share * 100:.0f}%)",
                "" if ok else f"more --users to carry the rate (users x 1/latency > {rate:g}), or more --processes",
            )
        )
        late_share = late / scheduled if scheduled else 0.0
        findings.append(
            Finding(
                "late_starts",
                late_share <= LATE_SHARE,
                f"{late} of {scheduled} operations started over 10 ms late ({late_share * 100:.1f}%)",
                "" if late_share <= LATE_SHARE else "more --users or --processes: the schedule was not kept",
            )
        )
    findings.append(
        Finding(
            "history_dropped",
            history_dropped == 0,
            f"{history_dropped} operations dropped from the history (lines of the history files cut short)"
            if history_dropped
            else "history: every operation kept",
            ""
            if not history_dropped
            else "a locust process was killed mid-write (see locust.log): the history check saw only part of the run",
        )
    )
    if unlocated:
        findings.append(
            Finding(
                "clock_skew",
                False,
                f"the clock of worker {', '.join(unlocated)} was never measured (its ping or pong was lost): its "
                "operations cannot be put on the master's clock",
                "run again; if it recurs, see locust.log for the worker's connection to the master",
            )
        )
    elif clocks:
        worst = max(c.widest for c in clocks.values())
        ok = worst <= CLOCK_BOUND
        shown = ", ".join(
            f"worker {w} {c.offset * 1000:+.1f} ms (within {c.widest * 1000:.1f}"
            + (f"; drifted {c.drift * 1000:+.1f} ms over {len(c.rounds)} rounds)" if len(c.rounds) > 1 else ")")
            if c.widest or c.offset
            else f"worker {w} the same (one machine)"
            for w, c in sorted(clocks.items())
        )
        findings.append(
            Finding(
                "clock_skew",
                ok,
                f"clocks against the master's: {shown}; the history is put on the master's clock, each operation "
                f"widened by its worker's bound + --clock-skew {skew_allowed * 1000:.0f} ms",
                ""
                if ok
                else f"the clocks could not be located within {CLOCK_BOUND * 1000:.0f} ms (a history widened that much "
                "hides faults shorter than that): a less loaded master or network between master and workers",
            )
        )
    return findings


def machine_id() -> str:
    """What names this machine's clock: the kernel's boot id (processes of one boot share one wall
    clock), else the host name. A worker on the master's machine needs no measuring: its offset is 0."""
    try:
        return "boot:" + Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "host:" + socket.gethostname()


Round = tuple[float, float, float]  # one measurement: the master's time, the worker's offset, its bound


@dataclass(frozen=True)
class WorkerClock:
    """A worker's clock against the master's over a run, from rounds of measurement (users.py measures at
    the worker's start, then every CLOCK_INTERVAL): the offset to take off each of its times, and how
    much to widen it by. Between two rounds the offset is their midpoint and the bound is the larger of
    their bounds plus half their difference: true whatever the clock did in between, so long as it
    moved one way (a drifting or slewed clock; a step back and forth within one interval is not seen).
    After the last round, the last interval's drift rate carries on to the run's end (`until`); one round
    only: that offset throughout (drift is then what --clock-skew allows)."""

    rounds: tuple[Round, ...]
    until: float = 0.0  # the run's end, on the master's clock

    def at(self, t: float) -> tuple[float, float]:
        """(offset, bound) at the master's time `t` (past `until`: as at `until`)."""
        r = self.rounds
        if self.until:
            t = min(t, max(self.until, r[-1][0]))
        if t <= r[0][0] or len(r) == 1:
            return r[0][1], r[0][2]
        k = bisect.bisect_left(r, t, key=lambda x: x[0])  # r[k - 1] < t <= r[k]: an 8-hour soak has ~1,000
        if k < len(r):
            (_, o0, b0), (_, o1, b1) = r[k - 1], r[k]
            return (o0 + o1) / 2, max(b0, b1) + abs(o1 - o0) / 2
        (tp, op, bp), (tl, ol, bl) = r[-2], r[-1]
        # After the last round: the last interval's drift rate, as large as its two measurements allow.
        return ol, bl + (abs(ol - op) + bp + bl) / max(tl - tp, 1e-9) * (t - tl)

    @property
    def offset(self) -> float:
        return self.rounds[0][1]

    @property
    def drift(self) -> float:
        """The offset's change from the first round to the last."""
        return self.rounds[-1][1] - self.rounds[0][1]

    @property
    def widest(self) -> float:
        """The most any of the worker's times is widened by, up to `until`."""
        ends = [t for t, _, _ in self.rounds] + [max(self.until, self.rounds[-1][0])]
        return max(self.at(t)[1] for t in ends)

    @property
    def reach(self) -> float:
        """How far from its own time a shifted and widened time can land: the history check's lag."""
        return max(abs(o) for _, o, _ in self.rounds) + self.widest


def clock_offset(sent: float, seen: float, arrived: float) -> tuple[float, float]:
    """A worker's clock less the master's, and the bound on its error, from one round trip: the master
    sent at `sent` and heard back at `arrived` (its clock), the worker read `seen` in between (its own)."""
    return seen - (sent + arrived) / 2, max(arrived - sent, 0.0) / 2


def generator_bound(findings: list[Finding]) -> Finding | None:
    """The finding that says the generator was the limit, if any (a failed gate is then no verdict)."""
    return next((f for f in findings if f.check == "generator_cpu" and not f.ok), None)
