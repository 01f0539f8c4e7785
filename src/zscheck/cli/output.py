"""The handlers every command's events go to: what a person sees and what a script reads.

`Terminal` draws the live view (the load tick redrawn in place) on a terminal and plain lines anywhere
else (CI logs, pipes); `quiet=True` keeps the command's verdict and violations only. `JsonLines` writes every event
as one JSON object per line (`--events FILE`), for scripts that want the facts without parsing text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from zscheck.events import Emit, Event, LoadTick, VerdictReached, ViolationFound


class Terminal:
    """`quiet`: the command's verdict only (its headline, with why it could not run, and the report path)
    and its violations, one line each: no progress, no phase lines, no summaries, no inner verdicts (a
    `zscheck run`'s phases are in its report). `command` names whose verdict that is (None: any)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, command: str | None = None) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.command = command
        self.live = self.stream.isatty()
        self._ticking = False  # the last thing drawn is a tick line without its newline

    def __call__(self, event: Event) -> None:
        if self.quiet:
            if isinstance(event, VerdictReached) and self.command in (None, event.phase):
                print(event.short(), file=self.stream, flush=True)
            elif isinstance(event, ViolationFound) and self.command in (None, event.phase):
                print(event.line(), file=self.stream, flush=True)
            return
        if self.live and isinstance(event, LoadTick):
            print("\r\033[K" + event.line(), end="", file=self.stream, flush=True)
            self._ticking = True
            return
        if self._ticking:
            print(file=self.stream)
            self._ticking = False
        print(event.line(), file=self.stream, flush=True)


class JsonLines:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")  # this run's events only

    def __call__(self, event: Event) -> None:
        self.file.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def fan_out(handlers: Sequence[Emit]) -> Emit:
    def emit(event: Event) -> None:
        for handler in handlers:
            handler(event)

    return emit
