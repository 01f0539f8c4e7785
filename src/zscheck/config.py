"""Configuration: the command line, then `ZSCHECK_*` environment variables, then a file, then defaults.

The file is `zscheck.toml` (or `[tool.zscheck]` in `pyproject.toml`) in the working directory, or the
one `--config FILE` names. Keys are the long options' names with `-` or `_` (`target`, `dialect`,
`password-env`, `slo`, ...); a `[profiles.NAME]` table overrides them when `--profile NAME` is given, and a
`[commands.NAME]` table applies to one command only. The password itself is never accepted from a file
or the environment variable of a key: only the name of the variable that holds it (`password-env`) or a
file (`password-file`).

Validation lives here, in one place: an unknown key, a wrong type or a secret in the file is a
`ConfigError` that names the file, the key, the rule and the fix.
"""

from __future__ import annotations

import argparse
import difflib
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck.errors import ConfigError

FILE_NAMES = ("zscheck.toml", "pyproject.toml")
MAX_FILE_BYTES = 1 << 20  # a configuration file is a few dozen lines
TABLES = ("commands", "profiles")  # the file's tables; every other key is an option
# Keys that would hold a secret: refused in files and never read from ZSCHECK_<KEY>.
SECRETS = frozenset({"password", "tenant_password", "session"})
# ZSCHECK_PASSWORD and friends hold secrets, not configuration: they are read where the password is needed.
NOT_CONFIG_ENV = frozenset({"ZSCHECK_PASSWORD", "ZSCHECK_TENANT_PASSWORD", "ZSCHECK_DATA_DIR"})


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "command line", "environment ZSCHECK_TARGET", "zscheck.toml", "default"


@dataclass
class Layers:
    """Values from the environment and the file, by option name (argparse's dest: `password_env`)."""

    env: dict[str, tuple[str, str]] = field(default_factory=dict)  # dest -> (raw text, variable)
    file: dict[str, Any] = field(default_factory=dict)
    file_name: str = ""


def _dest(key: str) -> str:
    return key.replace("-", "_")


def find_file(explicit: str | None, cwd: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The configuration file and its zscheck table, or None when there is none."""
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise ConfigError(f"--config {explicit}: no such file")
        return path, _read(path)
    for name in FILE_NAMES:
        path = (cwd or Path.cwd()) / name
        if path.exists():
            data = _read(path)
            if name == "pyproject.toml" and not data:
                continue
            return path, data
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path} is {len(raw)} bytes: a configuration file is at most {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 (byte {exc.start} is {raw[exc.start : exc.start + 1]!r}); TOML files are "
            "UTF-8: save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses per nesting level: `a = [[[[...]]]]` a thousand deep
        raise ConfigError(f"{path} nests arrays or tables too deeply to read; a zscheck file is flat") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("zscheck", {})
        return table if isinstance(table, dict) else {}
    return data


def check_keys(path: Path, data: Mapping[str, Any], every: Mapping[str, Collection[str]]) -> None:
    """Refuse a key that is no option of any command (`duraton`), naming the nearest valid one; in
    `[commands.NAME]`, a key that is no option of NAME. `every` maps each command to its options' dests."""
    all_keys = sorted({dest for dests in every.values() for dest in dests})

    def refuse(key: str, where: str, valid: Collection[str]) -> None:
        near = difflib.get_close_matches(_dest(key), valid, n=1, cutoff=0.6)
        hint = f"did you mean `{near[0].replace('_', '-')}`?" if near else "`zscheck config COMMAND` lists them"
        of = f"`zscheck {where[10:-2]}`" if where.startswith("[commands.") else "any command"
        raise ConfigError(f"{path}: {where}`{key}` is not an option of {of}; {hint}")

    def check(table: Mapping[str, Any], where: str, valid: Collection[str]) -> None:
        for key, value in table.items():
            if isinstance(value, dict) and not where and key in TABLES:
                continue
            if _dest(key) in SECRETS:
                continue  # refused with its own message where it is read
            if _dest(key) not in valid:
                refuse(key, where, valid)

    check(data, "", all_keys)
    profiles = data.get("profiles", {})
    for name, table in profiles.items() if isinstance(profiles, dict) else ():
        if isinstance(table, dict):
            check(table, f"[profiles.{name}] ", all_keys)
    commands = data.get("commands", {})
    for name, table in commands.items() if isinstance(commands, dict) else ():
        if name not in every:
            near = difflib.get_close_matches(name, list(every), n=1)
            hint = f"did you mean [commands.{near[0]}]?" if near else f"commands are {', '.join(every)}"
            raise ConfigError(f"{path}: [commands.{name}] names no command; {hint}")
        if isinstance(table, dict):
            check(table, f"[commands.{name}] ", sorted(every[name]))


def layers(
    command: str,
    known: Mapping[str, Any],
    *,
    config_file: str | None,
    profile: str | None,
    cwd: Path | None = None,
    every: Mapping[str, Collection[str]] | None = None,
) -> Layers:
    """The environment and file layers for `command`, whose options are `known` (dest -> default).
    `every` (each command's option dests) lets a key that is no option anywhere be refused."""
    out = Layers()
    found = find_file(config_file, cwd)
    if found is not None:
        path, data = found
        out.file_name = str(path)
        if every is not None:
            check_keys(path, data, every)
        merged = {k: v for k, v in data.items() if not isinstance(v, dict)}
        commands = data.get("commands", {})
        if isinstance(commands, dict) and isinstance(commands.get(command), dict):
            merged.update(commands[command])
        if profile is not None:
            profiles = data.get("profiles", {})
            if not isinstance(profiles, dict) or not isinstance(profiles.get(profile), dict):
                names = ", ".join(profiles) if isinstance(profiles, dict) and profiles else "none"
                raise ConfigError(f"--profile {profile}: {path} has no [profiles.{profile}] (profiles: {names})")
            merged.update(profiles[profile])
        for key, value in merged.items():
            dest = _dest(key)
            if dest in SECRETS:
                raise ConfigError(
                    f"{path}: `{key}` would put a secret in a file that gets committed and copied; name the "
                    'variable that holds it with `password-env = "VAR"`, or a file with `password-file`'
                )
            if dest not in known:
                continue  # a key for another command (a file serves them all)
            out.file[dest] = _typed(value, known[dest], f"{path}: `{key}`")
    elif profile is not None:
        raise ConfigError(f"--profile {profile}: no zscheck.toml (or [tool.zscheck] in pyproject.toml) here")
    for dest in known:
        variable = f"ZSCHECK_{dest.upper()}"
        if variable in os.environ and variable not in NOT_CONFIG_ENV and dest not in SECRETS:
            out.env[dest] = (os.environ[variable], variable)
    return out


def _typed(value: Any, default: Any, where: str) -> Any:
    """A file value checked against the option's default type (lists for repeatable options)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(default, list):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(i, str | int | float) for i in items):
            raise ConfigError(f"{where} must be a list of strings, not {value!r}")
        return [str(i) for i in items]
    if isinstance(value, dict | list):
        raise ConfigError(f"{where} must be a single value, not {value!r}")
    if isinstance(value, bool) and default is not None:  # `users = true` would be 1 user
        raise ConfigError(f"{where} must be a {type(default).__name__}, not {value!r}")
    return value


def from_env(raw: str, default: Any) -> Any:
    """An environment variable's text as the option's kind: lists split on commas, booleans as 1/true/yes."""
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


class _Unset(list[Any]):
    """The default of every option while resolving: still this (and empty) after parsing means not given.
    A list, so that repeatable options (`--slo`) can append to a copy of it."""


def resolve(
    parser: argparse.ArgumentParser,
    argv: list[str],
    command: str,
    *,
    config_file: str | None,
    profile: str | None,
    every: Mapping[str, Collection[str]] | None = None,
) -> tuple[argparse.Namespace, dict[str, Setting]]:
    """Parse `argv` for one command's parser, filling what the command line left out from the environment,
    then the file, then the option's default. Returns the namespace and where each value came from."""
    actions = [a for a in parser._actions if a.dest not in ("help", argparse.SUPPRESS) and a.option_strings]
    defaults = {a.dest: a.default for a in actions}
    for action in actions:
        action.default = _Unset()
    try:
        args = parser.parse_args(argv)
    finally:
        for action in actions:
            action.default = defaults[action.dest]
    known = {
        dest: ([] if default is None and _repeatable(parser, dest) else default) for dest, default in defaults.items()
    }
    found = layers(command, known, config_file=config_file, profile=profile, every=every)
    settings: dict[str, Setting] = {}
    for action in actions:
        dest, value = action.dest, getattr(args, action.dest)
        if not (isinstance(value, _Unset) and not value):
            settings[dest] = Setting(list(value) if isinstance(value, _Unset) else value, "command line")
        elif dest in found.env:
            raw, variable = found.env[dest]
            settings[dest] = Setting(_convert(action, from_env(raw, known[dest]), variable), f"environment {variable}")
        elif dest in found.file:
            settings[dest] = Setting(_convert(action, found.file[dest], found.file_name), found.file_name)
        else:
            settings[dest] = Setting(defaults[dest], "default")
        setattr(args, dest, settings[dest].value)
    return args, settings


def _repeatable(parser: argparse.ArgumentParser, dest: str) -> bool:
    return any(a.dest == dest and isinstance(a, argparse._AppendAction) for a in parser._actions)


def _convert(action: argparse.Action, value: Any, where: str) -> Any:
    """Apply the option's own type and choices, so a file or variable is checked like the command line."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if action.type is not None and not isinstance(item, bool):
            try:
                item = action.type(str(item))  # type: ignore[operator]
            except (argparse.ArgumentTypeError, ValueError) as exc:
                raise ConfigError(f"{where}: {action.option_strings[-1]}: {exc}") from None
        if action.choices is not None and item not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise ConfigError(f"{where}: {action.option_strings[-1]} {item!r} is not one of {choices}")
        out.append(item)
    return out if isinstance(value, list) else out[0]
