"""The correct server passes `zscheck contract` under several seeds and both timing profiles: instant, and
realistic (jobs of tens to hundreds of milliseconds, one-second timestamps), where a check that holds only
for an instant server would fail. Never flaky: these run in every CI run (bench/false_alarms.py runs many
more seeds)."""

from __future__ import annotations

import pytest

from tests.conformance.test_faults import Runs, run_all

SEEDS = 4
TIMINGS = ("instant", "realistic")


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    tmp = tmp_path_factory.mktemp("seeds")
    return run_all(
        tmp,
        {
            f"{timing}-{seed}": ["--max-examples", "8", "--seed", str(seed), "--timing", timing]
            for timing in TIMINGS
            for seed in range(SEEDS)
        },
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("seed", range(SEEDS))
def test_correct_server_passes(seed_runs: Runs, seed: int, timing: str) -> None:
    code, summary, output = seed_runs[f"{timing}-{seed}"]
    assert code == 0, output[-3000:]
    assert summary["verdict"] == "PASS" and summary["failures"] == []
