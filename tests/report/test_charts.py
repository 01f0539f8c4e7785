"""index.html's chart axes and prose, as pure functions: round y-axis tops (1 on an all-zero chart, never
1.1e-09), percentile labels where the distribution puts them, backticks as code."""

from __future__ import annotations

import re

import pytest

from zscheck.report.html import _PERCENTILE_TICKS, _line_chart, _nice_top, _tail_x, _text


@pytest.mark.parametrize(
    ("value", "top"),
    [(0, 1.0), (-1, 1.0), (0.3, 0.4), (1, 1.0), (1.1, 2.0), (3, 4.0), (7, 8.0), (9, 10.0), (12, 20.0), (999, 1000.0)],
)
def test_nice_top(value: float, top: float) -> None:
    assert _nice_top(value) == pytest.approx(top)


def test_an_all_zero_chart_reads_0_to_1() -> None:
    svg = _line_chart({"failed checks": [(0, 0.0), (1, 0.0), (2, 0.0)]}, "t", "t (s)")
    assert re.findall(r"class=ytick[^>]*>([^<]*)<", svg) == ["0", "0.25", "0.5", "0.75", "1"]


def test_the_distribution_axis_is_labelled_in_percentiles() -> None:
    def label(percentile: float) -> str:
        return next(text for x, text in _PERCENTILE_TICKS if abs(x - _tail_x(percentile)) < 1e-9)

    assert [label(p) for p in (50, 90, 99, 99.9)] == ["p50", "p90", "p99", "p99.9"]
    svg = _line_chart({"e2e": [(_tail_x(50), 1.0), (_tail_x(99.9), 3.0)]}, "d", "p", x_ticks=_PERCENTILE_TICKS)
    assert re.findall(r"class=xtick[^>]*>([^<]*)<", svg) == ["p50", "p90", "p99", "p99.9"]


@pytest.mark.parametrize(
    ("prose", "html"),
    [
        ("a 202 names `location`", "a 202 names <code>location</code>"),
        ("`a` and `b<c>`", "<code>a</code> and <code>b&lt;c&gt;</code>"),
        ("no code", "no code"),
        ("one ` alone", "one ` alone"),
    ],
)
def test_backticks_become_code(prose: str, html: str) -> None:
    assert _text(prose) == html
