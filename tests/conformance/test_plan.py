"""The contract plan: one JSON document from `zscheck contract` to the pytest plugin, without secrets."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from zscheck import options
from zscheck.cli import build_parser
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


def test_the_seed_decides_the_examples_in_ci_too(tmp_path: Path) -> None:
    """Where CI is set, Hypothesis loads its derandomized "ci" profile, and a profile registered without
    saying otherwise inherits it: the run's seed was then ignored and every state-machine lane drew the
    same examples. The plugin's profile is never derandomized (the same test without it: derandomized)."""
    (tmp_path / "test_profile.py").write_text(
        "from hypothesis import settings\n\n"
        "def test_profile():\n"
        "    assert settings.default.derandomize is False, settings.default\n"
    )
    env = {**os.environ, "CI": "true"}
    args = [sys.executable, "-m", "pytest", "test_profile.py", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    with_plugin = subprocess.run(
        [*args, "-p", "zscheck.conformance.plugin"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert with_plugin.returncode == 0, with_plugin.stdout[-2000:]
    without = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert without.returncode == 1 and "derandomize=True" in without.stdout, without.stdout[-2000:]


@pytest.mark.parametrize(
    "plan",
    [
        ContractPlan(Path("r"), seed=7),
        # a faulty embedded server's run: its replay ran against a correct server, with 100 examples
        ContractPlan(
            Path("r"),
            target=TargetOptions(faults=("disable-noop", "lost-update"), timing="realistic"),
            max_examples=15,
            seed=7,
            shrink=False,
            poll_deadline=2.5,
            workers=3,
            create_images=2,
            shrink_budget=12.0,
            schemathesis_report=False,
        ),
        ContractPlan(
            Path("r"),
            target=TargetOptions(
                url="https://10.0.0.5:8080",
                dialect="documented",
                account="ops",
                password_env="OPS_PW",
                tenant="qa",
                images=("0f3e", "a b"),
                backup_storage="bs1",
                image_url="http://mirror/x.qcow2",
                ca_bundle="/etc/ca.pem",
                timeout=12.3456789,
            ),
            seed=123,
            baseline="known.toml",
        ),
    ],
    ids=["defaults", "faulty-embedded", "target"],
)
def test_the_runs_command_line_is_read_back_into_the_same_plan(plan: ContractPlan) -> None:
    words = shlex.split(plan.command_line())
    assert words[:2] == ["zscheck", "contract"] and words[-2:] == ["--seed", str(plan.seed)]
    args = build_parser().parse_args(words[1:])
    again = options.contract_plan(lambda dest: getattr(args, dest))
    assert dataclasses.replace(again, report_dir=plan.report_dir) == plan
