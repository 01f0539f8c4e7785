"""The HTML pages of `zscheck compare` and `zscheck trend`: one self-contained file each (inline SVG drawn by
matplotlib's Agg backend, inline CSS, no scripts, no network), so it opens from disk and from a CI artifact."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files, never a screen

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from zscheck.history.compare import Result, Row
from zscheck.history.trend import Series, Trend
from zscheck.verdict import Verdict

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; }
.worse { color: #b00; font-weight: bold; } .better { color: #070; } .figure { display: inline-block; }
.verdict { font-size: 1.3em; padding: 0.5em; border-radius: 4px; }
.fail { background: #fdd; } .pass { background: #dfd; }
"""


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG is inline


def _page(title: str, body: list[str]) -> str:
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _scaled(values: Sequence[float], unit: str) -> list[float]:
    return [v * 1000 for v in values] if unit == "s" else list(values)


def _distribution(row: Row, base: str, candidate: str) -> str:
    """The two samples side by side: a box each, with every value drawn over it."""
    unit = "ms" if row.unit == "s" else row.unit
    xs, ys = _scaled(row.base, row.unit), _scaled(row.candidate, row.unit)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.boxplot([xs, ys], showfliers=False)
    ax.set_xticks([1, 2], [f"base\n{base}"[:40], f"candidate\n{candidate}"[:40]])
    for i, values in enumerate((xs, ys), 1):
        ax.plot([i + 0.15 * ((k % 7) - 3) / 3 for k in range(len(values))], values, ".", alpha=0.5, markersize=3)
    ax.set_title(f"{row.operation} {row.metric} (one value a run): {row.verdict}")
    ax.set_ylabel(unit)
    return _svg(fig)


def compare_page(result: Result) -> str:
    word = f"{result.verdict().word}: {result.reason()}"  # the exit code's word and why (Result.reason)
    body = [
        f"<h1>zscheck compare</h1><p>base <b>{html.escape(result.base.label)}</b> ({len(result.base.records)} "
        f"run(s)) against candidate <b>{html.escape(result.candidate.label)}</b> "
        f"({len(result.candidate.records)} run(s)); alpha {result.alpha:g}</p>",
        f"<p class='verdict {'pass' if result.verdict() is Verdict.PASS else 'fail'}'>{html.escape(word)}</p>",
        "<h2>Findings</h2><table><tr><th>state</th><th>check</th><th>rule</th><th>operation</th><th>example</th></tr>",
    ]
    for state, findings in (
        ("new", result.findings.new),
        ("fixed", result.findings.fixed),
        ("persisting", result.findings.persisting),
    ):
        for f in findings:
            cells = (state, f.check, f.rule, f.operation, f.example)
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    if not (result.findings.new or result.findings.fixed or result.findings.persisting):
        body.append("<tr><td colspan=5>none on either side</td></tr>")
    body.append("</table><h2>Load</h2><table><tr><th>operation</th><th>metric</th><th>base</th><th>candidate</th>"
                "<th>change (CI)</th><th>p</th><th>verdict</th></tr>")  # fmt: skip
    for row in result.rows:
        c = row.comparison
        if c.p_value is None or c.change_ci is None:
            body.append(
                f"<tr><td>{row.operation}</td><td>{row.metric}</td><td>{_value(c.base, row.unit)}</td>"
                f"<td>{_value(c.candidate, row.unit)}</td><td>{c.change:+.1%}</td>"
                f"<td>{html.escape(c.reason)}</td><td>~</td></tr>"
            )
            continue
        body.append(
            f"<tr><td>{row.operation}</td><td>{row.metric}</td><td>{_value(c.base, row.unit)}</td>"
            f"<td>{_value(c.candidate, row.unit)}</td><td>{c.change:+.1%} ({c.change_ci.low:+.1%} .. "
            f"{c.change_ci.high:+.1%})</td><td>{c.p_value:.3g} ({html.escape(c.test)})</td>"
            f"<td class='{c.verdict}'>{c.verdict}</td></tr>"
        )
        if row.equivalence is not None:
            body.append(f"<tr><td colspan=7>{html.escape(row.equivalence.claim())}</td></tr>")
    body.append("</table>")
    body.extend(f"<p>note: {html.escape(note)}</p>" for note in result.notes())
    for row in result.rows:
        body.append(f"<div class='figure'>{_distribution(row, result.base.label, result.candidate.label)}</div>")
    return _page("zscheck compare", body)


def _value(value: float, unit: str) -> str:
    return f"{value * 1000:.2f} ms" if unit == "s" else f"{value:.1f} {unit}"


def _unit(series: Series) -> tuple[str, float]:
    """The y axis' label and the factor from the stored value (latencies are stored in seconds, shown in ms)."""
    if series.name.endswith(" / canary"):
        return "x the canary's", 1.0
    if series.name.endswith(("p50", "p99")):
        return "ms", 1000.0
    if series.name in ("throughput", "knee"):
        return "operations/s", 1.0
    return {"findings": ("findings", 1.0), "run time": ("s", 1.0)}.get(series.name, ("", 1.0))


def _series_chart(series: Series) -> str:
    """The series and the canary's against time (days since the series' first run): a night left out of
    one of them leaves the other where it was."""
    fig, ax = plt.subplots(figsize=(8, 2.6))
    t0 = series.started[0]
    unit, factor = _unit(series)

    def days(times: list[float]) -> list[float]:
        return [(t - t0) / 86400 for t in times]

    values = [v * factor for v in series.values]
    ax.plot(days(series.started), values, ".-", label=series.name)
    if series.canary is not None:
        canary = [v * factor for v in series.canary]
        ax.plot(days(series.canary_started), canary, ".:", color="grey", label="canary (embedded server)")
    for cp in series.change_points:
        between = days([(series.started[cp.index - 1] + series.started[cp.index]) / 2])[0]
        ax.axvline(between, color="#b00" if not cp.host else "#888", linestyle="--")
        at = days([series.started[cp.index]])[0]
        ax.annotate(f"{cp.shown}{' host' if cp.host else ''}", (at, max(values)), color="#b00")
    ax.set_title(f"{series.name}: {series.shape.label}")
    ax.set_xlabel("days since the first run")
    ax.set_ylabel(unit)
    ax.legend(loc="upper left", fontsize="small")
    return _svg(fig)


def trend_page(trend: Trend, *, gated: bool) -> str:
    """The trend's page; its verdict is the exit code's (`Trend.verdict`)."""
    verdict = trend.verdict(gated=gated)
    bound = trend.generator_bound
    left = (
        f"<p>Left out of the latency and throughput series: {len(bound)} run(s) whose load generator was the "
        f"limit (their self-check), so they measured the generator: {html.escape(', '.join(bound))}</p>"
        if bound
        else ""
    )
    body = [
        f"<h1>zscheck trend</h1><p>{html.escape(trend.label)}: {trend.runs} run(s); change points by Apache "
        f"Otava at p &lt; {trend.max_pvalue:g}, window {trend.window}</p>",
        left,
        f"<p class='verdict {'pass' if verdict is Verdict.PASS else 'fail'}'>"
        + html.escape(f"{verdict.word}: {trend.reason(gated=gated)}")
        + "</p>",
    ]
    points = [(series, cp) for series in trend.series for cp in series.change_points]
    if points:  # no empty table: the charts say "no change point" by having none marked
        body.append(
            "<table><tr><th>metric</th><th>runs of</th><th>run</th><th>change</th><th>p</th><th>before</th>"
            "<th>after</th><th>whose</th></tr>"
        )
        for series, cp in points:
            body.append(
                f"<tr><td>{html.escape(series.name)}</td><td>{html.escape(series.shape.label)}</td>"
                f"<td>{html.escape(cp.run)}</td><td>{cp.shown}</td><td>{cp.pvalue:.2g}</td>"
                f"<td>{cp.mean_before:.4g}</td><td>{cp.mean_after:.4g}</td>"
                f"<td>{'host (the canary changed too)' if cp.host else 'target'}</td></tr>"
            )
        body.append("</table>")
    else:
        body.append("<p>No change point in any series.</p>")
    body.extend(f"<div>{_series_chart(s)}</div>" for s in trend.series if s.values)
    return _page("zscheck trend", body)
