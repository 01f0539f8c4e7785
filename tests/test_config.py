"""Configuration precedence: command line > ZSCHECK_* environment > zscheck.toml (or pyproject.toml) > default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zscheck.cli import _subparsers, build_parser
from zscheck.config import Setting, resolve
from zscheck.errors import ConfigError


def settings(argv: list[str], command: str = "load", profile: str | None = None) -> dict[str, Setting]:
    parser = _subparsers(build_parser())[command]
    _, found = resolve(parser, argv, command, config_file=None, profile=profile)
    return found


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ZSCHECK_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_each_layer_wins_over_the_next(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "zscheck.toml").write_text('users = 7\nscenario = "mixed"\nslo = ["p99<1s"]\ndialect = "documented"\n')
    monkeypatch.setenv("ZSCHECK_SCENARIO", "errors")
    monkeypatch.setenv("ZSCHECK_SLO", "p99<2s, rps>=5")
    found = settings(["--dialect", "rest"])
    assert found["users"] == Setting(7, str(here / "zscheck.toml"))
    assert found["scenario"] == Setting("errors", "environment ZSCHECK_SCENARIO")
    assert found["slo"] == Setting(["p99<2s", "rps>=5"], "environment ZSCHECK_SLO")
    assert found["dialect"] == Setting("rest", "command line")
    assert found["processes"] == Setting(1, "default")
    assert settings(["--slo", "p50<1ms"])["slo"] == Setting(["p50<1ms"], "command line")  # replaces, never appends


def test_profiles_and_per_command_tables(here: Path) -> None:
    (here / "zscheck.toml").write_text(
        "max-examples = 50\n[commands.load]\nusers = 4\n[profiles.release]\nmax-examples = 1000\nusers = 40\n"
    )
    assert settings([], "contract")["max_examples"].value == 50
    assert settings([], "load")["users"].value == 4
    assert settings([], "contract", profile="release")["max_examples"].value == 1000
    assert settings([], "load", profile="release")["users"].value == 40
    with pytest.raises(ConfigError, match=r"has no \[profiles.nightly\] \(profiles: release\)"):
        settings([], "load", profile="nightly")


def test_pyproject_tool_table_is_read(here: Path) -> None:
    (here / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.zscheck]\ntarget = "http://10.1.2.3:8080"\n')
    assert settings([])["target"] == Setting("http://10.1.2.3:8080", str(here / "pyproject.toml"))


def test_a_secret_in_the_file_is_refused_with_the_fix(here: Path) -> None:
    (here / "zscheck.toml").write_text('password = "hunter2"\n')
    with pytest.raises(ConfigError, match="password-env"):
        settings([])


def test_values_from_files_and_variables_are_checked_like_the_command_line(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "zscheck.toml").write_text("users = 0\n")
    with pytest.raises(ConfigError, match=r"zscheck.toml: --users: 0 is out of range: it must be at least 1"):
        settings([])
    (here / "zscheck.toml").write_text('scenario = "chaos"\n')
    with pytest.raises(ConfigError, match="'chaos' is not one of contention, errors, mixed, toggle"):
        settings([])
    (here / "zscheck.toml").unlink()
    monkeypatch.setenv("ZSCHECK_DURATION", "forever")
    with pytest.raises(ConfigError, match="ZSCHECK_DURATION: --duration: 'forever' is not a duration"):
        settings([])


def test_zscheck_config_shows_sources_and_never_a_secret(here: Path) -> None:
    (here / "zscheck.toml").write_text('target = "http://admin:s3cret@10.0.0.5:8080"\n')
    env = {**os.environ, "ZSCHECK_PASSWORD": "hunter2", "ZSCHECK_USERS": "12"}
    out = subprocess.run(
        [sys.executable, "-m", "zscheck", "config", "load", "--duration", "1m"],
        capture_output=True, text=True, env=env, cwd=here, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "hunter2" not in text and "s3cret" not in text
    assert "http://***@10.0.0.5:8080" in text
    assert "(environment ZSCHECK_USERS)" in text and "(command line)" in text
    assert "password: from $ZSCHECK_PASSWORD (set; never shown)" in text
