"""Charts for people, drawn with matplotlib (Agg, no display): PNG and SVG files beside the JSON, and SVG
text for the HTML pages.

- `capacity_figures(report)`: throughput against load, latency percentiles against throughput with the
  latency gates drawn, and the fitted USL curve over the measured points (`zscheck capacity`).
- `load_figures(summary)`: throughput and latency second by second (`zscheck load`).
- `write_figures(figures, directory)`: each figure as NAME.png and NAME.svg; returns what -> file name.
- `svg_text(figure)`: one figure as SVG markup to embed in a page (capacity.html, index.html).

Figures are built with `matplotlib.figure.Figure` directly, never pyplot: no global state, no backend to
choose, safe in any process. matplotlib is imported when a chart is drawn, not with the package. SVGs
are reproducible: no date in their metadata and a fixed hash salt for their element ids.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zscheck.report.documents import CapacityReport, LoadResult, LoadSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PERCENTILES = ("p50", "p99", "p99.9")
_COLOURS = {"p50": "#2b7bba", "p99": "#e08a1e", "p99.9": "#c2362b", "fit": "#555555", "gate": "#c2362b"}


def _figure(title: str) -> Figure:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "zscheck"
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    fig.suptitle(title, fontsize=11)
    return fig


def _operation_stats(step: LoadResult, metric: str, operation: str = "all") -> float | None:
    stats = step.operations.get(operation)
    if stats is None:
        return None
    value = getattr(stats, metric.replace(".", "_"), None)
    return float(value) if value is not None else None


# A latency gate's text (zscheck.slo parses gates; the report package reads documents only, so the few
# facts a chart needs, operation, metric and threshold, are read back from the text here).
_LATENCY_GATE = re.compile(
    r"^\s*(?:(?P<operation>[^:<>=]+?)\s*:\s*)?(?P<metric>p50|p90|p95|p99|p99\.9|max|mean)\s*(?:<=|>=|<|>)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>us|ms|s)\s*$"
)
_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _gate_parts(text: str) -> tuple[str, str, float] | None:
    """(operation, metric, threshold in ms) of a latency gate such as `e2e:p99<250ms`; None otherwise."""
    match = _LATENCY_GATE.match(text)
    if match is None:
        return None
    return (match["operation"] or "all").strip(), match["metric"], float(match["value"]) * _MS[match["unit"]]


def capacity_figures(report: CapacityReport) -> dict[str, Figure]:
    """The three charts of a capacity search (empty when no point was measured)."""
    points = sorted(report.points, key=lambda p: (p.rate or 0.0, p.users))  # by load (refine points come last)
    if not points:
        return {}
    by_rate = report.by == "rate"
    figures: dict[str, Figure] = {}

    # throughput against load, with each point's interval
    fig = _figure("Throughput against load")
    ax = fig.add_subplot()
    loads = [p.rate if by_rate and p.rate is not None else float(p.users) for p in points]
    means = [p.throughput.mean for p in points]
    errors = [
        [p.throughput.mean - p.throughput.low for p in points],
        [p.throughput.high - p.throughput.mean for p in points],
    ]
    ok = [p.passed for p in points]
    ax.errorbar(loads, means, yerr=errors, fmt="none", ecolor="#999999", capsize=3)
    for passed, colour, marker, label in ((True, "#2b8a3e", "o", "every gate met"), (False, "#c2362b", "x", "broken")):
        chosen = [(x, y) for x, y, g in zip(loads, means, ok, strict=True) if g is passed]
        if chosen:
            ax.scatter(*zip(*chosen, strict=True), color=colour, marker=marker, label=label, zorder=3)
    if report.knee is not None:
        knee_x = report.knee.rate if by_rate and report.knee.rate is not None else float(report.knee.users)
        ax.axvline(knee_x, color="#2b8a3e", linestyle=":", label=f"knee ({knee_x:g})")
    ax.set_xlabel("offered rate (operations/s)" if by_rate else "users")
    ax.set_ylabel("throughput (operations/s)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    figures["capacity-throughput"] = fig

    # latency percentiles against throughput, the latency gates drawn
    fig = _figure("Latency percentiles against throughput")
    ax = fig.add_subplot()
    for metric in _PERCENTILES:
        xs, ys = [], []
        for p in points:
            values = [_operation_stats(report.steps[i], metric) for i in p.runs if i < len(report.steps)]
            present = [v for v in values if v is not None]
            if present:
                xs.append(p.throughput.mean)
                ys.append(sum(present) / len(present) * 1000)
        ax.plot(xs, ys, marker="o", color=_COLOURS[metric], label=metric)
    for gate in report.slo:
        parts = _gate_parts(gate)
        if parts is not None:
            ax.axhline(parts[2], color=_COLOURS["gate"], linestyle="--", linewidth=1)
            ax.annotate(f"gate {gate}", (0.01, parts[2]), xycoords=("axes fraction", "data"), fontsize=8,
                        color=_COLOURS["gate"], va="bottom")  # fmt: skip
    ax.set_xlabel("throughput (operations/s)")
    ax.set_ylabel("latency, all operations (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    figures["capacity-latency"] = fig

    # the USL over the measured runs
    fig = _figure("Universal Scalability Law fitted to the runs")
    ax = fig.add_subplot()
    model = report.model
    xs = [r.concurrency for r in model.residuals] if model else []
    ys = [r.measured for r in model.residuals] if model else []
    if not xs:  # too few loads to fit (or none met the correctness constraint): the measured points alone
        measured = [(p.little.implied if by_rate else p.users, p.throughput.mean) for p in points]
        ax.scatter([x for x, _ in measured], [y for _, y in measured], color="#999999", label="measured (not fitted)")
    else:
        ax.scatter(xs, ys, color="#2b7bba", label="runs fitted", zorder=3)
    if model and model.lam and model.sigma and model.kappa and xs:
        # The fitted curve whether or not a peak is predictable: without one, it is how the runs bend so far.
        lam, sigma, kappa = model.lam.value, model.sigma.value, model.kappa.value
        top = max(xs) * 1.5
        if model.predictable and model.peak_concurrency is not None:
            top = max(top, model.peak_concurrency.value * 1.3)
        grid = [top * i / 200 for i in range(1, 201)]
        curve = [lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1)) for n in grid]
        label = "USL fit" if model.predictable else "USL fit (no peak stated)"
        ax.plot(grid, curve, color=_COLOURS["fit"], label=label)
        if model.predictable and model.peak_concurrency is not None and model.peak_throughput is not None:
            ax.scatter([model.peak_concurrency.value], [model.peak_throughput.value], marker="*", s=120,
                       color="#e08a1e", label="predicted peak", zorder=4)  # fmt: skip
    if model is not None and model.ceiling is not None:
        ax.axhline(model.ceiling.value, color="#e08a1e", linestyle=":", label="ceiling (λ/σ, κ = 0)")
    ax.set_xlabel("concurrency (users)" if not by_rate else "concurrency (throughput x mean latency)")
    ax.set_ylabel("throughput (operations/s)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    if model is not None:
        ax.set_title(_wrap(model.statement), fontsize=7, color="#555555")
    figures["capacity-model"] = fig
    return figures


def _wrap(text: str, width: int = 110) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def load_figures(summary: LoadSummary) -> dict[str, Figure]:
    """Throughput and latency second by second of a load run (empty when it measured nothing)."""
    result = summary.result
    if result is None or not result.timeline:
        return {}
    seconds = [row.t for row in result.timeline]
    fig = _figure("Throughput over time")
    ax = fig.add_subplot()
    ax.plot(seconds, [row.ops for row in result.timeline], color="#2b7bba", label="operations/s")
    failures = [row.failures for row in result.timeline]
    if any(failures):
        ax.plot(seconds, failures, color="#c2362b", label="failures/s")
    ax.set_xlabel("seconds from the start")
    ax.set_ylabel("per second")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    figures: dict[str, Figure] = {"load-throughput": fig}
    fig = _figure("Latency over time")
    ax = fig.add_subplot()
    ax.plot(seconds, [row.p50 * 1000 for row in result.timeline], color=_COLOURS["p50"], label="p50")
    ax.plot(seconds, [row.p99 * 1000 for row in result.timeline], color=_COLOURS["p99"], label="p99")
    for gate in summary.slo:
        parts = _gate_parts(gate)
        if parts is not None and parts[1] in ("p50", "p99"):
            ax.axhline(parts[2], color=_COLOURS["gate"], linestyle="--", linewidth=1, label=f"gate {gate}")
    ax.set_xlabel("seconds from the start")
    ax.set_ylabel("latency, all operations (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    figures["load-latency"] = fig
    return figures


def write_figures(
    figures: dict[str, Figure], directory: Path, formats: Sequence[str] = ("png", "svg")
) -> dict[str, str]:
    """Each figure as NAME.png and NAME.svg in `directory`; returns "NAME.ext" -> file name."""
    written: dict[str, str] = {}
    for name, fig in figures.items():
        for fmt in formats:
            path = directory / f"{name}.{fmt}"
            fig.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
            written[f"{name}.{fmt}"] = path.name
    return written


def svg_text(figure: Figure) -> str:
    """One figure as SVG markup (no XML prolog) to embed in an HTML page."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def load_svgs(summary: LoadSummary) -> dict[str, str]:
    """A load run's charts as SVG markup, for index.html (the findings page's html.py calls this)."""
    return {name: svg_text(fig) for name, fig in load_figures(summary).items()}


def capacity_svgs(report: CapacityReport) -> dict[str, str]:
    """A capacity search's charts as SVG markup, for capacity.html."""
    return {name: svg_text(fig) for name, fig in capacity_figures(report).items()}
