"""Everything one load-generating process saw: metrics, the history of operations, failures grouped.

A worker drains its recorder into each report to the locust master, which absorbs them; the master (or
the only process) writes the total as the run's raw results. `RunResults` reads them back.

The history goes to disk as it is made (`zscheck.linearizability.HistoryFile`), so memory does not grow with the run: a
process on the master's machine appends to a file of its own; a worker on another machine sends its
operations with each report (a few seconds' worth) and the master appends them to a file per worker.
The raw results then keep only the summary (histograms, failures, the timeline). A recorder without a
history directory keeps the history in memory (up to `history_limit`), as before.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck.errors import TargetError
from zscheck.linearizability import HistoryFile, Operation
from zscheck.metrics import Metrics

MAX_EXAMPLES = 3  # reproducers kept per failure group: a flood of one failure stays one line
MAX_ACTIONS = 20  # one-line accounts kept of what the harness did on its own (re-logins, refused re-sends)
# What the harness and its libraries did besides the operations themselves; counted, so none is hidden.
HARNESS_ACTIONS = {
    "connections": "TCP connections opened by the load users (one per user is expected)",
    "reconnects": "connections opened after a user's first one: a closed idle connection or one closed on a request",
    "resends_refused": "re-sends the HTTP library attempted after a connection closed without an answer (refused)",
    "session_checks": "ValidateSession requests sent after a live session was answered ID.1001",
    "relogins": "logins to carry on after the target ended the process's session",
    "relogin_failures": "re-logins the target refused (the process's users then carry on with the ended session)",
    "resyncs": "reads of an owned image whose state an indeterminate or refused change left unknown",
    "read_after_write": "reads of an owned image right after its change was acknowledged (read-your-writes)",
}


@dataclass
class FailureGroup:
    operation: str  # e.g. "changeImageState enable"
    check: str  # the check that failed, e.g. "status_code"
    code: str  # the error code seen ("-" when there was none)
    count: int = 0
    examples: list[dict[str, str]] = field(default_factory=list)


class Recorder:
    def __init__(self, history_limit: int = 2_000_000, history: Path | None = None, name: str = "w0") -> None:
        self.metrics = Metrics()
        self.history: list[Operation] = []
        self.history_limit = history_limit
        self.history_dropped = 0
        self.history_dir = history
        self.log = None if history is None else HistoryFile(history / f"history-{name}.jsonl")
        self.remote_logs: dict[str, HistoryFile] = {}  # the master's files for workers on other machines
        self.in_flight: dict[int, float] = {}  # token -> when an operation not yet recorded was sent
        self.tokens = itertools.count()
        self.failures: dict[tuple[str, str, str], FailureGroup] = {}
        self.harness: Counter[str] = Counter()
        self.actions: list[str] = []

    def count(self, action: str, detail: str | None = None) -> None:
        """The harness did something on its own (see HARNESS_ACTIONS); `detail` keeps a line of it."""
        self.harness[action] += 1
        if detail is not None and len(self.actions) < MAX_ACTIONS:
            self.actions.append(detail)

    def begin(self, invoked: float) -> int:
        """An operation sent at `invoked` is in flight: no watermark passes it until `end`."""
        token = next(self.tokens)
        self.in_flight[token] = invoked
        return token

    def end(self, token: int) -> None:
        self.in_flight.pop(token, None)
        if self.log is not None and self.log.due():
            self.log.flush(self.watermark())

    def watermark(self) -> float:
        """Every operation recorded from now on was sent at this time or later."""
        return min(self.in_flight.values(), default=time.time())

    def flush(self) -> None:
        """Everything recorded so far onto disk (end of run; the logs also flush about once a second)."""
        if self.log is not None:
            self.log.flush(self.watermark())
        for log in self.remote_logs.values():
            log.flush()

    def operation(self, op: Operation) -> None:
        if self.log is not None:
            self.log.append(op)
        elif len(self.history) < self.history_limit:
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
            "watermark": self.watermark(),
            "failures": [[g.operation, g.check, g.code, g.count, g.examples] for g in self.failures.values()],
            "harness": dict(self.harness),
            "actions": self.actions,
        }
        self.history = []
        self.history_dropped = 0
        self.failures = {}
        self.harness = Counter()
        self.actions = []
        return data

    def absorb(self, data: dict[str, Any], source: str = "") -> None:
        """Add what another process drained; `source` names it (its history gets a file of its own)."""
        self.metrics.absorb(data.get("metrics", {}))
        history = data.get("history", [])
        if self.history_dir is not None and (history or source in self.remote_logs):
            log = self.remote_logs.get(source)
            if log is None:
                safe = re.sub(r"[^\w.-]", "_", source)  # locust's client id: host name and a uuid
                log = self.remote_logs[source] = HistoryFile(self.history_dir / f"history-remote-{safe}.jsonl")
            for key, kind, value, invoke, complete, client in history:
                log.append(Operation(key, kind, value, invoke, complete, client))
            log.flush(data.get("watermark"))
        else:
            for key, kind, value, invoke, complete, client in history:
                self.operation(Operation(key, kind, value, invoke, complete, client))
        self.history_dropped += int(data.get("history_dropped", 0))
        for operation, check, code, count, examples in data.get("failures", []):
            group = self.failures.get((operation, check, code))
            if group is None:
                group = self.failures[(operation, check, code)] = FailureGroup(operation, check, code)
            group.count += count
            group.examples.extend(examples[: MAX_EXAMPLES - len(group.examples)])
        self.harness.update(data.get("harness", {}))
        self.actions.extend(data.get("actions", [])[: MAX_ACTIONS - len(self.actions)])


@dataclass
class RunResults:
    """The raw results of one load run, as the master wrote them."""

    recorder: Recorder
    started: float
    stopped: float
    errors: list[str] = field(default_factory=list)  # workers that could not run, and why
    # worker index -> its clock's rounds of measurement: (the master's time, its clock less the master's,
    # the bound on that), at its start and then every CLOCK_INTERVAL (users.py; selfcheck.WorkerClock)
    clocks: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max(self.stopped - self.started, 1e-9)

    @staticmethod
    def write(
        path: Path,
        recorder: Recorder,
        started: float,
        stopped: float,
        errors: list[str] | None = None,
        clocks: dict[str, list[tuple[float, float, float]]] | None = None,
    ) -> None:
        tmp = path.with_suffix(".tmp")
        body = {
            "started": started,
            "stopped": stopped,
            "errors": list(errors or []),
            "clocks": {k: [list(r) for r in rounds] for k, rounds in (clocks or {}).items()},
            **recorder.drain(),
        }
        tmp.write_text(json.dumps(body))
        tmp.replace(path)  # whole or absent: a reader never sees half a file

    @classmethod
    def read(cls, path: Path) -> RunResults:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TargetError(f"the load run wrote no results ({path} is missing): see locust.log") from None
        recorder = Recorder(history_limit=len(data.get("history", [])) + 1)
        recorder.absorb(data)
        clocks = {
            str(k): [(float(t), float(o), float(b)) for t, o, b in rounds]
            for k, rounds in data.get("clocks", {}).items()
        }
        return cls(
            recorder, float(data["started"]), float(data["stopped"]), [str(e) for e in data.get("errors", [])], clocks
        )
