"""Files rendered from a `RunReport`: summary.json (a `ContractSummary`) for machines, failures.md for people,
junit.xml for CI (one testcase per finding), tracebacks.txt with pytest's full reports of failed tests."""

from __future__ import annotations

from typing import Any, cast

from zscheck.report.documents import ContractSummary, Finding, Verdict
from zscheck.report.junit import Case, Outcome, write_junit
from zscheck.report.model import RunReport
from zscheck.report.reproducer import write_scripts


def contract_summary(report: RunReport) -> ContractSummary:
    return ContractSummary(
        verdict=cast(Verdict, report.verdict.word),
        exit_code=report.exit_code,
        target=report.target,
        dialect=report.dialect,
        seed=report.seed,
        harness_version=report.version,
        started=report.started,
        duration_s=round(report.duration, 3),
        tests=dict(report.outcomes),
        cases=report.probes,
        requests=report.requests,
        requests_per_s=round(report.requests / report.duration, 1) if report.duration else 0.0,
        failures_by_check=report.by_check(),
        coverage=dict(report.coverage),
        not_covered=dict(report.not_covered),
        failures=list(report.failures),
        findings=report.findings(),
        fixed=list(report.fixed),
        harness_errors=list(report.harness_errors),
        restore_problems=list(report.restore_problems),
        notes=list(report.notes),
        replay=report.replay,
        target_url=report.target_url,
        faults=list(report.faults),
        timing=report.timing,
        account=report.account,
    )


def summary(report: RunReport) -> dict[str, Any]:
    """summary.json's content (kept for callers that want the dict)."""
    return contract_summary(report).to_json()


def finding_lines(finding: Finding, number: int, replay: str) -> list[str]:
    """One finding, as failures.md shows it."""
    first = finding.first
    tests = ", ".join(f"`{t}`" for t in finding.tests)
    lines = [
        f"## {number}. `{finding.check}`: {finding.message}",
        "",
        f"- id: `{finding.id}` ({finding.status}{': ' + finding.reason if finding.reason else ''})",
        f"- seen: {finding.count} time(s), in {tests}",
        f"- operation: `{finding.operation}`" + (f" (table rule `{finding.rule}`)" if finding.rule else ""),
        f"- expected: {finding.expected}",
        f"- actual: {finding.actual}",
    ]
    if first.response:
        lines.append(f"- response: `{first.response}`")
    lines.append(f"- replay: `{replay}`")
    if first.reproducer:
        lines += [
            "",
            f"Reproduce it by hand: `sh reproducers/{finding.id}.sh`"
            " (it logs in, makes the image, follows the api-job):",
            "",
        ]
        lines += ["```sh", first.reproducer.rstrip("\n"), "```"]
    elif first.curl:
        lines += ["", "The request (set `ZSTACK_SESSION` to a session of yours):", "", "```sh", first.curl, "```"]
    if first.steps:
        lines += ["", "Minimal example found by Hypothesis:", "", "```", first.steps, "```"]
    lines.append("")
    return lines


def failures_markdown(report: RunReport) -> str:
    findings = report.findings()
    lines = [
        f"# zscheck contract: {report.verdict.word}",
        "",
        f"Target: {report.target} ({report.dialect} dialect). Seed: {report.seed}. Replay the run: `{report.replay}`",
        "",
    ]
    if findings:
        lines += [
            f"{len(findings)} finding(s) from {len(report.failures)} failure(s): failures with the same check, "
            "rule, operation and expected/actual (uuids, times and ports aside) are one finding. pytest's full "
            "reports are in tracebacks.txt.",
            "",
        ]
    elif not report.harness_errors:
        lines.append("No contract violations.")
    for error in report.harness_errors:
        lines += [f"Could not run: {error}", ""]
    for i, finding in enumerate(findings, 1):
        lines += finding_lines(finding, i, report.replay_finding(finding))
    if report.fixed:
        lines += ["## Fixed since the baseline", ""] + [f"- `{f}`" for f in report.fixed] + [""]
    return "\n".join(lines) + "\n"


def junit_cases(report: RunReport) -> list[Case]:
    """The run as CI reads it: each test that passed or was skipped, each finding as one failing testcase
    (however many tests and Hypothesis examples saw it), each reason the run could not run as an error."""
    findings = report.findings()
    failing_tests = {t for f in findings for t in f.tests}
    cases: list[Case] = []
    for test, outcome in report.tests:
        if test in failing_tests and outcome == "failed":
            continue  # its failures are the findings' testcases
        if outcome == "passed" or outcome == "skipped":
            shown: Outcome = "passed" if outcome == "passed" else "skipped"
            cases.append(Case(classname=_classname(test), name=test.rpartition("::")[2], outcome=shown))
    for finding in findings:
        known = finding.status == "known"
        text = "\n".join(finding_lines(finding, 1, report.replay_finding(finding))[2:])
        cases.append(
            Case(
                classname="zscheck.findings." + finding.check,
                name=f"{finding.id} {finding.check}: {finding.message}",
                outcome="skipped" if known else "failed",
                message=(f"known ({finding.reason}): " if known else "")
                + f"expected {finding.expected}, got {finding.actual} ({finding.count}x)",
                text=text,
            )
        )
    reasons = report.harness_errors + [f"restore failed: {p}" for p in report.restore_problems]
    if report.exit_code == 2 and not reasons:
        reasons = ["the run could not run (see the terminal output)"]
    name = f"could not run against {report.target or 'the target'}"
    for reason in reasons:
        text = f"{name}: {reason}\nreplay the run: {report.replay}"
        cases.append(Case(classname="zscheck.run", name=name, outcome="error", message=reason, text=text))
    return cases


def _classname(test: str) -> str:
    path = test.rpartition("::")[0] or test
    return path.removesuffix(".py").replace("/", ".")


def write_contract_reports(report: RunReport) -> None:
    report.report_dir.mkdir(parents=True, exist_ok=True)
    contract_summary(report).write(report.report_dir / "summary.json")
    (report.report_dir / "failures.md").write_text(failures_markdown(report))
    write_scripts(
        report.report_dir / "reproducers", {f.id: f.first.reproducer for f in report.findings() if f.first.reproducer}
    )
    if report.tracebacks:
        text = "\n\n".join(f"{'=' * 30} {test} {'=' * 30}\n{trace}" for test, trace in report.tracebacks)
        (report.report_dir / "tracebacks.txt").write_text(text + "\n", encoding="utf-8")
    if report.junit is not None:
        write_junit(report.junit, "zscheck contract", cases=junit_cases(report), seconds=report.duration)
