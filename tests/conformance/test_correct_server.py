"""The correct server passes `zscheck contract` under several seeds and both timing profiles: instant, and
realistic (jobs of tens to hundreds of milliseconds, one-second timestamps), where a check that holds only
for an instant server would fail. Never flaky: these run in every CI run (bench/false_alarms.py runs many
more seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.test_faults import Runs, run_all

SEEDS = 4
TIMINGS = ("instant", "realistic")


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seeds")


@pytest.fixture(scope="module")
def seed_runs(seeds_dir: Path) -> Runs:
    # schemathesis' own report is informational (never the verdict) and costs ~10 s a run; test_runner.py
    # checks it is written.
    return run_all(
        seeds_dir,
        {
            f"{timing}-{seed}": ["--max-examples", "8", "--seed", str(seed), "--timing", timing,
                                 "--no-schemathesis-report"]
            for timing in TIMINGS
            for seed in range(SEEDS)
        },
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("seed", range(SEEDS))
def test_correct_server_passes(seed_runs: Runs, seed: int, timing: str) -> None:
    code, summary, output = seed_runs[f"{timing}-{seed}"]
    assert code == 0, output[-3000:]
    assert summary["verdict"] == "PASS" and summary["failures"] == []


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_schemathesis_report_leaves_it_out(seed_runs: Runs, seeds_dir: Path) -> None:
    assert len(seed_runs) == SEEDS * len(TIMINGS)
    assert all((seeds_dir / name / "junit.xml").exists() for name in seed_runs)
    assert not list(seeds_dir.glob("*/schemathesis/junit-*.xml"))
