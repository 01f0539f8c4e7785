"""zscheck trend on synthetic nightly series with a known step: found where it is, with its magnitude and the
runs on each side; the canary's step is the host's; --fail-on-change; the command and its page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.history.factories import contract_summary, failure, load_summary, record_of
from zscheck.cli import main
from zscheck.cli.trend import text
from zscheck.history.record import EMBEDDED_TARGET, RunRecord, from_directory
from zscheck.history.store import open_store
from zscheck.history.trend import detect, trend
from zscheck.report.documents import SelfCheck, TrendReport

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
    assert doc["schema"] == "zscheck/trend/2" and doc["runs"] == 36 and doc["verdict"] == "VIOLATIONS"
    assert TrendReport.from_json(doc, str(data)).gated  # typed: the model reads back what the command wrote
    p50 = next(s for s in doc["series"] if s["metric"] == "e2e p50")
    assert p50["change_points"][0]["index"] == 30 and p50["change_points"][0]["whose"] == "target"
    html = page.read_text()
    assert html.count("<svg") == len(doc["series"]) and "<script" not in html
    assert main(["trend", "--store", str(tmp_path / "missing.sqlite")]) == 2  # a mistyped path: said
    assert "no such file: nothing was recorded there" in capsys.readouterr().err
    open_store(str(tmp_path / "empty.sqlite")).close()  # a store that exists, with nothing in it
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
    assert result.document(gated=True).generator_bound == result.generator_bound
    (said,) = [line for line in text(result, gated=True) if "left out" in line]
    assert "10 run(s) whose load generator was the limit" in said and runs[26].id in said


def test_when_every_newest_run_was_generator_bound_the_gate_cannot_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite")
    runs = nights(tmp_path, noisy(40, 0.010, 14), bound=range(30, 40))
    with open_store(store) as s:
        for record in runs:
            s.add(record)
    assert trend(runs, label="t").recent_unmeasured
    assert main(["trend", "--store", store]) == 0  # no gate asked for: reported
    assert main(["trend", "--store", store, "--fail-on-change"]) == 2
    out = capsys.readouterr().out
    assert "zscheck: COULD NOT RUN (trend) - the newest 10 run(s) all had a load generator that was the limit" in out
    assert not trend(runs[:39] + nights(tmp_path, [0.010], prefix="x"), label="t").recent_unmeasured  # one measured


def test_the_embedded_servers_own_series_keeps_its_generator_bound_nights(tmp_path: Path) -> None:
    runs = nights(tmp_path, noisy(20, 0.002, 15), target=EMBEDDED_TARGET, bound=range(20))
    result = trend(runs, label=EMBEDDED_TARGET)
    assert result.generator_bound == [] and len(next(s for s in result.series if s.name == "e2e p50").values) == 20


def _store(tmp: Path, records: list[RunRecord]) -> str:
    store = str(tmp / "h.sqlite")
    with open_store(store) as s:
        for record in records:
            s.add(record)
    return store


def _strict(path: Path) -> dict[str, object]:
    """The file as a strict parser reads it: NaN and Infinity are no JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{path}: {constant} is not JSON")

    data: dict[str, object] = json.loads(path.read_text(), parse_constant=refuse)
    return data


def test_each_command_and_load_shape_is_a_series_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Six 10 s loads of 5 users (10 ms), six of 10 users (20 ms: more users wait longer), six contract runs
    (3 s): no build changed. In one series each shape's own level reads as a change (run time 10 -> 3,
    e2e p50 +100%); as a series each, nothing changed."""
    runs = []
    for night in range(12):
        summary = load_summary([0.010 if night < 6 else 0.020] * 10, started=START + night * DAY)
        summary.users = 5 if night < 6 else 10
        runs.append(record_of(tmp_path, f"l{night}", summary, "load"))
    for night in range(12, 18):
        runs.append(record_of(tmp_path, f"c{night}", contract_summary([], started=START + night * DAY), "contract"))
    result = trend(runs, label="t")
    assert result.failing() == [] and not any(s.change_points for s in result.series)
    assert [s.command for s in result.shapes] == ["contract", "load", "load"]
    assert {dict(s.facts).get("users") for s in result.shapes} == {None, "5", "10"}
    assert {len(s.values) for s in result.series if s.name in ("e2e p50", "run time")} == {6}
    store = _store(tmp_path, runs)
    data = tmp_path / "t.json"
    assert main(["trend", "--store", store, "--fail-on-change", "--json", str(data)]) == 0
    out = capsys.readouterr().out
    assert "  contract (dialect rest): 6 run(s)" in out and "users 5, rate closed loop, duration 10 s" in out
    doc = _strict(data)
    assert {s["shape"]["command"] for s in doc["series"]} == {"load", "contract"}  # type: ignore[index]


def test_a_run_of_another_load_option_is_another_series(tmp_path: Path) -> None:
    """Six nights of the mixed scenario with half its operations queries (10 ms), six with 90% (20 ms): the
    load changed, not the build. Before the summaries held the load options, the two read as one series
    and the second six as a +100% step."""
    runs = []
    for night in range(12):
        summary = load_summary([0.010 if night < 6 else 0.020] * 10, started=START + night * DAY, scenario="mixed")
        assert summary.load is not None
        summary.load.query_ratio = 0.5 if night < 6 else 0.9
        runs.append(record_of(tmp_path, f"q{night}", summary, "load"))
    result = trend(runs, label="t")
    assert result.failing() == [] and not any(s.change_points for s in result.series)
    assert sorted(dict(s.facts)["query ratio"] for s in result.shapes) == ["0.5", "0.9"]
    assert "query ratio 0.9, error ratio 0.25, spawn rate all at once" in result.shapes[0].label


def test_remote_workers_are_another_series_than_local_processes(tmp_path: Path) -> None:
    """`--master --expect-workers 3` and `--processes 3` both record 3 processes; the generators are
    elsewhere in one, so its latencies are another series (they read as one, and a +100% step)."""
    runs = []
    for night in range(12):
        summary = load_summary([0.010 if night < 6 else 0.020] * 10, started=START + night * DAY)
        assert summary.load is not None
        summary.processes, summary.load.remote = 3, night >= 6
        runs.append(record_of(tmp_path, f"w{night}", summary, "load"))
    result = trend(runs, label="t")
    assert not any(s.change_points for s in result.series)
    assert sorted(dict(s.facts)["generators"] for s in result.shapes) == ["remote workers", "this machine"]


def test_an_older_zscheck_runs_stay_in_the_series_they_agree_with(tmp_path: Path) -> None:
    """Ten nights written by a zscheck before the load options were recorded (load-summary/3), then ten by
    this one, with a 50% step at the upgrade's night 14: one series, and the step is found where it is
    (were the old runs unreadable, or a series of their own, the nightly gate would start again from none)."""
    runs = []
    for night in range(20):
        summary = load_summary([0.010 if night < 14 else 0.015] * 10, started=START + night * DAY)
        directory = tmp_path / f"u{night}"
        summary.write(directory / "summary.json")
        if night < 10:
            data = json.loads((directory / "summary.json").read_text())
            del data["load"], data["duration"]
            data["schema"] = "zscheck/load-summary/3"
            (directory / "summary.json").write_text(json.dumps(data))
        runs.append(from_directory(directory, command="load", target_version="5.2.1"))
    assert runs[0].load_summaries()[0].load is None and runs[-1].load_summaries()[0].load is not None
    result = trend(runs, label="t")
    (shape,) = result.shapes
    assert "query ratio 0.5" in shape.label
    p50 = next(s for s in result.series if s.name == "e2e p50")
    assert len(p50.values) == 20 and [c.index for c in p50.change_points] == [14]


def test_without_the_gate_changes_are_reported_and_the_verdict_is_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(tmp_path, nights(tmp_path, noisy(36, 0.010, 9, step_at=30, step=0.3)))
    page = tmp_path / "t.html"
    assert main(["trend", "--store", store, "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "  not gated (give --fail-on-change to fail on them): e2e p50 +" in out
    assert "zscheck: PASS (trend) - changes reported, not gated" in out and "VIOLATIONS" not in out
    html = page.read_text()
    assert "class='verdict pass'>PASS: not gated" in html and "FAIL" not in html
    assert main(["trend", "--store", store, "--html", str(page), "--fail-on-change"]) == 1
    assert "zscheck: VIOLATIONS (trend) - e2e p50 +" in capsys.readouterr().out
    assert "class='verdict fail'>VIOLATIONS: e2e p50 +" in page.read_text()


def test_a_series_from_zero_shows_the_absolute_change_and_json_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Findings 0 for 20 nights, then 2: a share of nothing is no number (it printed +nan% and wrote NaN)."""
    broken = [failure("state_after"), failure("error_code", rule="R3")]
    runs = [
        record_of(tmp_path, f"c{n}", contract_summary(broken if n >= 20 else [], started=START + n * DAY), "contract")
        for n in range(30)
    ]
    (cp,) = next(s for s in trend(runs, label="t").series if s.name == "findings").change_points
    assert cp.change is None and cp.shown == "+2"
    data, page = tmp_path / "t.json", tmp_path / "t.html"
    store = _store(tmp_path, runs)
    assert main(["trend", "--store", store, "--fail-on-change", "--json", str(data), "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert "findings +2 from run" in out and ": 0 -> 2 (p=" in out and "nan" not in out.lower()
    doc = _strict(data)
    (point,) = next(s for s in doc["series"] if s["metric"] == "findings")["change_points"]  # type: ignore[index, union-attr, attr-defined]
    assert point["change"] is None and point["absolute"] == 2
    assert "nan" not in page.read_text().lower()


def test_when_no_newest_run_measured_the_target_the_gate_cannot_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three closed loops whose generator was the limit and one that could not run (no result): fewer than
    RECENT runs, none of them the target's latency. The one that could not run joins their series."""
    runs = nights(tmp_path, [0.010] * 3, bound=range(3))
    dead = load_summary([0.010], started=START + 3 * DAY, verdict="COULD NOT RUN")
    dead.result, dead.error = None, "the target did not answer"
    dead.duration = 10.0  # the same nightly command: the duration asked is recorded though none was measured
    runs.append(record_of(tmp_path, "dead", dead, "load"))
    store = _store(tmp_path, runs)
    assert main(["trend", "--store", store, "--fail-on-change"]) == 2
    out = capsys.readouterr().out
    assert (
        "zscheck: COULD NOT RUN (trend) - none of the newest 4 run(s) measured the target: 3 had a load generator "
        f"that was the limit (their self-check), 1 could not run (COULD NOT RUN: {runs[3].id})"
    ) in out
    assert main(["trend", "--store", store]) == 0  # no gate asked for: said, not judged
    assert "  not gated (give --fail-on-change to fail on them): no verdict: none of" in capsys.readouterr().out
    result = trend(runs, label="t")
    assert len(result.shapes) == 1 and result.could_not_run == [runs[3].id]


def test_the_page_labels_its_axes_and_draws_no_empty_table(tmp_path: Path) -> None:
    from zscheck.history import charts

    result = trend(nights(tmp_path, noisy(12, 0.010, 16)), label="t")
    page = charts.trend_page(result, gated=True)
    assert "<table" not in page and "No change point in any series." in page
    units = {s.name: charts._unit(s) for s in result.series}
    assert units["e2e p50"] == ("ms", 1000.0) and units["throughput"] == ("operations/s", 1.0)
    assert units["run time"] == ("s", 1.0) and units["findings"] == ("findings", 1.0)
