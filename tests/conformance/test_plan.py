"""The contract plan: one JSON document from `zscheck contract` to the pytest plugin, without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from zscheck.conformance.plan import ContractPlan
from zscheck.errors import ConfigError
from zscheck.target import TargetOptions


def test_the_plan_round_trips_and_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSCHECK_PASSWORD", "s3cret-pw")
    plan = ContractPlan(
        Path("reports/x"),
        target=TargetOptions(url="http://10.0.0.5:8080", images=("a", "b"), faults=(), tenant="t"),
        max_examples=7,
        seed=42,
        workers=3,
        shrink=False,
    )
    text = plan.to_json()
    assert ContractPlan.from_json(text) == plan
    assert "s3cret-pw" not in text and "ZSCHECK_PASSWORD" in text  # the variable's name, never its value


@pytest.mark.parametrize(
    "text",
    ['{"version": 99, "report_dir": "x", "target": {}}', "not json", '{"version": 1}', '{"version": 1, "x": 1}'],
)
def test_a_plan_zscheck_did_not_write_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        ContractPlan.from_json(text)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (ContractPlan(Path("x"), max_examples=0), "--max-examples 0"),
        (ContractPlan(Path("x"), workers=65), "--workers 65"),
        (ContractPlan(Path("x"), shrink_budget=0.5), "--shrink-budget"),
    ],
)
def test_out_of_range_values_are_refused(plan: ContractPlan, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan.validate()
