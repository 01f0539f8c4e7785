"""The findings of stored runs, each under one key, so that two sides read as new, fixed and persisting.

`key()` is the one place a finding's identity is decided, and it is the evidence issue's fingerprint
(`zscheck.report.findings.fingerprint`: the check, the error-code rule, the operation with uuids masked,
and the normalised expected and actual), so that compare, trend and `zscheck contract --baseline` agree on
what "the same finding" is. A contract failure carries its fingerprint from the run that found it; a load
run's failure group (one check, one operation, one ErrorCode) and a linearizability violation are keyed by
the same function, from what they have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from zscheck.history.record import RunRecord
from zscheck.report.findings import fingerprint


@dataclass(frozen=True)
class _Keyed:
    """What `fingerprint` reads, for a finding that is not a contract `Failure`."""

    check: str
    rule: str
    operation: str
    expected: str = ""
    actual: str = ""
    message: str = ""


def key(check: str, rule: str, operation: str, *, expected: str = "", actual: str = "", message: str = "") -> str:
    """A finding's identity across runs: its fingerprint."""
    return fingerprint(_Keyed(check, rule, operation, expected, actual, message))


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
        k = key(check, rule, operation)  # a load group is its check, ErrorCode and operation; messages vary
        found.setdefault(k, Finding(k, check, rule, operation, example, (record.id,)))

    for contract in record.contract_summaries():
        for failure in contract.failures:
            k = failure.fingerprint or fingerprint(failure)
            found.setdefault(
                k, Finding(k, failure.check, failure.rule, failure.operation, failure.message, (record.id,))
            )
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
