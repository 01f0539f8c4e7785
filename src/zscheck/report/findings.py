"""Findings: failures grouped by root cause, each with a stable fingerprint.

A broken build fails the same way in many tests and many Hypothesis examples; an engineer wants one entry
per root cause, with how often it was seen and one example to act on. The fingerprint is what makes two
failures "the same": the check that failed, the error-code table's rule, the operation (method and path,
uuids masked) and the expected and actual renderings, normalised so that what changes from run to run
(uuids, job ids, timestamps, ports, durations) does not change it. It is stable across runs and machines,
so a baseline (`--baseline`) and the run history key on it.

The API is small on purpose and stays stable: `fingerprint(item)`, `operation(method, path)`,
`normalise(text)` and `group(failures) -> list[Finding]`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from zscheck.report.documents import Failure, Finding

FINGERPRINT_LENGTH = 12  # hex digits of sha256: 48 bits, no collision among a run's handful of root causes

# What varies between runs of the same failure, masked in this order (a uuid may sit inside a URL).
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])"), "<uuid>"),
    # a uuid cut short where a long answer was shortened ("api-jobs/6970dd06fde5...")
    (re.compile(r"(?<=[/\[\"'])[0-9a-fA-F]{1,31}(?=\.\.\.|…)"), "<uuid>"),
    # ZStack's own format (Java 8 and 9+), then ISO 8601, then Unix seconds or milliseconds
    (re.compile(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4},? \d{1,2}:\d{2}:\d{2}[\s\u202f]?[AP]M\b"), "<time>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b1\d{9}(?:\d{3})?(?:\.\d+)?\b"), "<time>"),
    (re.compile(r"(://[^/\s:'\"]+):\d{1,5}\b"), r"\1:<port>"),
    (re.compile(r"\b(?:127\.0\.0\.1|localhost):\d{1,5}\b"), "<host>:<port>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b"), "<duration>"),
)
_PATH_UUID = re.compile(
    r"/(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?=/|$)"
)


class Fingerprinted(Protocol):
    """What a fingerprint is made of: a `Failure` of a contract run has all of it."""

    @property
    def check(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def expected(self) -> str: ...
    @property
    def actual(self) -> str: ...
    @property
    def message(self) -> str: ...


def normalise(text: str) -> str:
    """`text` with what varies between runs of the same failure masked: uuids, job ids, timestamps,
    ports, durations."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def operation(method: str, path: str) -> str:
    """A request's operation: its method and path, query string dropped and uuids as `{uuid}`
    (`PUT /zstack/v1/images/{uuid}/actions`)."""
    if not method and not path:
        return ""
    return f"{method.upper()} {_PATH_UUID.sub('/{uuid}', path.split('?', 1)[0])}".strip()


def fingerprint(item: Fingerprinted) -> str:
    """The failure's root-cause fingerprint: 12 hex digits, the same for the same check, rule, operation
    and normalised expected/actual in any run. A failure without expected/actual (a suite's own assertion)
    is told apart by its normalised message instead."""
    parts = [item.check, item.rule, item.operation, normalise(item.expected), normalise(item.actual)]
    if not item.expected and not item.actual:
        parts.append(normalise(item.message))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def with_fingerprint(failure: Failure) -> Failure:
    """`failure` with its fingerprint filled in (the one set when it is recorded)."""
    failure.fingerprint = fingerprint(failure)
    return failure


def group(failures: Iterable[Failure]) -> list[Finding]:
    """One finding per fingerprint, in the order each was first seen, with its count, the tests it came
    from and its first example."""
    findings: dict[str, Finding] = {}
    for failure in failures:
        key = failure.fingerprint or fingerprint(failure)
        found = findings.get(key)
        if found is None:
            findings[key] = Finding(
                id=key,
                check=failure.check,
                rule=failure.rule,
                operation=failure.operation,
                message=failure.message,
                expected=failure.expected,
                actual=failure.actual,
                count=1,
                tests=[failure.test],
                first=failure,
            )
        else:
            found.count += 1
            if failure.test not in found.tests:
                found.tests.append(failure.test)
    return list(findings.values())


def select(findings: Sequence[Finding], wanted: str) -> Finding:
    """The finding `wanted` names: its id, a unique prefix of it, or its number (1-based, as reports list
    them). KeyError with the choices when none or several match."""
    if wanted.isdigit() and 1 <= int(wanted) <= len(findings) and len(wanted) < 4:
        return findings[int(wanted) - 1]
    matches = [f for f in findings if f.id.startswith(wanted.lower())]
    if len(matches) == 1:
        return matches[0]
    choices = ", ".join(f"{i} ({f.id} {f.check})" for i, f in enumerate(findings, 1)) or "none"
    problem = "matches several findings" if matches else "is not a finding of this run"
    raise KeyError(f"{wanted!r} {problem}; the findings are: {choices}")
