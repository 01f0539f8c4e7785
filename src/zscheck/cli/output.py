"""The handlers every command's events go to: what a person sees and what a script reads.

`Terminal` draws the live view (the load tick redrawn in place, with a chart of the rate so far) on a
terminal and plain lines anywhere else (CI logs, pipes); `quiet=True` keeps the command's verdict and
violations only. `JsonLines` writes every event as one JSON object per line (`--events FILE`), for
scripts that want the facts without parsing text.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from zscheck.events import Emit, Event, LoadTick, VerdictReached, ViolationFound

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as bars scaled between their own min and max, with that range: a long run's
    drift or a sudden drop shows at a glance. Empty when there is no room or nothing to draw."""
    shown = list(values)[-width:] if width > 0 else []
    if len(shown) < 2:
        return ""
    low, high = min(shown), max(shown)
    span = (high - low) or 1.0
    bars = "".join(BARS[min(int((v - low) / span * len(BARS)), len(BARS) - 1)] for v in shown)
    return f"{bars} {low:.0f}-{high:.0f}"


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
        self._rates: list[float] = []  # every tick's ops/s so far (live view): the chart's data

    def __call__(self, event: Event) -> None:
        if self.quiet:
            if isinstance(event, VerdictReached) and self.command in (None, event.phase):
                print(event.short(), file=self.stream, flush=True)
            elif isinstance(event, ViolationFound) and self.command in (None, event.phase):
                print(event.line(), file=self.stream, flush=True)
            return
        if self.live and isinstance(event, LoadTick):
            line = event.line()
            if event.rps is not None:
                self._rates.append(event.rps)
            # The chart takes what the line leaves of the terminal's width: a wrapped line would not redraw.
            room = shutil.get_terminal_size().columns - len(line) - len("  ops/s ") - 12
            chart = sparkline(self._rates, min(room, 60))
            print("\r\033[K" + line + (f"  ops/s {chart}" if chart else ""), end="", file=self.stream, flush=True)
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
