"""The `zscheck` command. Thin: parse, call the library, hand its events to the output handlers, exit.

Exit codes, for every command: 0 conformant (or clean shutdown), 1 violations found, 2 could not run.
Nothing below this package prints or exits (`tests/test_architecture.py` holds it to that); the library
raises `ZscheckError`s that become one line here. Each command is a module of its own; each option is
declared once, in `zscheck.options`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from zscheck import __version__
from zscheck.cli import all_in_one, contract, drift, load, replay, restore, serve
from zscheck.cli.common import EXIT_CANNOT_RUN, EXIT_OK, Subparsers, add_command
from zscheck.config import Setting, resolve
from zscheck.errors import ConfigError, ZscheckError
from zscheck.refserver.faults import FAULTS, LOAD_FAULTS

__all__ = ["build_parser", "main"]
_TOP_LEVEL_VALUES = ("--config", "--profile")  # the top-level options that take a value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    _add_config(sub)
    return parser


def _add_faults(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "faults",
        "list the reference server's deliberate fault modes",
        "List the fault modes of `zscheck serve --fault NAME` (and of contract, load and run's embedded server "
        "with --fault NAME).",
        "examples:\n  zscheck faults\n  zscheck contract --fault disable-noop\n"
        "  zscheck load --scenario contention --fault lost-update-race",
    )
    p.set_defaults(func=_cmd_faults)


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
    resolved, _ = resolve(_subparsers(parser)[command], rest, command, config_file=args.config, profile=args.profile)
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
        commands[args.for_command], list(args.options), args.for_command, config_file=args.config, profile=args.profile
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
    text = "" if value is None else str(value)
    return re.sub(r"//[^/@]+@", "//***@", text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
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
        print(f"zscheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print(f"zscheck {args.command}: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except BrokenPipeError:  # `zscheck config load | head`: the reader has gone, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit; give it a sink
        return EXIT_OK
    return code
