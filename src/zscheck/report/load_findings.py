"""Load findings: a load run's failures as root causes with stable fingerprints, like a contract run's.

The load runner already groups its failures by check, operation and ErrorCode (`FailureGroup`): each
group is one finding, and the history check's violations, whatever images they were on, are one more.
The fingerprint is made of what does not change between runs of the same failure (the command, the
check, the operation, the code), never of counts, images or messages, so a `--baseline` written by one
night's run matches the next night's. "load" is part of it: a contract finding never shares an id with
a load finding.
"""

from __future__ import annotations

import hashlib

from zscheck.report.documents import LoadFinding, LoadResult, LoadSummary
from zscheck.report.findings import FINGERPRINT_LENGTH, normalise
from zscheck.report.junit import Case, Outcome

HISTORY = "history"  # the operation of a linearizability finding: the run's whole history


def fingerprint(check: str, operation: str, code: str) -> str:
    """12 hex digits, the same for the same check, operation and ErrorCode in any load run."""
    parts = ["load", check, normalise(operation), code]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def load_findings(result: LoadResult | None) -> list[LoadFinding]:
    """One finding per failure group of the run, then one for the history check when it found a
    violation; most frequent first as the runner ordered them."""
    if result is None:
        return []
    out = []
    for group in result.failures:
        example = group.examples[0] if group.examples else {}
        out.append(
            LoadFinding(
                id=fingerprint(group.check, group.operation, group.code),
                check=group.check,
                operation=group.operation,
                code=group.code,
                message=example.get("message", ""),
                count=group.count,
                example=example.get("curl", ""),
            )
        )
    violations = result.linearizability.violations
    if violations:
        first = violations[0].text.splitlines()
        out.append(
            LoadFinding(
                id=fingerprint("linearizability", HISTORY, "-"),
                check="linearizability",
                operation=HISTORY,
                code="-",
                message=first[0] if first else "the history has no linearization",
                count=len(violations),
                example="",
            )
        )
    return out


def junit_cases(summary: LoadSummary) -> list[Case]:
    """The load run as a CI server reads it: one testcase per finding (failed; a --baseline's known one
    skipped, with its reason), one per SLO gate, one for the history check, and an error testcase naming
    the reason when the run could not run or could not be judged."""
    cases: list[Case] = []
    result = summary.result
    for finding in summary.findings:
        name = f"{finding.id} {finding.check} on {finding.operation} (code {finding.code})"
        text = "\n".join(part for part in (finding.message, finding.example) if part)
        if finding.status == "known":
            cases.append(Case("zscheck.load.findings", name, "skipped", f"known: {finding.reason}", text))
        else:
            message = f"{finding.count}x: {finding.message}" + (f" ({finding.reason})" if finding.reason else "")
            cases.append(Case("zscheck.load.findings", name, "failed", message, text))
    if result is not None:
        for gate in result.gates:
            outcome: Outcome = "passed" if gate.passed else "failed"
            cases.append(Case("zscheck.load.gates", gate.gate, outcome, "" if gate.passed else gate.shown))
        lin = result.linearizability
        if not lin.violations:
            name = f"history of {lin.images} images linearizable"
            if lin.undecided:
                cases.append(Case("zscheck.load", name, "error", f"undecided for {len(lin.undecided)} images"))
            else:
                cases.append(Case("zscheck.load", name, "passed"))
    if summary.verdict == "COULD NOT RUN":
        reason = summary.error or "; ".join(summary.restore_problems) or "the run could not be judged"
        cases.append(Case("zscheck.load", f"load run against {summary.target}", "error", reason))
    return cases
