"""The charts: PNG and SVG files beside the JSON, SVG markup for the pages, gates drawn, reproducible."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.report.test_documents import examples
from zscheck.report import capacity_page, plots
from zscheck.report.documents import (
    CapacityPoint,
    CapacityReport,
    Fitted,
    Interval,
    LittleLaw,
    LoadSummary,
    TimelineSecond,
    UslModel,
    UslResidual,
)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("e2e:p99<250ms", ("e2e", "p99", 250.0)),
        ("p99.9 <= 1s", ("all", "p99.9", 1000.0)),
        ("job:mean<500us", ("job", "mean", 0.5)),
        ("rps>=200", None),
        ("error_rate<0.1%", None),
    ],
)
def test_latency_gates_are_read_back_for_drawing(text: str, parts: tuple[str, str, float] | None) -> None:
    assert plots._gate_parts(text) == parts


def _capacity() -> CapacityReport:
    base = examples()[CapacityReport]
    assert isinstance(base, CapacityReport)
    step = base.steps[0]
    points = []
    for users in (5, 10, 15, 20):
        x = 100.0 * users / (1 + 0.05 * (users - 1) + 0.002 * users * (users - 1))
        points.append(
            CapacityPoint(
                phase="search", users=users, rate=None, passed=users < 20, correct=True,
                throughput=Interval(mean=x, low=x * 0.95, high=x * 1.05, runs=2),
                latency_mean=Interval(mean=users / x, low=users / x, high=users / x, runs=2),
                gates=[], little=LittleLaw(concurrency=users, implied=users, agrees=True, shown="agree"), runs=[0],
            )
        )  # fmt: skip
    model = UslModel(
        points=4, predictable=True, lam=Fitted(value=100, low=95, high=105),
        sigma=Fitted(value=0.05, low=0.04, high=0.06),
        kappa=Fitted(value=0.002, low=0.0015, high=0.0025), peak_concurrency=Fitted(value=21.8, low=20, high=24),
        peak_throughput=Fitted(value=740, low=700, high=780), ceiling=None, r_squared=0.99,
        residuals=[
            UslResidual(concurrency=p.users, measured=p.throughput.mean, fitted=p.throughput.mean) for p in points
        ],
        statement="peak 740.0 ops/s at 21.8 users",
    )  # fmt: skip
    return dataclasses.replace(base, steps=[step], points=points, model=model, slo=["e2e:p99<100ms"],
                               statement="knee at 15 users")  # fmt: skip


def test_a_capacity_search_draws_three_charts_as_png_and_svg_and_a_page(tmp_path: Path) -> None:
    report = _capacity()
    figures = plots.capacity_figures(report)
    assert set(figures) == {"capacity-throughput", "capacity-latency", "capacity-model"}
    files = plots.write_figures(figures, tmp_path)
    assert len(files) == 6
    for name in files.values():
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") if name.endswith(".png") else b"<svg" in data
    latency = (tmp_path / "capacity-latency.svg").read_text()
    assert "gate e2e:p99&lt;100ms" in latency  # the gate is drawn, labelled
    model = (tmp_path / "capacity-model.svg").read_text()
    assert "predicted peak" in model and "USL fit" in model
    page = capacity_page.render(report, plots.capacity_svgs(report))
    assert "knee at 15 users" in page and page.count("<svg") == 3 and "21.8" in page


def _drawn(figure: Any) -> tuple[int, list[str]]:
    """How many points the model chart scatters, and the labels of its lines."""
    (ax,) = figure.axes
    return sum(len(c.get_offsets()) for c in ax.collections), [line.get_label() for line in ax.get_lines()]


def test_the_model_chart_shows_the_measured_points_without_a_fit_and_the_curve_without_a_peak() -> None:
    """Fewer loads than a fit needs drew an empty chart with a "runs fitted" legend; a fit with no
    predictable peak drew no curve at all."""
    report = _capacity()
    assert report.model is not None
    unfitted = dataclasses.replace(report, model=None)
    count, lines = _drawn(plots.capacity_figures(unfitted)["capacity-model"])
    assert count == len(report.points) and not any("USL" in line for line in lines)
    no_peak = dataclasses.replace(report, model=dataclasses.replace(report.model, predictable=False))
    count, lines = _drawn(plots.capacity_figures(no_peak)["capacity-model"])
    assert count == len(report.points) and "USL fit (no peak stated)" in lines  # no peak marker either


def test_svgs_are_reproducible() -> None:
    report = _capacity()
    assert plots.capacity_svgs(report) == plots.capacity_svgs(report)


def test_a_load_run_draws_throughput_and_latency_over_time(tmp_path: Path) -> None:
    base = examples()[LoadSummary]
    assert isinstance(base, LoadSummary) and base.result is not None
    timeline = [TimelineSecond(t=t, ops=100 + t, failures=t % 2, p50=0.001, p99=0.004, codes={}) for t in range(10)]
    summary = dataclasses.replace(base, slo=["p99<5ms"], result=dataclasses.replace(base.result, timeline=timeline))
    svgs = plots.load_svgs(summary)  # what index.html embeds
    assert set(svgs) == {"load-throughput", "load-latency"} and all(s.startswith("<svg") for s in svgs.values())
    assert "gate p99&lt;5ms" in svgs["load-latency"] and "failures/s" in svgs["load-throughput"]
    assert plots.load_figures(dataclasses.replace(summary, result=None)) == {}
