"""What a running command tells the outside: typed events, not formatted text.

Runners (`zscheck.run`, the contract, load and capacity runners, drift) emit these through an `Emit`
callable and never print. Every output is a handler that receives them (`zscheck.cli.output`: the live
terminal, plain lines for CI logs, `--quiet`, JSON lines), so what the terminal shows and what a script
reads come from the same facts, and nobody parses a line back. `line()` is each event's plain rendering,
the one place its wording lives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zscheck.verdict import Verdict


@dataclass(frozen=True)
class Event:
    phase: str  # the command or phase the event belongs to: contract, load, capacity, drift, run, ...

    def line(self) -> str:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        body = {k: (v.word if isinstance(v, Verdict) else v) for k, v in dataclasses.asdict(self).items()}
        return {"event": type(self).__name__, **body}


@dataclass(frozen=True)
class Note(Event):
    """Something worth a line of its own: what is being set up, a step's outcome, a report's path."""

    text: str

    def line(self) -> str:
        return f"{self.phase}: {self.text}"


@dataclass(frozen=True)
class PhaseStarted(Event):
    number: int
    total: int

    def line(self) -> str:
        return f"run: [{self.number}/{self.total}] {self.phase} ..."


@dataclass(frozen=True)
class PhaseFinished(Event):
    number: int
    total: int
    verdict: Verdict
    seconds: float
    error: str | None = None

    def line(self) -> str:
        word = (
            self.verdict.word
            if self.phase != "drift" or self.verdict is Verdict.COULD_NOT_RUN
            else ("PASS (no drift)" if self.verdict is Verdict.PASS else "drift found (reported, not a violation)")
        )
        detail = f": {self.error}" if self.error else ""
        return f"run: [{self.number}/{self.total}] {self.phase}: {word} in {self.seconds:.0f} s{detail}"


@dataclass(frozen=True)
class SuiteProgress(Event):
    """The conformance run after each suite."""

    done: int
    total: int
    requests: int
    failures: int
    elapsed: float
    left: float

    def line(self) -> str:
        return (
            f"contract: {self.done}/{self.total} suites, {self.requests} requests, {self.failures} failures, "
            f"{self.elapsed:.0f} s elapsed, about {self.left:.0f} s left"
        )


@dataclass(frozen=True)
class LoadTick(Event):
    """A load run every few seconds; a live terminal redraws it in place."""

    elapsed: float
    duration: float
    rps: float | None = None  # operations per second (the `rps` gate's unit); None until locust has written
    requests: int = 0  # operations so far (state changes, queries, invalid requests; not HTTP requests)
    failures: int = 0
    users: int = 0

    def line(self) -> str:
        text = f"load: {min(self.elapsed, self.duration):3.0f}/{self.duration:.0f} s"
        if self.rps is not None:
            text += f"  {self.rps:7.0f} ops/s  {self.requests} operations  {self.failures} failures  users {self.users}"
        return text


@dataclass(frozen=True)
class ViolationFound(Event):
    """One kind of violation, as soon as it is known (what `--quiet` still shows)."""

    check: str
    text: str

    def line(self) -> str:
        return f"zscheck: violation {self.check}: {self.text}"


@dataclass(frozen=True)
class VerdictReached(Event):
    """A command's end: its verdict, the lines that explain it, where the reports are."""

    verdict: Verdict
    target: str
    seed: int | None = None
    details: tuple[str, ...] = field(default_factory=tuple)
    report: str | None = None
    reason: str | None = None  # why it could not run, said in the headline

    def headline(self) -> str:
        seed = f", seed {self.seed}" if self.seed is not None else ""
        why = f" - {self.reason}" if self.reason and self.verdict is Verdict.COULD_NOT_RUN else ""
        return f"zscheck: {self.verdict.word} ({self.phase}) - {self.target}{seed}{why}"

    def line(self) -> str:
        lines = [self.headline(), *(f"zscheck: {d}" for d in self.details)]
        if self.report:
            lines.append(f"zscheck: report {self.report}")
        return "\n".join(lines)

    def short(self) -> str:
        """The verdict alone (`--quiet`): the headline and where the reports are."""
        return self.headline() + (f"\nzscheck: report {self.report}" if self.report else "")


Emit = Callable[[Event], None]


def discard(event: Event) -> None:
    """The handler that shows nothing (a library caller that only wants the result)."""
