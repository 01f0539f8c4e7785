"""Is a history of state changes and reads linearizable? (Wing & Gong's search with Lowe's memoization.)

Each image is a register holding `Enabled` or `Disabled`. A load run records, per image, every state
change (a write that reports the state it set) and every read (a query), each with the time it was sent
and the time its answer arrived. The history is linearizable if each operation can be placed at one
instant between those two times so that every read returns the last write before it. Images are
independent, so each is checked on its own (P-compositionality); that is what keeps 100,000 operations
to seconds. `StreamChecker` does the same one operation at a time, cutting each image's history where no
operation is in flight, and `HistoryFile` / `check_files` are the history streamed to disk and checked
from there (the soaks of `zscheck load`).

An operation whose outcome is unknown (a timeout, a dropped connection) is *indeterminate*: it may have
taken effect at any instant after it was sent, or never. It is recorded with `complete=None`.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["write", "read"]
# Timed-out writes kept per image and value to stand for those still pending after a cut (any of them may
# stand for any other there): however many time out in an 8-hour soak, at most this many are held.
STAND_INS = 8


@dataclass(frozen=True, slots=True)
class Operation:
    key: str  # the image
    kind: Kind
    value: str  # write: the state it set; read: the state it saw
    invoke: float  # when it was sent
    complete: float | None  # when its answer arrived; None: indeterminate (may or may not have happened)
    client: str = ""

    @property
    def end(self) -> float:
        return math.inf if self.complete is None else self.complete


@dataclass(frozen=True)
class Violation:
    """A history that no order explains, cut down to the smallest window of one key that still fails."""

    key: str
    window: tuple[Operation, ...]
    initial: str | None

    def describe(self) -> str:
        t0 = min(op.invoke for op in self.window)
        lines = [
            f"image {self.key}: no order of these {len(self.window)} operations explains what was seen"
            + (f" (starting from {self.initial})" if self.initial else "")
        ]
        for op in sorted(self.window, key=lambda o: o.invoke):
            end = "indeterminate" if op.complete is None else f"{(op.complete - t0) * 1000:8.1f} ms"
            lines.append(f"  {(op.invoke - t0) * 1000:8.1f} ms .. {end}  {op.client or '-':>8}  {op.kind} {op.value}")
        return "\n".join(lines)


@dataclass
class Result:
    ok: bool
    keys: int
    operations: int
    violations: list[Violation] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # keys whose search ran out of budget: no verdict


def check(history: Iterable[Operation], initial: dict[str, str] | None = None, *, budget: int = 5_000_000) -> Result:
    """Check every key's history; `initial` gives known starting states (unknown keys may start anywhere)."""
    by_key: dict[str, list[Operation]] = defaultdict(list)
    count = 0
    for op in history:
        by_key[op.key].append(op)
        count += 1
    result = Result(ok=True, keys=len(by_key), operations=count)
    for key, all_ops in by_key.items():
        start = (initial or {}).get(key)
        ops = prune_indeterminate(all_ops)
        verdict = linearizable(ops, start, budget=budget)
        if verdict is None:
            result.undecided.append(key)
            continue
        if not verdict:
            result.ok = False
            window = smallest_window(ops, start)
            # A window cut from the middle of the history may start in any state: say so, not `start`.
            from_start = window[0] is min(ops, key=lambda o: o.invoke)
            result.violations.append(Violation(key, tuple(window), start if from_start else None))
    return result


class StreamChecker:
    """`check`, fed one operation at a time, in memory bounded by the longest overlapping window of one
    image instead of the whole run (the streamed history of a soak: `check_files`).

    A register's history can be cut where no operation is in flight: when every operation before the cut
    completed before every operation after it was sent, any linearization of the whole is one of the part
    before followed by one of the part after, and only the register's state links them. So each closed
    segment is searched from every state the previous one can leave (`final_states`: a set of at most
    the values seen, plus None for "any"), and dropped. A cut needs the promise that nothing still to come
    was sent before it: `advance(watermark)` gives it.

    An indeterminate write never completes: it may take effect at any later instant, once, or never. It
    does not hold its key's segment open (a soak with one timeout would hold that image to the end);
    instead a segment hands over each state together with the indeterminate writes still unplaced in
    it (`Config`: the state and how many writes of each value are pending), and the next segment is
    searched with those writes in it. Writes sent before a cut are interchangeable after it (any may
    land anywhere after the cut), so the earliest-sent ones stand for them (`carried`).

    The verdict (ok, which keys are violated) is the one `check` gives on the same history; a violation's
    window is cut from the failing segment (so it is never longer than `check`'s, and may be shorter).
    """

    def __init__(
        self, initial: dict[str, str] | None = None, *, budget: int = 5_000_000, cut_budget: int = 200_000
    ) -> None:
        self.initial = dict(initial or {})
        self.budget = budget
        # Search steps allowed for a closed segment's end states (every linearization, not the first one).
        # A segment too tangled for it (e.g. every operation widened by a worker's clock bound of
        # milliseconds, so a user's back-to-back operations overlap) is not cut: its key is held until
        # `finish`, then searched like `check` does, with `budget`. The same verdict either way.
        self.cut_budget = cut_budget
        self.uncut: set[str] = set()  # keys held whole from their first tangled segment on
        self.pending: dict[str, list[Operation]] = {}  # per key: operations not yet in a closed segment
        self.starts: dict[str, set[Config]] = {}  # per key: the configurations the closed segments can leave
        # per key and value: the indeterminate writes of closed segments, earliest sent first (see Config)
        self.carried: dict[str, dict[str, list[Operation]]] = {}
        self.done: set[str] = set()  # keys found violated or undecided: nothing more to check
        self.result = Result(ok=True, keys=0, operations=0)
        self.keys: set[str] = set()
        self.held = 0  # operations held now
        self.peak_held = 0  # the most held at once: the memory this checker needed
        self.segments = 0

    def add(self, op: Operation) -> None:
        self.result.operations += 1
        self.keys.add(op.key)
        if op.key in self.done:
            return
        self.pending.setdefault(op.key, []).append(op)
        self.held += 1
        self.peak_held = max(self.peak_held, self.held)

    def advance(self, watermark: float) -> None:
        """Nothing added from now on was sent before `watermark`: close every segment that ends before it."""
        for key in list(self.pending):
            if key not in self.uncut:
                self._close(key, watermark)

    def finish(self) -> Result:
        """Everything is in: check what is left of each key (including its indeterminate operations)."""
        for key in list(self.pending):
            if key not in self.uncut:
                self._close(key, math.inf)
            rest = self.pending.pop(key, [])
            self.held -= len(rest)
            if rest and key not in self.done:
                self._segment(key, rest, final=True)
        self.result.keys = len(self.keys)
        return self.result

    def _close(self, key: str, watermark: float) -> None:
        ops = self.pending[key]
        ops.sort(key=lambda o: o.invoke)
        # reach: the latest completion among ops[:j]; an indeterminate write does not hold the cut (it is
        # handed over, see the class)
        begin, reach = 0, -math.inf
        for j, op in enumerate(ops):
            if not reach < watermark:
                break  # something still to come may overlap: no cut from here on
            if j > begin and reach < op.invoke:
                if not self._segment(key, ops[begin:j], final=False):
                    break  # too tangled to cut: held from `begin` on
                begin = j
                if key in self.done:
                    break
            if op.complete is not None:
                reach = max(reach, op.complete)
        else:
            if reach < watermark and key not in self.done and self._segment(key, ops[begin:], final=False):
                begin = len(ops)  # the last operations are closed too
        if key in self.done:
            begin = len(ops)
        self.held -= begin
        if begin == len(ops):
            del self.pending[key]
        elif begin:
            self.pending[key] = ops[begin:]

    def _segment(self, key: str, own: list[Operation], *, final: bool) -> bool:
        """Check one segment from the configurations the last one left; False: not cut (see cut_budget)."""
        self.segments += 1
        starts = self.starts.get(key) or {(self.initial.get(key), ())}
        op = own[0]
        if not final and len(own) == 1 and op.complete is not None:  # the common case: one user per image
            if key not in self.carried:  # nothing pending (no write carried): no search
                if op.kind == "write" or any(s is None or s == op.value for s, _ in starts):
                    self.starts[key] = {(op.value, ())}
                    return True
                return self._violated(key, own, starts)
            if op.kind == "write":  # no search either: what was pending stays so (landing after it = next)
                self.starts[key] = _maximal({(op.value, pending) for _, pending in starts})
                return True
        ends: set[Config] = set()
        if final:
            spent = False
            for start, pending in starts:
                ops = prune_indeterminate(self._with_pending(key, pending, own)[0])
                # only indeterminate writes no read needs: they may never have happened
                verdict = linearizable(ops, start, budget=self.budget) if ops else True
                if verdict:  # nothing follows the last segment: one way to explain it is enough
                    return True
                spent |= verdict is None
            if spent:
                self.result.undecided.append(key)
                self.done.add(key)
                return True
            return self._violated(key, own, starts)
        for start, pending in starts:
            ops, untouched = self._with_pending(key, pending, own)
            searched, spare = _needed(ops)
            found = final_configs(searched, start, budget=self.cut_budget)
            if found is None:
                self.segments -= 1
                self.uncut.add(key)
                return False
            ends |= {(state, _plus(_plus(left, spare), untouched)) for state, left in found}
        if not ends:
            return self._violated(key, own, starts)
        ends = _maximal(ends)
        self.starts[key] = ends
        # Handed over: the indeterminate writes, earliest sent first, as many of each value as may be pending.
        carried = self.carried.setdefault(key, {})
        for w in own:
            if w.complete is None and w.kind == "write":
                carried.setdefault(w.value, []).append(w)
        most: dict[str, int] = defaultdict(int)
        for _, pending in ends:
            for value, n in pending:
                most[value] = max(most[value], n)
        for value in list(carried):
            carried[value].sort(key=lambda o: o.invoke)
            del carried[value][min(most[value], STAND_INS) :]
            if not carried[value]:
                del carried[value]
        if not carried:
            del self.carried[key]
        return True

    def _with_pending(self, key: str, pending: Pending, own: list[Operation]) -> tuple[list[Operation], Pending]:
        """A segment's operations with the pending writes it could need, per value at most as many as it
        has answered reads of that value (`_needed`); and how many of each stay pending regardless."""
        reads: Counter[str] = Counter(op.value for op in own if op.kind == "read" and op.complete is not None)
        carried = self.carried.get(key, {})
        ops: list[Operation] = []
        spare: dict[str, int] = {}
        for value, n in pending:
            k, stand_ins = min(n, reads[value]), carried[value]
            ops += [stand_ins[min(i, len(stand_ins) - 1)] for i in range(k)]  # interchangeable: see the class
            if n > k:
                spare[value] = n - k
        return ops + own, tuple(sorted(spare.items()))

    def _violated(self, key: str, own: list[Operation], starts: set[Config]) -> bool:
        """No order explains the segment from any configuration the last one left: a violation, its window
        cut from one of them (the same one every time) and failing from its state."""
        self.done.add(key)
        self.result.ok = False
        start, pending = min(starts, key=repr)
        ops = self._with_pending(key, pending, own)[0]
        window = smallest_window(ops, start)
        from_start = window[0] is min(ops, key=lambda o: o.invoke)
        self.result.violations.append(Violation(key, tuple(window), start if from_start else None))
        return True


def prune_indeterminate(ops: Sequence[Operation]) -> list[Operation]:
    """Drop indeterminate writes that cannot matter, so a run full of timeouts stays quick to check.

    An indeterminate write of V may take effect at any instant after it was sent, or never. Only a write
    that some read of V observes is ever needed, so at most as many V-writes as there are determinate
    reads of V; and a write sent earlier can stand in for one sent later (it may be placed anywhere the
    later one may). So keeping, per value, the earliest-sent ones up to that count loses no explanation.
    """
    return _needed(ops)[0]


def linearizable(ops: Sequence[Operation], initial: str | None = None, *, budget: int | None = None) -> bool | None:
    """One register. `initial=None` lets the search choose the starting state. With a `budget` (search
    steps), None means the search gave up before an answer."""
    return _search(ops, initial, budget, None)


def final_states(ops: Sequence[Operation], initial: str | None, *, budget: int | None = None) -> set[str | None] | None:
    """Every state the register can be left in by some linearization of `ops` from `initial` (empty: not
    linearizable; None: the search ran out of budget)."""
    found = final_configs(ops, initial, budget=budget)
    return None if found is None else {state for state, _ in found}


# What a segment hands the next one: a state, and the indeterminate writes still unplaced, as (value, how
# many) sorted by value (writes of one value sent before a cut are interchangeable after it).
Pending = tuple[tuple[str, int], ...]
Config = tuple[str | None, Pending]


def final_configs(ops: Sequence[Operation], initial: str | None, *, budget: int | None = None) -> set[Config] | None:
    """Every (state, pending indeterminate writes) some linearization of `ops` from `initial` can leave: the
    state after the determinate operations and the indeterminate writes it placed, with the ones it did
    not (they may still land later). Empty: not linearizable; None: the search ran out of budget."""
    found: set[Config] = set()
    return None if _search(ops, initial, budget, found) is None else found


def _search(
    ops: Sequence[Operation], initial: str | None, budget: int | None, found: set[Config] | None
) -> bool | None:
    """The search; with `found`, it does not stop at the first linearization but collects the configuration
    each one ends in (the memo still visits every (placed set, state) once, so every end is reached)."""
    n = len(ops)
    if n == 0:
        if found is not None:
            found.add((initial, ()))
        return True
    # Entries in time order: a call at `invoke`, a return at `end`. On equal times calls come first, so
    # operations that touch at an instant count as concurrent (never a false alarm).
    events = sorted([(op.invoke, 0, i) for i, op in enumerate(ops)] + [(op.end, 1, i) for i, op in enumerate(ops)])
    # A doubly linked list over the events, so linearized calls and their returns can be lifted and put back.
    size = len(events)
    nxt = [*range(1, size + 1), -1]
    prv = [-1, *range(size)]  # index 0 is a head sentinel; events live at 1..size
    ret_of = [0] * n
    for pos, (_, is_return, i) in enumerate(events, start=1):
        if is_return:
            ret_of[i] = pos
    kinds = [(op.kind == "write", op.value) for op in ops]
    indeterminate = sum(1 << i for i, op in enumerate(ops) if op.complete is None)
    everything = (1 << n) - 1

    def lift(pos: int) -> None:
        nxt[prv[pos]] = nxt[pos]
        if nxt[pos] <= size:
            prv[nxt[pos]] = prv[pos]

    def unlift(pos: int) -> None:
        nxt[prv[pos]] = pos
        if nxt[pos] <= size:
            prv[nxt[pos]] = pos

    nxt[0] = 1
    prv[1] = 0
    nxt[size] = size + 1  # past the end
    state: str | None = initial
    done = 0
    seen: set[tuple[int, str | None]] = set()
    stack: list[tuple[int, str | None]] = []  # (position of the linearized call, state before it)
    pos = nxt[0]
    steps = 0
    while True:
        steps += 1
        if budget is not None and steps > budget:
            return None
        if done | indeterminate == everything:
            if found is None:
                return True  # every determinate operation placed; indeterminate ones may never have happened
            found.add((state, _unplaced(ops, indeterminate & ~done)))
            if done == everything:
                pos = size + 1  # nothing left to place: back up for the other end states
        if pos > size:
            pos = -1  # ran off the end: nothing more can be placed here
        else:
            _, is_return, i = events[pos - 1]
            if not is_return:
                is_write, value = kinds[i]
                if is_write:
                    new_state: str | None = value
                    fits = True
                else:
                    fits = state is None or state == value
                    new_state = value
                if fits and (done | (1 << i), new_state) not in seen:
                    seen.add((done | (1 << i), new_state))
                    stack.append((pos, state))
                    state, done = new_state, done | (1 << i)
                    lift(pos)
                    lift(ret_of[i])
                    pos = nxt[0]
                    continue
                pos = nxt[pos]
                continue
            pos = -1  # a return whose call is not placed yet: this branch is dead
        if not stack:
            return bool(found)
        call, state = stack.pop()
        i = events[call - 1][2]
        done &= ~(1 << i)
        unlift(ret_of[i])
        unlift(call)
        pos = nxt[call]


def _needed(ops: Sequence[Operation]) -> tuple[list[Operation], Pending]:
    """A segment's operations to search, and how many indeterminate writes of each value were left out of
    it, still pending after it. Of the indeterminate writes of a value only as many as there are answered
    reads of it can be needed (`prune_indeterminate`, the earliest sent standing for the rest); one left
    out may still land after the segment, which is the same as landing at its end. Without this every
    segment searched each subset of interchangeable writes (2^k steps for k timeouts)."""
    reads: dict[str, int] = defaultdict(int)
    pending: dict[str, list[Operation]] = defaultdict(list)
    kept: list[Operation] = []
    for op in ops:
        if op.complete is None and op.kind == "write":
            pending[op.value].append(op)
        else:
            kept.append(op)
            if op.kind == "read" and op.complete is not None:
                reads[op.value] += 1
    spare: dict[str, int] = {}
    for value, writes in pending.items():
        writes.sort(key=lambda o: o.invoke)
        kept.extend(writes[: reads[value]])
        if len(writes) > reads[value]:
            spare[value] = len(writes) - reads[value]
    return kept, tuple(sorted(spare.items()))


def _plus(a: Pending, b: Pending) -> Pending:
    if not b:
        return a
    counts = dict(a)
    for value, n in b:
        counts[value] = counts.get(value, 0) + n
    return tuple(sorted(counts.items()))


def _maximal(configs: set[Config]) -> set[Config]:
    """The configurations no other covers: (s, P) covers (s, Q) when P has at least Q's writes of every
    value pending (a pending write may never land, so more of them pending allows everything fewer do)."""
    out: set[Config] = set()
    for state, pending in configs:
        have = dict(pending)
        covered = any(
            other != pending and s == state and all(dict(other).get(v, 0) >= n for v, n in have.items())
            for s, other in configs
        )
        if not covered:
            out.add((state, pending))
    return out


def _unplaced(ops: Sequence[Operation], bits: int) -> Pending:
    """The indeterminate writes in `bits`, as (value, how many) sorted by value."""
    if not bits:
        return ()
    counts: dict[str, int] = defaultdict(int)
    for i, op in enumerate(ops):
        if bits >> i & 1 and op.kind == "write":
            counts[op.value] += 1
    return tuple(sorted(counts.items()))


def smallest_window(ops: Sequence[Operation], initial: str | None) -> list[Operation]:
    """The shortest run of operations (in invoke order) that is not linearizable by itself: first the
    shortest failing prefix, then as many of its earliest operations dropped as still leave it failing."""
    ordered = sorted(ops, key=lambda o: o.invoke)
    lo, hi = 1, len(ordered)
    while lo < hi:  # shortest prefix that fails
        mid = (lo + hi) // 2
        if linearizable(ordered[:mid], initial):
            lo = mid + 1
        else:
            hi = mid
    prefix = ordered[:lo]
    start_lo, start_hi = 0, len(prefix) - 1
    while start_lo < start_hi:  # latest start that still fails (dropped history: any starting state)
        mid = (start_lo + start_hi + 1) // 2
        if linearizable(prefix[mid:], None if mid else initial):
            start_hi = mid - 1
        else:
            start_lo = mid
    return prefix[start_lo:]


def simulated_history(seed: int, ops: int, clients: int, keys: int) -> tuple[list[Operation], dict[str, str]]:
    """A history of real registers under concurrent clients, linearizable by construction: each operation
    takes effect at one instant inside its interval. For tests and benchmarks of the checker."""
    rng = random.Random(seed)
    state = {f"image-{k}": "Enabled" for k in range(keys)}
    initial = dict(state)
    now = [0.0] * clients
    planned: list[tuple[float, int, str, Kind, float, float]] = []
    for n in range(ops):
        client = n % clients
        start = now[client] + rng.random()
        effect = start + rng.random() * 2
        end = effect + rng.random() * 2
        now[client] = end
        kind: Kind = "write" if rng.random() < 0.6 else "read"
        planned.append((effect, n, f"image-{rng.randrange(keys)}", kind, start, end))
    history = []
    for _effect, n, key, kind, start, end in sorted(planned):
        if kind == "write":
            state[key] = rng.choice(("Enabled", "Disabled"))
        history.append(Operation(key, kind, state[key], start, end, client=f"c{n % clients}"))
    return history, initial


# ---------------------------------------------------------------- the history on disk
#
# The history of a load run on disk (`HistoryFile`, `check_files`): each locust process appends its
# completed operations to a file of its own as they complete, and `check_files` reads the files back a
# stretch at a time into a `StreamChecker`, so neither side holds the run.
#
# One JSON array per line, appended, flushed to the OS about once a second (a killed process loses at most
# its last second, and a line cut short by the kill is ignored and counted):
#
#     ["k", "<image uuid>"]  ["c", "<client>"]  ["v", "<state>"]   names, numbered in order of appearance
#     [k, 1, v, invoke, complete, c]                              an operation (1 write, 0 read; complete
#                                                                  null: indeterminate), names by number
#     ["w", t]                                                    a watermark: nothing later in this file
#                                                                  was sent before t
#
# Numbering the names keeps a line about 50 bytes (the uuid once per file, not per line). Times are
# `time.time()` floats, written exactly (JSON keeps a float's repr), so the checker sees what the process saw.
#
# The watermark is what lets the checker cut an image's history while the run's other files are still
# being read: it is the earliest send among the process's operations still in flight when the line was
# written (or the time of writing, when none was), so no operation written after it started before it.

FLUSH_SECONDS = 1.0  # how often a process's buffered lines reach the file (at most this much is lost to a crash)
HISTORY_PATTERN = "history-*.jsonl"
_COMPACT = (",", ":")
Transform = Callable[[Operation], Operation]


class HistoryFile:
    """One process's history file, appended. Lines are buffered and written by `flush`, which opens the
    file for appending and closes it again, so a process that dies between flushes leaves whole lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self.names: dict[tuple[str, str], int] = {}  # ("k" | "c" | "v", name) -> number
        self.counts = {"k": 0, "c": 0, "v": 0}
        self.last_flush = time.monotonic()
        self.bytes = 0

    def _number(self, kind: str, name: str) -> int:
        number = self.names.get((kind, name))
        if number is None:
            number = self.names[(kind, name)] = self.counts[kind]
            self.counts[kind] += 1
            self.lines.append(json.dumps([kind, name], separators=_COMPACT))
        return number

    def append(self, op: Operation) -> None:
        key, value, client = self._number("k", op.key), self._number("v", op.value), self._number("c", op.client)
        self.lines.append(
            json.dumps([key, int(op.kind == "write"), value, op.invoke, op.complete, client], separators=_COMPACT)
        )

    def due(self) -> bool:
        return time.monotonic() - self.last_flush >= FLUSH_SECONDS

    def flush(self, watermark: float | None = None) -> None:
        """Write the buffered lines (and a watermark line after them); nothing is kept in memory after."""
        if watermark is not None:
            self.lines.append(json.dumps(["w", watermark], separators=_COMPACT))
        self.last_flush = time.monotonic()
        if not self.lines:
            return
        text = "\n".join(self.lines) + "\n"
        self.lines = []
        with self.path.open("a") as f:
            f.write(text)
        self.bytes += len(text)


@dataclass
class Seen:
    """What the history files held, besides the verdict."""

    files: int = 0
    bytes: int = 0
    operations: int = 0
    writes: int = 0
    torn: int = 0  # lines cut short (a process killed mid-write) or naming what was never defined: ignored
    clients: set[str] = field(default_factory=set)


class _Reader:
    """One file, read a stretch at a time: the operations up to its next watermark."""

    def __init__(self, path: Path, seen: Seen, transform: Transform | None, lag: float) -> None:
        self.file = path.open()
        self.seen, self.transform, self.lag = seen, transform, lag
        self.names: dict[str, list[str]] = {"k": [], "c": [], "v": []}
        self.watermark = -math.inf
        self.ended = False

    def stretch(self) -> list[Operation]:
        ops: list[Operation] = []
        for line in self.file:
            try:
                if not line.endswith("\n"):
                    raise ValueError("cut short")
                row = json.loads(line)
                if row[0] == "w":
                    self.watermark = float(row[1]) - self.lag
                    return ops
                if isinstance(row[0], str):
                    self.names[row[0]].append(str(row[1]))
                    continue
                key, is_write, value, invoke, complete, client = row
                name = self.names["c"][client]
                op = Operation(
                    self.names["k"][key],
                    "write" if is_write else "read",
                    self.names["v"][value],
                    float(invoke),
                    None if complete is None else float(complete),
                    name,
                )
                if self.transform is not None:
                    op = self.transform(op)
            except (ValueError, TypeError, IndexError, KeyError):
                self.seen.torn += 1
                continue
            self.seen.operations += 1
            self.seen.writes += is_write
            self.seen.clients.add(name)
            ops.append(op)
        self.ended = True
        self.watermark = math.inf
        self.file.close()
        return ops


def history_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(HISTORY_PATTERN))


def read_files(directory: Path, seen: Seen | None = None) -> Iterator[Operation]:
    """Every operation in the directory's history files, file after file (for tests and the bench)."""
    seen = seen or Seen()
    for path in history_files(directory):
        reader = _Reader(path, seen, None, 0.0)
        while not reader.ended:
            yield from reader.stretch()


def check_files(
    directory: Path,
    initial: dict[str, str] | None = None,
    *,
    transform: Transform | None = None,
    lag: float = 0.0,
    extra: Iterable[Operation] = (),
    checker: StreamChecker | None = None,
) -> tuple[Result, Seen]:
    """Check the run's history files together, a stretch of each in turn, so the checker holds only the
    operations that still overlap one not yet read. `transform` puts each operation on the master's clock
    (and widens it); `lag` is the most it moves a send earlier, so each watermark moves by as much. `extra`
    are operations made after the run (the final reads), checked last."""
    seen = Seen()
    paths = history_files(directory)
    seen.files, seen.bytes = len(paths), sum(p.stat().st_size for p in paths)
    checker = checker or StreamChecker(initial)
    readers = [_Reader(path, seen, transform, lag) for path in paths]
    while readers:
        for reader in readers:
            for op in reader.stretch():
                checker.add(op)
        readers = [r for r in readers if not r.ended]
        checker.advance(min((r.watermark for r in readers), default=math.inf))
    for op in extra:
        checker.add(op)
    return checker.finish(), seen
