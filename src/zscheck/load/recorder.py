"""Everything one load-generating process saw: metrics, the history of operations, failures grouped.

A worker drains its recorder into each report to the locust master, which absorbs them; the master (or
the only process) writes the total as the run's raw results. `RunResults` reads them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck.errors import TargetError
from zscheck.linearizability import Operation
from zscheck.metrics import Metrics

MAX_EXAMPLES = 3  # reproducers kept per failure group: a flood of one failure stays one line


@dataclass
class FailureGroup:
    operation: str  # e.g. "changeImageState enable"
    check: str  # the check that failed, e.g. "status_code"
    code: str  # the error code seen ("-" when there was none)
    count: int = 0
    examples: list[dict[str, str]] = field(default_factory=list)


class Recorder:
    def __init__(self, history_limit: int = 2_000_000) -> None:
        self.metrics = Metrics()
        self.history: list[Operation] = []
        self.history_limit = history_limit
        self.history_dropped = 0
        self.failures: dict[tuple[str, str, str], FailureGroup] = {}

    def operation(self, op: Operation) -> None:
        if len(self.history) < self.history_limit:
            self.history.append(op)
        else:
            self.history_dropped += 1

    def failure(self, operation: str, check: str, code: str | None, example: dict[str, str]) -> None:
        key = (operation, check, code or "-")
        group = self.failures.get(key)
        if group is None:
            group = self.failures[key] = FailureGroup(*key)
        group.count += 1
        if len(group.examples) < MAX_EXAMPLES:
            group.examples.append(example)

    # ------------------------------------------------------------------ between processes

    def drain(self) -> dict[str, Any]:
        data = {
            "metrics": self.metrics.drain(),
            "history": [[o.key, o.kind, o.value, o.invoke, o.complete, o.client] for o in self.history],
            "history_dropped": self.history_dropped,
            "failures": [[g.operation, g.check, g.code, g.count, g.examples] for g in self.failures.values()],
        }
        self.history = []
        self.history_dropped = 0
        self.failures = {}
        return data

    def absorb(self, data: dict[str, Any]) -> None:
        self.metrics.absorb(data.get("metrics", {}))
        for key, kind, value, invoke, complete, client in data.get("history", []):
            self.operation(Operation(key, kind, value, invoke, complete, client))
        self.history_dropped += int(data.get("history_dropped", 0))
        for operation, check, code, count, examples in data.get("failures", []):
            group = self.failures.get((operation, check, code))
            if group is None:
                group = self.failures[(operation, check, code)] = FailureGroup(operation, check, code)
            group.count += count
            group.examples.extend(examples[: MAX_EXAMPLES - len(group.examples)])


@dataclass
class RunResults:
    """The raw results of one load run, as the master wrote them."""

    recorder: Recorder
    started: float
    stopped: float

    @property
    def duration(self) -> float:
        return max(self.stopped - self.started, 1e-9)

    @staticmethod
    def write(path: Path, recorder: Recorder, started: float, stopped: float) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"started": started, "stopped": stopped, **recorder.drain()}))
        tmp.replace(path)  # whole or absent: a reader never sees half a file

    @classmethod
    def read(cls, path: Path) -> RunResults:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TargetError(f"the load run wrote no results ({path} is missing): see locust.log") from None
        recorder = Recorder(history_limit=len(data.get("history", [])) + 1)
        recorder.absorb(data)
        return cls(recorder, float(data["started"]), float(data["stopped"]))
