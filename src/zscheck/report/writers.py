"""Files rendered from a `RunReport`: summary.json (a `ContractSummary`) for machines, failures.md for people."""

from __future__ import annotations

from typing import Any, cast

from zscheck.report.documents import ContractSummary, Verdict
from zscheck.report.model import RunReport


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
        harness_errors=list(report.harness_errors),
        restore_problems=list(report.restore_problems),
        notes=list(report.notes),
        replay=report.replay_command(),
    )


def summary(report: RunReport) -> dict[str, Any]:
    """summary.json's content (kept for callers that want the dict)."""
    return contract_summary(report).to_json()


def failures_markdown(report: RunReport) -> str:
    lines = [
        f"# zscheck contract: {report.verdict.word}",
        "",
        f"Target: {report.target} ({report.dialect} dialect). Seed: {report.seed}. Replay: `{report.replay_command()}`",
        "",
    ]
    if not report.failures:
        lines.append("No contract violations.")
    for i, failure in enumerate(report.failures, 1):
        lines += [
            f"## {i}. `{failure.check}`: {failure.message}",
            "",
            f"- test: `{failure.test}`" + (f" (table rule `{failure.rule}`)" if failure.rule else ""),
            f"- expected: {failure.expected}",
            f"- actual: {failure.actual}",
        ]
        if failure.response:
            lines.append(f"- response: `{failure.response}`")
        if failure.curl:
            lines += ["", "Reproduce (set `ZSTACK_SESSION` to a session of yours):", "", "```bash", failure.curl, "```"]
        if failure.steps:
            lines += ["", "Minimal example found by Hypothesis:", "", "```", failure.steps, "```"]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_contract_reports(report: RunReport) -> None:
    report.report_dir.mkdir(parents=True, exist_ok=True)
    contract_summary(report).write(report.report_dir / "summary.json")
    (report.report_dir / "failures.md").write_text(failures_markdown(report))
