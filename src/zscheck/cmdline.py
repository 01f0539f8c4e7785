"""A run written back as the command that runs it again: the one rule for how an option and its value
become words (a flag alone, a repeated option once per value, every digit of a number without a whole
number's `.0`, shell quoting), used by every run's replay command (`ContractPlan.command_line`,
`LoadRun.command_line`, ...).
Each run type lists its own options, default ones as None, so a replay names only what was chosen."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

Given = Iterable[tuple[str, object]]  # (option, value): True is a flag, None is left out, else `option value`


def render(command: str, given: Given) -> str:
    words = ["zscheck", command]
    for option, value in given:
        if value is True:
            words.append(option)
        elif value is not None and value is not False:
            words += [option, shlex.quote(_number(value) if isinstance(value, float) else str(value))]
    return " ".join(words)


def _number(value: float) -> str:
    """Every digit (`:g` kept six: --rate 1234.5678 replayed as 1234.57), without a whole number's `.0`."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def unless(value: object, default: object) -> object:
    """`value`, or None (left out) when it is the default."""
    return None if value == default else value
