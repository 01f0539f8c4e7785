"""The history of a load run on disk: each locust process appends its completed operations to a file of
its own as they complete, and the checker reads the files back in stretches, so neither holds the run.

One JSON array per line, appended, flushed to the OS about once a second (a killed process loses at most
its last second, and a line cut short by the kill is ignored and counted):

    ["k", "<image uuid>"]  ["c", "<client>"]  ["v", "<state>"]   names, numbered in order of appearance
    [k, 1, v, invoke, complete, c]                              an operation (1 write, 0 read; complete
                                                                 null: indeterminate), names by number
    ["w", t]                                                    a watermark: nothing later in this file
                                                                 was sent before t

Numbering the names keeps a line about 50 bytes (the uuid once per file, not per line). Times are
`time.time()` floats, written exactly (JSON keeps a float's repr), so the checker sees what the process saw.

The watermark is what lets the checker cut an image's history while the run's other files are still
being read: it is the earliest send among the process's operations still in flight when the line was
written (or the time of writing, when none was), so no operation written after it started before it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zscheck.linearizability import Operation, Result, StreamChecker

FLUSH_SECONDS = 1.0  # how often a process's buffered lines reach the file (at most this much is lost to a crash)
PATTERN = "history-*.jsonl"
_COMPACT = (",", ":")
Transform = Callable[[Operation], Operation]


class OpLog:
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


def files(directory: Path) -> list[Path]:
    return sorted(directory.glob(PATTERN))


def read(directory: Path, seen: Seen | None = None) -> Iterator[Operation]:
    """Every operation in the directory's history files, file after file (for tests and the bench)."""
    seen = seen or Seen()
    for path in files(directory):
        reader = _Reader(path, seen, None, 0.0)
        while not reader.ended:
            yield from reader.stretch()


def check(
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
    paths = files(directory)
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
