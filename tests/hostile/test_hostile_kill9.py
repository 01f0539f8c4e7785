"""Item 6 of issue 15: the 202 goes out only once the job is saved, so after `kill -9` under writers no
accepted job answers 404 and no acknowledged change is lost. Runs bench/soak_kill9.py's trials (real
`zscheck serve` processes, loopback, bounded); before the fix, 5 such trials lost 76 accepted jobs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "soak_kill9.py"
    spec = importlib.util.spec_from_file_location("soak_kill9", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("soak_kill9", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_no_accepted_job_and_no_acknowledged_change_is_lost_to_kill_9() -> None:
    result = _load().soak(trials=3, writers=16, seconds=1.0, seed=7)
    assert result["accepted"] > 1000 and result["checked"] > 0, result
    assert result["accepted_lost"] == 0, [e["examples"] for e in result["each"]]
    assert result["lost"] == 0, [e["examples"] for e in result["each"]]
