"""The `zscheck` command. Thin: parse, call the library, hand its events to the output handlers, exit.

Exit codes, for every command: 0 conformant (or clean shutdown), 1 violations found, 2 could not run.
Nothing below this package prints or exits (`tests/test_architecture.py` holds it to that); the library
raises `ZscheckError`s that become one line here. Each command is a module of its own; each option is
declared once, in `zscheck.options`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from zscheck import __version__
from zscheck.cli import all_in_one, compare, contract, diff, drift, load, noise, replay, restore, runs, serve, trend
from zscheck.cli.common import EXIT_CANNOT_RUN, EXIT_OK, Subparsers, add_command
from zscheck.config import Setting, resolve
from zscheck.errors import ConfigError, ZscheckError
from zscheck.options import COMMANDS, options_of
from zscheck.refserver.faults import FAULTS, LOAD_FAULTS
from zscheck.target import masked_url

__all__ = ["build_parser", "main"]
_TOP_LEVEL_VALUES = ("--config", "--profile")  # the top-level options that take a value


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the value, the rule, where the options are listed) and exit
    2, like every other error that is not a verdict; its subcommands' parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No prefix matching: `diff --baseline` read as `--baseline-target`, and a prefix that is unique
        # today becomes ambiguous, or another option, when an option is added.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {one_line(message)} (`{self.prog} --help` lists the options)", file=sys.stderr)
        sys.exit(EXIT_CANNOT_RUN)


def one_line(text: str) -> str:
    """A message as one line: a library message that spans lines (a TOML parser's) is joined with ` | `."""
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "(no message)"


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = OneLineParser(
        prog="zscheck",
        description="Contract and load testing for ZStack's ChangeImageState API. "
        "Exit codes: 0 conformant, 1 violations found, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"zscheck {__version__}")
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="configuration file (default: ./zscheck.toml, else [tool.zscheck] in ./pyproject.toml)",
    )
    parser.add_argument(
        "--profile", default=None, metavar="NAME", help="apply [profiles.NAME] of the configuration file"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.register(sub)
    _add_faults(sub)
    all_in_one.register(sub)
    contract.register(sub)
    drift.register(sub)
    load.register(sub)
    restore.register(sub)
    replay.register(sub)
    runs.register(sub)
    compare.register(sub)
    noise.register(sub)
    trend.register(sub)
    diff.register(sub)
    _add_config(sub)
    return parser


def fault_commands() -> list[str]:
    """The commands whose embedded server takes --fault NAME, from the one table of options."""
    return [c for c in COMMANDS if any(o.flag == "fault" and o.cli for _, o in options_of(c))]


def _add_faults(sub: Subparsers) -> None:
    takers = fault_commands()
    p = add_command(
        sub,
        "faults",
        "list the reference server's deliberate fault modes",
        f"List the fault modes of `zscheck serve --fault NAME` (and of the embedded server of "
        f"{', '.join(takers)} with --fault NAME).",
        "examples:\n  zscheck faults\n"
        + "".join(f"  zscheck {c} --fault {_example_fault(c)}\n" for c in takers)
        + "  zscheck serve --fault disable-noop",
    )
    p.set_defaults(func=_cmd_faults)


def _example_fault(command: str) -> str:
    if command == "noise":
        return "latency-under-load --pairs 2"
    return "lost-update-race --scenario contention" if command in ("load", "capacity") else "disable-noop"


def _cmd_faults(args: argparse.Namespace) -> int:
    width = max(map(len, [*FAULTS, *LOAD_FAULTS]))
    print("contract faults (caught by `zscheck contract`; one sequential client sees them):")
    for name, (area, what) in FAULTS.items():
        print(f"  {name:<{width}}  {area:<17}  {what}")
    print("load faults (caught by `zscheck load`: its gates or its linearizability check; they need concurrency):")
    for name, (area, what) in LOAD_FAULTS.items():
        print(f"  {name:<{width}}  {area:<17}  {what}")
    return EXIT_OK


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _every(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """Each command's options (argparse dests), for refusing a configuration key that is no option at all."""
    return {
        name: {a.dest for a in sub._actions if a.option_strings and a.dest != "help"}
        for name, sub in _subparsers(parser).items()
    }


def command_index(argv: Sequence[str]) -> int:
    """Where the command word is in `argv`: the first word that is not a top-level option or its value
    (`zscheck --profile faults faults`: the profile is named "faults", the command is the second one)."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _TOP_LEVEL_VALUES:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return i
    raise ValueError("no command in the arguments")


def _with_configuration(
    parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace
) -> argparse.Namespace:
    """Re-read the command's options with the environment and the configuration file filling the gaps."""
    command = args.command
    rest = argv[command_index(argv) + 1 :]
    resolved, _ = resolve(
        _subparsers(parser)[command], rest, command, config_file=args.config, profile=args.profile, every=_every(parser)
    )
    for name in ("command", "config", "profile"):
        setattr(resolved, name, getattr(args, name))
    return resolved


def _add_config(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "config",
        "print the effective configuration of a command, and where each value comes from",
        "Show what a command would run with: each option's value and its source (command line, ZSCHECK_* "
        "environment variable, zscheck.toml or [tool.zscheck] in pyproject.toml, or the default). Secrets are "
        "never shown: only which variable or file holds the password, and whether it is set.",
        "examples:\n  zscheck config run\n  zscheck --profile release config contract\n"
        "  ZSCHECK_USERS=50 zscheck config load --duration 2m",
    )
    p.add_argument("for_command", metavar="COMMAND", nargs="?", default="run", help="the command (default: run)")
    p.add_argument("options", nargs=argparse.REMAINDER, help="that command's options, as you would give them")
    p.set_defaults(func=_cmd_config)


def _cmd_config(args: argparse.Namespace) -> int:
    parser = build_parser()
    commands = _subparsers(parser)
    if args.for_command not in commands or args.for_command == "config":
        choices = ", ".join(c for c in commands if c != "config")
        raise ConfigError(f"zscheck config {args.for_command}: not a command; choose one of {choices}")
    _, settings = resolve(
        commands[args.for_command],
        list(args.options),
        args.for_command,
        config_file=args.config,
        profile=args.profile,
        every=_every(parser),
    )
    width = max(map(len, settings)) if settings else 0
    print(f"zscheck {args.for_command}: effective configuration")
    for dest, setting in sorted(settings.items()):
        if dest == "password":
            continue
        print(f"  {dest.replace('_', '-'):<{width}}  {_masked(setting.value):<40}  ({setting.source})")
    env = settings.get("password_env")
    if env is not None:
        state = "set" if str(env.value) in os.environ else "not set"
        print(f"  password: from ${env.value} ({state}; never shown)", end="")
        print(
            f", or the file {settings['password_file'].value}"
            if settings.get("password_file", Setting(None, "")).value
            else ""
        )
    return EXIT_OK


def _masked(value: object) -> str:
    """A value as `zscheck config` shows it: user:password@ in URLs is masked."""
    return masked_url("" if value is None else str(value))


def main(argv: Sequence[str] | None = None) -> int:
    """Every error that is not a verdict ends here as one line on stderr and exit 2: the harness's own
    (`ZscheckError`), the file system's (`OSError`), and anything unexpected, which is a bug of zscheck
    and says so (`internal error: ...`; its traceback with ZSCHECK_DEBUG=1)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_word(argv)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)  # the console script: SIGTERM before a command's own handlers
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a signal before the command's own handling began: building the parser, reading
        # the configuration (a loaded CI box took 6 s to get there, and a SIGTERM then ended in a traceback)
        print(f"zscheck {command}: interrupted by a signal while starting; nothing was changed", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except OSError as exc:  # a report directory that is a file, a full disk, a read-only tree, ...
        _debug()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"zscheck {command}: error: {where}{one_line(exc.strerror or str(exc))}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except Exception as exc:  # the last line of defence: one line, never a traceback
        _debug()
        print(
            f"zscheck {command}: internal error: {type(exc).__name__}: {one_line(str(exc))[:500]} "
            f"(a bug in zscheck; set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN


DEBUG_ENV = "ZSCHECK_DEBUG"


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _debug() -> None:
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exc()


def _command_word(argv: Sequence[str]) -> str:
    try:
        return argv[command_index(argv)]
    except ValueError:
        return ""


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and getattr(args, "command", None) in _subparsers(parser):
        # argparse would show the top-level usage; the command's own names the options it takes
        _subparsers(parser)[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_CANNOT_RUN
    try:
        if args.command != "config":
            args = _with_configuration(parser, argv, args)
        code: int = args.func(args)
    except ZscheckError as exc:
        _debug()
        print(f"zscheck {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print(f"zscheck {args.command}: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except BrokenPipeError:  # `zscheck config load | head`: the reader has gone, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit; give it a sink
        return EXIT_OK
    return code
