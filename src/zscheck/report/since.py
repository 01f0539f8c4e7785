"""The "Since the baseline" section of a run's index.html: its comparison.json (`zscheck run --compare-to`),
the run against a stored baseline run, metric by metric. Rendered from the typed document alone."""

from __future__ import annotations

from html import escape

from zscheck.report.documents import NO_VERDICT_NOTE, CompareMetric, ComparisonReport


def _value(value: float, unit: str) -> str:
    return f"{value * 1000:.3g} ms" if unit == "s" else f"{value:.4g} {escape(unit)}"


def _row(m: CompareMetric) -> str:
    change = f"{m.change:+.1%}"
    if m.change_ci is not None:
        change += f" [{m.change_ci[0]:+.1%}, {m.change_ci[1]:+.1%}]"
    p = "-" if m.p_value is None else f"{m.p_value:.2g}"
    css = {"worse": "bad", "better": "ok"}.get(m.verdict, "muted")
    return (
        f"<tr><td>{escape(m.operation)}</td><td>{escape(m.metric)}</td><td class=num>{_value(m.base_value, m.unit)}"
        f"</td><td class=num>{_value(m.candidate_value, m.unit)}</td><td class=num>{change}</td><td class=num>{p}</td>"
        f"<td class={css}>{escape(m.verdict)}</td><td>{escape(m.reason)}</td></tr>"
    )


def since_baseline(report: ComparisonReport | None, problem: str | None) -> str:
    """The section, or nothing when the run was not compared (no comparison.json)."""
    if report is None and problem is None:
        return ""
    head = "<h2 id=baseline>Since the baseline</h2>"
    if report is None:
        return f"{head}<p class=bad>{escape(problem or '')}</p>"
    base = ", ".join(report.base.runs) or report.base.label
    unjudged = next((n for n in report.notes if n.startswith(NO_VERDICT_NOTE)), None)
    verdict = (
        f"<p class=bad>regression: {escape('; '.join(report.failed))}</p>"
        if report.failed
        else f"<p class=bad>{escape(unjudged)}</p>"
        if unjudged
        else "<p class=ok>no new finding"
        + (f", nothing worse by more than {report.max_regression * 100:g}%" if report.max_regression else "")
        + "</p>"
    )
    f = report.findings
    parts = [
        head,
        f"<p>against the baseline run <code>{escape(base)}</code> ({escape(report.base.label)}); alpha "
        f"{report.alpha:g}" + (f"; A/A noise: {escape(report.noise)}" if report.noise else "") + "</p>",
        verdict,
        f"<p>findings: {len(f.new)} new, {len(f.fixed)} fixed, {len(f.persisting)} persisting</p>",
    ]
    parts += [
        f"<p class=bad>new: {escape(x.check)} [{escape(x.rule or '-')}] {escape(x.operation)}: "
        f"{escape(x.example[:200])}</p>"
        for x in f.new
    ]
    if report.metrics:
        parts.append(
            "<table><tr><th>operation</th><th>metric</th><th>baseline</th><th>this run</th><th>change [CI]</th>"
            "<th>p</th><th>verdict</th><th>test</th></tr>" + "".join(_row(m) for m in report.metrics) + "</table>"
        )
    else:
        parts.append("<p class=muted>no load metrics on both sides: findings only</p>")
    parts += [f"<p class=muted>note: {escape(n)}</p>" for n in report.notes]
    return "\n".join(parts)
