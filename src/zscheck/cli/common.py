"""What every command shares: exit codes, the event handlers a command's options ask for, and the last
resort of an interrupted run. The only layer that prints or exits."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from zscheck import options, rundir
from zscheck.cli.output import JsonLines, Terminal, fan_out
from zscheck.control import RunControl
from zscheck.events import Emit
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict

EXIT_OK, EXIT_CANNOT_RUN = Verdict.PASS.exit_code, Verdict.COULD_NOT_RUN.exit_code
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    sub: Subparsers,
    name: str,
    help: str,
    description: str,
    epilog: str,
    func: Callable[[argparse.Namespace], int] | None = None,
) -> argparse.ArgumentParser:
    """A command's parser; with `func`, also its option groups (`zscheck.options`) and what runs it."""
    parser = sub.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if func is not None:
        options.add_groups(parser, name)
        parser.set_defaults(func=func)
    return parser


def execute(
    args: argparse.Namespace,
    target: TargetOptions,
    run: Callable[[RunControl, Emit, Path], Verdict],
    report_dir: Path | None = None,
) -> int:
    """Run a command against its target: the password checked first, then its report directory claimed
    (`zscheck.rundir`: its own, never shared or reused) and handed to `run`, one control object whose first
    signal unwinds through the restore, the handlers its options ask for; the verdict is the exit code."""
    target.validate().require_password()
    directory = Path(".")
    if report_dir is not None:
        directory = rundir.claim(report_dir, given=bool(getattr(args, "report_dir", None)))
    control = RunControl()
    from zscheck.cli.runs import Recording  # here: zscheck.cli.runs builds on this module

    recording = Recording(args, target)  # the run store (issue 13): the documents the run wrote, recorded
    with handlers(args) as emit, control.for_command():
        return recording.record(run(control, recording.tap(emit), directory)).exit_code


@contextmanager
def handlers(args: argparse.Namespace) -> Iterator[Emit]:
    """The terminal (live or plain, `--quiet`), and JSON lines when `--events FILE` is given."""
    terminal = Terminal(quiet=bool(getattr(args, "quiet", False)), command=getattr(args, "command", None))
    events = getattr(args, "events", None)
    if not events:
        yield terminal
        return
    sink = JsonLines(Path(events))
    try:
        yield fan_out([terminal, sink])
    finally:
        sink.close()


def last_resort(message: str) -> NoReturn:
    """An interrupted run that did not stop in time: say what was restored, and end the process now."""
    print(f"zscheck: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_CANNOT_RUN)


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float in it (at any depth) made None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def print_and_write(
    lines: Iterable[str], document: dict[str, Any], args: argparse.Namespace, page: Callable[[], str]
) -> None:
    """A statistics command's outputs: its text on stdout, then `--json FILE` and `--html FILE` when asked
    (`page` builds the HTML only then: it imports matplotlib)."""
    for line in lines:
        print(line)
    if args.json:
        # NaN and Infinity are not JSON (a strict reader, jq or Go, refuses the whole file): an undefined
        # number (a change from 0) is written as null, and allow_nan=False proves none is left.
        text = json.dumps(finite(document), indent=2, allow_nan=False)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    if args.html:
        Path(args.html).write_text(page(), encoding="utf-8")
        print(f"zscheck: report {args.html}")
