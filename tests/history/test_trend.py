"""zscheck trend on synthetic nightly series with a known step: found where it is, with its magnitude and the
runs on each side; the canary's step is the host's; --fail-on-change; the command and its page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.history.factories import load_summary, record_of
from zscheck.cli import main
from zscheck.cli.trend import text
from zscheck.history.record import EMBEDDED_TARGET, RunRecord
from zscheck.history.store import open_store
from zscheck.history.trend import detect, trend
from zscheck.report.documents import SelfCheck

DAY = 86400.0
START = 1.8e9


def nights(
    tmp: Path,
    medians: list[float],
    *,
    target: str = "http://127.0.0.1:9",
    seed: int = 0,
    prefix: str = "n",
    bound: range = range(0),
) -> list[RunRecord]:
    """One load run a night, each with 10 seconds around that night's median e2e latency; the nights in
    `bound` had a load generator that was the limit (their generator_cpu self-check failed)."""
    rng = np.random.default_rng(seed)
    out = []
    for night, median in enumerate(medians):
        samples = list(median * np.exp(rng.normal(0, 0.05, 10)))
        summary = load_summary(samples, target=target, started=START + night * DAY)
        if night in bound and summary.result is not None:
            summary.result.self_checks = [
                SelfCheck(check="generator_cpu", ok=False, text="the load generator was the limit", advice="-")
            ]
        out.append(record_of(tmp, f"{prefix}{night}", summary, "load"))
    return out


def noisy(n: int, level: float, seed: int, step_at: int | None = None, step: float = 0.0) -> list[float]:
    values = level * np.exp(np.random.default_rng(seed).normal(0, 0.03, n))  # 3% night-to-night noise
    if step_at is not None:
        values[step_at:] *= 1 + step
    return list(values)


@pytest.mark.parametrize(
    ("values", "found"),
    [
        (noisy(60, 10, 1), []),  # noise only
        (noisy(60, 10, 2, step_at=40, step=0.15), [40]),  # a 15% step at night 40
        (noisy(60, 10, 3, step_at=20, step=-0.2), [20]),
        ([10.0] * 3, []),  # too short to say anything
    ],
)
def test_detect_finds_a_step_where_it_is(values: list[float], found: list[int]) -> None:
    assert [index for index, *_ in detect(values, max_pvalue=0.001, window=30)] == found


def test_a_step_in_the_target_is_the_targets_with_its_size_and_runs(tmp_path: Path) -> None:
    runs = nights(tmp_path, noisy(40, 0.010, 4, step_at=30, step=0.25))
    result = trend(runs, label="t")
    p50 = next(s for s in result.series if s.name == "e2e p50")
    (cp,) = p50.change_points
    assert cp.index == 30 and cp.run == runs[30].id and cp.before == runs[29].id
    assert cp.change == pytest.approx(0.25, abs=0.06) and cp.worse and not cp.host
    assert any("e2e p50 +" in reason for reason in result.failing())


def test_a_step_the_canary_shows_too_is_the_hosts(tmp_path: Path) -> None:
    target = nights(tmp_path, noisy(40, 0.010, 5, step_at=30, step=0.25))
    canary = nights(tmp_path, noisy(40, 0.002, 6, step_at=30, step=0.25), target=EMBEDDED_TARGET, prefix="c")
    result = trend(target, canary, label="t")
    p50 = next(s for s in result.series if s.name == "e2e p50")
    assert [cp.host for cp in p50.change_points] == [True] and p50.canary is not None
    assert result.failing() == []


def test_an_improvement_or_an_old_change_does_not_fail(tmp_path: Path) -> None:
    better = trend(nights(tmp_path, noisy(40, 0.010, 7, step_at=30, step=-0.25)), label="t")
    assert better.failing() == []
    old = trend(nights(tmp_path, noisy(60, 0.010, 8, step_at=15, step=0.25), prefix="o"), label="t")
    assert any(s.change_points for s in old.series) and old.failing() == []  # 45 nights ago: not news


def test_the_command_gates_and_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "h.sqlite")
    with open_store(store) as s:
        for record in nights(tmp_path, noisy(36, 0.010, 9, step_at=30, step=0.3)):
            s.add(record)
    page, data = tmp_path / "t.html", tmp_path / "t.json"
    argv = ["trend", "--store", store, "--html", str(page), "--json", str(data)]
    assert main(argv) == 0  # without --fail-on-change a change is reported, not a failure
    assert main([*argv, "--fail-on-change"]) == 1
    text = capsys.readouterr().out
    assert "zscheck: VIOLATIONS (trend) - e2e p50 +" in text and "between run" in text
    doc = json.loads(data.read_text())
    assert doc["schema"] == "zscheck/trend/1" and doc["runs"] == 36
    p50 = next(s for s in doc["series"] if s["metric"] == "e2e p50")
    assert p50["change_points"][0]["index"] == 30 and p50["change_points"][0]["whose"] == "target"
    html = page.read_text()
    assert html.count("<svg") == len(doc["series"]) and "<script" not in html
    assert main(["trend", "--store", str(tmp_path / "empty.sqlite")]) == 2
    assert "has no runs yet" in capsys.readouterr().err


def test_the_command_line_does_not_import_the_statistics_until_asked() -> None:
    """numpy, scipy and Otava take seconds to import: every other command (and a SIGTERM in its first
    seconds, which must reach the restore) must not wait for them."""
    import subprocess
    import sys

    code = "import sys, zscheck.cli; print(sorted(m for m in ('scipy', 'otava', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_the_help_text_says_the_gates_window() -> None:
    from zscheck.cli import trend as cli_trend
    from zscheck.history import trend as history_trend

    assert cli_trend.RECENT == history_trend.RECENT


def test_a_step_the_hosts_noise_hides_shows_against_the_canary(tmp_path: Path) -> None:
    """A busy shared host: both series move together by 30% from night to night; the target alone gets 25%
    slower from night 30. Its own series cannot tell; divided by the canary's, it can."""
    rng = np.random.default_rng(11)
    host = np.exp(rng.normal(0, 0.3, 40))  # the machine's load, shared by the target and the canary
    own = np.exp(rng.normal(0, 0.03, 40)) * np.where(np.arange(40) >= 30, 1.25, 1.0)
    target = nights(tmp_path, list(0.010 * host * own))
    canary = nights(tmp_path, list(0.002 * host), target=EMBEDDED_TARGET, prefix="c")
    result = trend(target, canary, label="t")
    p50 = next(s for s in result.series if s.name == "e2e p50")
    ratio = next(s for s in result.series if s.name == "e2e p50 / canary")
    assert not any(cp.index == 30 for cp in p50.change_points)  # lost in the host's noise
    assert [cp.index for cp in ratio.change_points] == [30] and ratio.change_points[0].worse
    assert ratio.change_points[0].change == pytest.approx(0.25, abs=0.06)
    assert any(reason.startswith("e2e p50 / canary +") for reason in result.failing())


@pytest.mark.parametrize("judged", [True, False], ids=["self-checked", "not-self-checked"])
def test_nights_whose_generator_was_the_limit_give_no_latency_point(tmp_path: Path, judged: bool) -> None:
    """Nights 26 to 35 the generator was starved and measured its own slowness (1.6x), the target
    unchanged. The control, the same latencies without the failed self-check, shows that step: the rule is
    what hides it. The canary keeps its own starved nights: what it measures is the host."""
    medians = noisy(40, 0.010, 12)
    medians[26:36] = [1.6 * m for m in medians[26:36]]
    runs = nights(tmp_path, medians, bound=range(26, 36) if judged else range(0))
    canary = nights(tmp_path, noisy(40, 0.002, 13), target=EMBEDDED_TARGET, prefix="c", bound=range(40))
    result = trend(runs, canary, label="t")
    series = {s.name: s for s in result.series}
    if not judged:
        first = series["e2e p50"].change_points[0]
        assert (first.index, first.worse) == (26, True)
        return
    assert result.generator_bound == [r.id for r in runs[26:36]]
    assert len(series["e2e p50"].values) == len(series["throughput"].values) == 30
    assert not series["e2e p50"].change_points and result.failing() == [] and result.no_verdict() is None
    assert len(series["findings"].values) == 40  # what the run found still counts
    assert series["e2e p50"].canary is not None and len(series["e2e p50"].canary) == 40
    assert result.to_json()["generator_bound"] == result.generator_bound
    (said,) = [line for line in text(result) if "left out" in line]
    assert "10 run(s) whose load generator was the limit" in said and runs[26].id in said


def test_when_every_newest_run_was_generator_bound_the_gate_cannot_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite")
    runs = nights(tmp_path, noisy(40, 0.010, 14), bound=range(30, 40))
    with open_store(store) as s:
        for record in runs:
            s.add(record)
    assert trend(runs, label="t").recent_bound
    assert main(["trend", "--store", store]) == 0  # no gate asked for: reported
    assert main(["trend", "--store", store, "--fail-on-change"]) == 2
    out = capsys.readouterr().out
    assert "zscheck: COULD NOT RUN (trend) - the newest 10 run(s) all had a load generator that was the limit" in out
    assert not trend(runs[:39] + nights(tmp_path, [0.010], prefix="x"), label="t").recent_bound  # one measured


def test_the_embedded_servers_own_series_keeps_its_generator_bound_nights(tmp_path: Path) -> None:
    runs = nights(tmp_path, noisy(20, 0.002, 15), target=EMBEDDED_TARGET, bound=range(20))
    result = trend(runs, label=EMBEDDED_TARGET)
    assert result.generator_bound == [] and len(next(s for s in result.series if s.name == "e2e p50").values) == 20
