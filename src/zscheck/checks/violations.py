"""What the oracle says: the expected answer for a request, and each way an actual answer departs from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from zscheck._models import Exchange

Stage = Literal["sync", "job"]
BodyKind = Literal["text", "error", "inventory", "envelope", "empty"]


@dataclass(frozen=True, slots=True)
class Expected:
    """What a correct server answers, from the error-code table (`contracts/error_codes.toml`).

    `stage` says where the verdict is delivered: `sync` in the answer to the request itself, `job` in the
    api-job's final answer after a 202. `rule` names the table row that decided it.
    """

    rule: str
    stage: Stage
    status: int
    body: BodyKind
    code: str | None = None  # the ErrorCode's code, for business failures
    text: str | None = None  # the start of a plain-text body
    success: bool = False  # documented dialect: the envelope's `success`
    # The table's code -> description, for judging any ErrorCode in the answer (not part of the rule's identity).
    descriptions: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Violation:
    """One way an answer departs from the contract. `check` is a stable name used in reports, JUnit and
    locust failure names; `expected` and `actual` are short, human-readable renderings."""

    check: str
    message: str
    expected: str = ""
    actual: str = ""
    exchange: Exchange | None = field(default=None, compare=False)

    def __str__(self) -> str:
        detail = f" (expected {self.expected}, got {self.actual})" if self.expected or self.actual else ""
        return f"[{self.check}] {self.message}{detail}"


def short(value: Any, limit: int = 160) -> str:
    """A value as it should appear in a one-line message."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
