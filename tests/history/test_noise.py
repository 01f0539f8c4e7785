"""A/A noise: labelled pairs become each metric's noise and floor; trend leaves A/A runs out of the nightly
series; `zscheck noise` runs real pairs against the embedded server, stores them labelled and writes
noise.json, which compare then uses for one run a side."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from tests.history.factories import load_summary, record_of
from tests.history.test_trend import DAY, START, nights, noisy
from zscheck.cli import main
from zscheck.history.noise import (
    AA_PAIR,
    AA_SIDE,
    StoredNoise,
    is_aa,
    noise_metrics,
    noise_of,
    pairs_of,
    stored_noise,
)
from zscheck.history.record import EMBEDDED_TARGET, RunRecord
from zscheck.history.store import Query, open_store
from zscheck.history.trend import trend
from zscheck.report.documents import SCHEMAS_DIR, NoiseReport


def pair_records(
    tmp: Path, ratios: list[float], *, level: float = 0.010, started: float = START, duration: int = 20
) -> list[RunRecord]:
    """A/A pairs whose second run's seconds (`duration` of them) are `ratio` times the first's."""
    out = []
    for k, ratio in enumerate(ratios):
        for side, factor in (("a", 1.0), ("b", ratio)):
            seconds = list(level * factor * np.exp(np.random.default_rng(k).normal(0, 0.01, duration)))
            record = record_of(tmp, f"p{k}{side}", load_summary(seconds, started=started + k), "load")
            record.labels = {AA_PAIR: f"s-{k}", AA_SIDE: side}
            out.append(record)
    return out


def test_pairs_become_each_metrics_noise_and_floor(tmp_path: Path) -> None:
    records = pair_records(tmp_path, [1.10, 0.90, 1.05, 0.95])
    lone = record_of(tmp_path, "lone", load_summary([0.01] * 10), "load")
    lone.labels = {AA_PAIR: "s-9", AA_SIDE: "a"}  # half a pair: not a pair
    pairs = pairs_of([*records, lone])
    assert [(a.labels[AA_SIDE], b.labels[AA_SIDE]) for a, b in pairs] == [("a", "b")] * 4
    noise = noise_of(pairs)
    p50 = noise["all p50"]
    assert p50.pairs == 4 and np.exp(p50.log_ratios[0]) == pytest.approx(1.10, abs=0.01)
    assert p50.sigma == pytest.approx(0.077, abs=0.01)
    metrics = {f"{m.operation} {m.metric}": m for m in noise_metrics(noise, 0.05)}
    # t(4 df) at 97.5% = 2.776: the floor is exp(2.776 * sigma) - 1, about 24% for pairs 5-10% apart
    assert metrics["all p50"].floor == pytest.approx(np.exp(2.776 * p50.sigma) - 1, rel=0.01)
    assert 0.15 < metrics["all p50"].floor < 0.35
    assert metrics["all p50"].changes[0] == pytest.approx(0.10, abs=0.01)
    quieter = noise_metrics(noise_of(pairs_of(pair_records(tmp_path / "q", [1.01, 0.99, 1.02, 0.98]))), 0.05)
    assert quieter[0].floor < metrics["all p50"].floor / 3


def test_the_store_gives_the_noise_of_the_target_and_scenario(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "h.sqlite")) as store:
        for record in pair_records(tmp_path, [1.1, 0.9, 1.0]):
            store.add(record)
        stored = stored_noise(store, "http://127.0.0.1:9", "toggle")
        assert (
            stored.noise["all p50"].pairs == 3 and stored.source is not None and "3 stored A/A pairs" in stored.source
        )
        assert len(stored.hosts) == 6 and all(h["cpus"] and "load1" in h for h in stored.hosts)  # each run's facts
        assert stored_noise(store, "http://127.0.0.1:9", "mixed") == StoredNoise()  # another scenario's noise
        assert stored_noise(store, "http://elsewhere", "toggle") == StoredNoise()


def test_trend_leaves_aa_runs_out_of_the_nightly_series(tmp_path: Path) -> None:
    """A burst of A/A runs at twice the level (the machine busy while they ran) in the middle of a flat
    series: as nights they would be a change; they are not nights."""
    flat = nights(tmp_path, noisy(40, 0.010, 1))
    # 10 s runs like the nights': of another shape they would be another series (trend's Shape), not a burst
    burst = pair_records(tmp_path, [1.0] * 5, level=0.020, started=START + 20.5 * DAY, duration=10)
    result = trend([*flat, *burst], label="t")
    assert result.runs == 40
    e2e = next(s for s in result.series if s.name == "e2e p50")
    assert len(e2e.values) == 40 and not e2e.change_points
    assert not {r.id for r in burst} & set(e2e.runs)
    with_burst = trend([*flat, *[_unlabelled(r) for r in burst]], label="t")
    assert next(s for s in with_burst.series if s.name == "e2e p50").change_points  # the same runs, as nights


def _unlabelled(record: RunRecord) -> RunRecord:
    record = RunRecord.from_json(record.to_json(), "copy")
    record.labels = {}
    assert not is_aa(record)
    return record


def test_noise_refuses_fewer_than_two_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["noise", "--pairs", "1"])
    assert caught.value.code == 2 and "--pairs" in capsys.readouterr().err


@pytest.mark.slow
def test_noise_runs_real_pairs_stores_them_and_compare_uses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite")
    out = tmp_path / "noise"
    common = ["--duration", "3s", "--users", "4", "--store", store]
    code = main(["noise", "--pairs", "2", *common, "--report-dir", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "2 A/A pair(s) of embedded reference server (toggle)" in text and "noise floor" in text
    assert "2 pairs: compare's test against them assumes Gaussian noise; with 20 pairs" in text
    data = json.loads((out / "noise.json").read_text())
    schema = json.loads((SCHEMAS_DIR / NoiseReport.SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    report = NoiseReport.read(out / "noise.json")
    assert report.pairs == 2 and {m.metric for m in report.metrics} >= {"p50", "p99", "throughput"}
    assert all(m.floor > 0 and len(m.changes) == 2 for m in report.metrics)
    with open_store(store) as s:
        runs = s.query(Query(target=EMBEDDED_TARGET))
    assert len(runs) == 4 and all(r.is_aa for r in runs)
    assert sorted(r.labels[AA_SIDE] for r in runs) == ["a", "a", "b", "b"]
    # every pair's first run, then every second: each pair spans the session, not two neighbours
    assert [r.labels[AA_SIDE] for r in sorted(runs, key=lambda r: r.started)] == ["a", "a", "b", "b"]
    assert [[a.id, b.id] for a, b in pairs_of(reversed(runs))] == report.runs
    # one ordinary run a side: judged against the stored pairs, not left at `~` for want of noise
    assert main(["load", *common, "--report-dir", str(tmp_path / "base")]) == 0
    main(["load", *common, "--report-dir", str(tmp_path / "slow"), "--fault", "latency-under-load"])
    capsys.readouterr()
    with open_store(store) as s:
        (base,) = [r for r in s.query(Query(target=EMBEDDED_TARGET)) if not r.is_aa]
        (slow,) = s.query(Query(target=f"{EMBEDDED_TARGET} (faults: latency-under-load)"))  # another build
    main(["compare", base.id, slow.id, "--store", store, "--json", str(tmp_path / "c.json")])
    compared = json.loads((tmp_path / "c.json").read_text())
    p50 = next(m for m in compared["metrics"] if (m["operation"], m["metric"]) == ("all", "p50"))
    assert p50["test"] == "aa-noise" and "2 pairs" in p50["reason"] and p50["noise_floor"] > 0
    assert compared["noise"].startswith("2 stored A/A pairs of embedded reference server (toggle)")
    # trend: the A/A runs are not nights (nor is the faulty server's run: another target)
    main(["trend", "embedded", "--store", store])
    assert "zscheck trend: embedded reference server, 1 run(s)" in capsys.readouterr().out
