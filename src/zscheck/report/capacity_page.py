"""capacity.html: one page an SRE reads after `zscheck capacity`: the statement (the knee and its margins,
or "no saturation up to ..."), the points with their intervals, the fitted model and the charts (SVG,
embedded: the page is one file that opens anywhere)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from zscheck.report.documents import CapacityReport, Fitted


def _fitted(name: str, value: Fitted | None, unit: str = "") -> str:
    if value is None:
        return f"<tr><th>{escape(name)}</th><td colspan=2>not predictable from these steps</td></tr>"
    interval = (
        f"{value.low:.4g} – {value.high:.4g}"
        if value.low is not None and value.high is not None
        else "not bounded by the data"
    )
    return f"<tr><th>{escape(name)}</th><td>{value.value:.4g}{unit}</td><td>95% CI {escape(interval)}</td></tr>"


def render(report: CapacityReport, svgs: dict[str, str]) -> str:
    by_rate = report.by == "rate"
    rows = []
    for i, p in enumerate(report.points, 1):
        tp = p.throughput
        ci = f"{tp.low:.1f} – {tp.high:.1f}" if tp.runs > 1 else "one run"
        margins = "<br>".join(escape(m.shown) for m in p.gates)
        load = f"{p.rate:g}/s" if by_rate and p.rate is not None else f"{p.users} users"
        little = escape(p.little.shown)
        rows.append(
            f"<tr class={'ok' if p.passed else 'bad'}><td>{i}</td><td>{p.phase}</td><td>{escape(load)}</td>"
            f"<td>{tp.mean:.1f}</td><td>{escape(ci)}</td><td>{p.latency_mean.mean * 1000:.1f}</td>"
            f"<td>{margins}</td><td>{'ok' if p.passed else 'broken'}</td><td>{little}</td></tr>"
        )
    model = report.model
    model_rows = ""
    if model is not None:
        model_rows = "".join(
            [
                _fitted("λ (one user's throughput)", model.lam, " ops/s"),
                _fitted("σ (contention)", model.sigma),
                _fitted("κ (crosstalk)", model.kappa),
                _fitted("N* (peak concurrency)", model.peak_concurrency),
                _fitted("peak throughput", model.peak_throughput, " ops/s"),
            ]
            + ([_fitted("ceiling (λ/σ, κ = 0)", model.ceiling, " ops/s")] if model.ceiling is not None else [])
        )
        if model.r_squared is not None:
            model_rows += f"<tr><th>R²</th><td colspan=2>{model.r_squared:.3f} over {model.points} runs</td></tr>"
    charts = "".join(f"<figure id='{escape(name)}'>{svg}</figure>" for name, svg in svgs.items())
    nxt = (
        f"<p>Next range: <code>zscheck capacity {escape(report.next_range.arguments)}</code></p>"
        if report.next_range
        else ""
    )
    gates = ", ".join(f"<code>{escape(g)}</code>" for g in report.slo)
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>zscheck capacity: {escape(report.target)}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: .25em .5em; }}
th {{ text-align: left; background: #f4f4f4; }} tr.bad td {{ background: #fdecea; }}
.statement {{ font-size: 1.15em; padding: .6em .8em; background: #eef5ff; border-left: 4px solid #2b7bba; }}
figure {{ margin: 1em 0; }} figure svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Capacity of {escape(report.target)}</h1>
<p>Verdict <b>{escape(report.verdict)}</b> (exit {report.exit_code}); scenario <code>{escape(report.scenario)}</code>,
by {escape(report.by)}, gates {gates}, seed {report.seed}{", refined" if report.refine else ""}{
        f", {report.repeat} runs per point" if report.repeat > 1 else ""
    }.</p>
<p class=statement>{escape(report.statement)}</p>
{nxt}
{f"<p>Could not run: {escape(report.error)}</p>" if report.error else ""}
<h2>Points</h2>
<table><tr><th>#</th><th>phase</th><th>load</th><th>ops/s</th><th>95% CI</th><th>mean ms</th><th>margins</th>
<th>verdict</th><th>Little's law</th></tr>
{"".join(rows)}</table>
<h2>Model: Universal Scalability Law</h2>
<p>{escape(model.statement) if model else "no model"}</p>
<table>{model_rows}</table>
<h2>Charts</h2>
{charts or "<p>no point was measured</p>"}
</body></html>
"""


def write(report: CapacityReport, directory: Path, svgs: dict[str, str]) -> Path:
    path = directory / "capacity.html"
    path.write_text(render(report, svgs), encoding="utf-8")
    return path
