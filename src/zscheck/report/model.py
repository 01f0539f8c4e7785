"""What a conformance run found while it runs: counts, failures with their reproducers, harness errors,
timings. `writers.contract_summary` turns it into the `ContractSummary` document."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from zscheck import __version__
from zscheck.report.baseline import Baseline
from zscheck.report.documents import Failure, Finding
from zscheck.report.findings import group
from zscheck.verdict import Verdict


@dataclass
class RunReport:
    report_dir: Path
    seed: int | None = None
    target: str = ""
    dialect: str = "rest"
    started: float = field(default_factory=time.time)
    duration: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    restore_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    probes: int = 0
    coverage: dict[str, int] = field(default_factory=dict)  # judged requests per rule of the error-code table
    not_covered: dict[str, str] = field(default_factory=dict)  # class or rule -> why it was not exercised
    exit_code: int = 0
    version: str = __version__
    # The target's options, so that a finding can be replayed against it (or an embedded server like it).
    target_url: str | None = None
    faults: tuple[str, ...] = ()
    timing: str = "instant"
    account: str = "admin"
    tests: list[tuple[str, str]] = field(default_factory=list)  # (test, pytest outcome) in the order run
    tracebacks: list[tuple[str, str]] = field(default_factory=list)  # (test, pytest's full report of its failure)
    junit: Path | None = None  # where the JUnit XML goes (--junitxml): one testcase per finding
    baseline: Baseline | None = None  # --baseline: the known findings
    replay: str = ""  # the command that runs it again (its plan's command_line)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def finish(self) -> None:
        self.duration = time.time() - self.started

    @property
    def verdict(self) -> Verdict:
        return Verdict.of(self.exit_code)

    def by_check(self) -> dict[str, int]:
        return dict(Counter(f.check for f in self.failures).most_common())

    def findings(self) -> list[Finding]:
        """One per root cause (fingerprint), first seen first; with a baseline, each known, expired or new."""
        found = group(self.failures)
        return self.baseline.classify(found) if self.baseline is not None else found

    @property
    def fixed(self) -> list[str]:
        """The baseline's fingerprints this run did not see."""
        return self.baseline.fixed(self.findings()) if self.baseline is not None else []

    def failing(self) -> list[Finding]:
        """The findings that fail the run: all of them, less those a baseline accepts (and has not let expire)."""
        return [f for f in self.findings() if f.status != "known"]

    def replay_finding(self, finding: Finding) -> str:
        return f"zscheck replay {self.report_dir} {finding.id}"

    def details(self) -> list[str]:
        """What explains the verdict, one line each (the headline and the report path are the verdict
        event's: `zscheck.events.VerdictReached`)."""
        rate = self.requests / self.duration if self.duration > 0 else 0.0
        lines = [
            f"{self.dialect} dialect",
            f"{self.probes} cases, {self.requests} requests in {self.duration:.1f} s ({rate:.0f} requests/s)",
        ]
        findings = self.findings()
        if findings:
            lines.append(f"{len(findings)} finding(s) from {len(self.failures)} failure(s), one per root cause:")
        for i, finding in enumerate(findings, 1):
            reason = f": {finding.reason}" if finding.reason else ""
            status = f" ({finding.status}{reason})" if self.baseline is not None else ""
            lines.append(
                f"  {i}. [{finding.id}] {finding.check}: {finding.count}x, in {len(finding.tests)} test(s){status}"
            )
        if self.baseline is not None:
            known = sum(1 for f in findings if f.status == "known")
            lines.append(
                f"baseline {self.baseline.path}: {known} known, {len(findings) - known} new or expired, "
                f"{len(self.fixed)} fixed" + (f" ({', '.join(self.fixed)})" if self.fixed else "")
            )
        if self.coverage:
            exercised = sum(1 for n in self.coverage.values() if n)
            lines.append(
                f"coverage: {exercised} rules exercised "
                + ", ".join(f"{rule} {n}" for rule, n in sorted(self.coverage.items()))
            )
        lines.extend(f"NOT exercised: {name}: {why}" for name, why in self.not_covered.items())
        lines.extend(f"note: {n}" for n in self.notes)
        lines.extend(f"could not run: {e}" for e in self.harness_errors)
        lines.extend(f"RESTORE FAILED: {p}" for p in self.restore_problems)
        if self.failures:
            lines.append(f"replay a finding: zscheck replay {self.report_dir} ID (or N); the run: {self.replay}")
        return lines

    def write(self) -> None:
        from zscheck.report.writers import write_contract_reports

        write_contract_reports(self)
