"""The findings of stored runs, each under one key, so that two sides read as new, fixed and persisting.

`key()` is the one place a finding's identity is decided. Until the evidence issue's fingerprint
(`zscheck.findings.fingerprint`) is in main, a finding is keyed by what stays the same when the same fault
is found again: the check that caught it, the error-code rule the input fell under, and the operation (the
conformance test, or the load operation and its ErrorCode); never by message text, uuids or times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from zscheck.history.record import RunRecord


def key(check: str, rule: str, operation: str) -> str:
    """A finding's identity across runs."""
    return f"{check}|{rule}|{operation}"


@dataclass(frozen=True)
class Finding:
    key: str
    check: str
    rule: str
    operation: str
    example: str  # one message, for the reader
    runs: tuple[str, ...] = ()  # the ids of the runs it was seen in


def findings_of(record: RunRecord) -> dict[str, Finding]:
    """Every contract failure and load violation in `record`, by key (one example each)."""
    found: dict[str, Finding] = {}

    def add(check: str, rule: str, operation: str, example: str) -> None:
        k = key(check, rule, operation)
        found.setdefault(k, Finding(k, check, rule, operation, example, (record.id,)))

    for contract in record.contract_summaries():
        for failure in contract.failures:
            add(failure.check, failure.rule, failure.test, failure.message)
    for load in record.load_summaries():
        if load.result is None:
            continue
        for group in load.result.failures:
            add(group.check, group.code, group.operation, (group.examples or [{}])[0].get("message", ""))
        for violation in load.result.linearizability.violations:
            add("linearizability", "", "history", violation.text)  # which image it hit differs run to run
    return found


@dataclass
class FindingsDiff:
    new: list[Finding] = field(default_factory=list)  # in the candidate, not the base
    fixed: list[Finding] = field(default_factory=list)  # in the base, not the candidate
    persisting: list[Finding] = field(default_factory=list)


def _merged(records: Iterable[RunRecord]) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for record in records:
        for k, finding in findings_of(record).items():
            seen = out.get(k)
            out[k] = finding if seen is None else Finding(**{**seen.__dict__, "runs": seen.runs + finding.runs})
    return out


def diff(base: Iterable[RunRecord], candidate: Iterable[RunRecord]) -> FindingsDiff:
    b, c = _merged(base), _merged(candidate)
    return FindingsDiff(
        new=[c[k] for k in sorted(c.keys() - b.keys())],
        fixed=[b[k] for k in sorted(b.keys() - c.keys())],
        persisting=[c[k] for k in sorted(c.keys() & b.keys())],
    )
