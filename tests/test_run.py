"""`zscheck run`: the phases in sequence, one directory, one verdict, `reports/latest`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck import Client

pytestmark = pytest.mark.slow

QUICK = ["--duration", "3s", "--max-examples", "10", "--seed", "5"]


def zscheck_run(reports: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zscheck", "run", "--reports", str(reports), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
    )


def test_a_faulty_target_is_exit_1_with_every_phase_reported(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(faults=("disable-noop",))
    proc = zscheck_run(tmp_path, "--target", server.url, *QUICK)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    latest = tmp_path / "latest"
    assert latest.is_symlink() and (latest / "index.html").exists()
    summary = json.loads((latest / "summary.json").read_text())
    codes = {p["name"]: p["exit_code"] for p in summary["phases"]}
    assert codes["contract"] == 1 and codes["load"] == 1  # the same fault, caught by the same checks twice
    assert codes["drift"] in (0, 1)
    page = (latest / "index.html").read_text()
    assert "state_matches_event" in page and "curl -i -X PUT" in page and "$ZSTACK_SESSION" in page
    # the last line is the page to open: the run's own directory, not the `latest` link that moves on
    assert proc.stdout.splitlines()[-1] == f"zscheck: report {latest.resolve() / 'index.html'}"


def test_an_unreachable_target_is_exit_2_and_still_a_report(tmp_path: Path) -> None:
    proc = zscheck_run(tmp_path, "--target", "http://127.0.0.1:9", *QUICK, timeout=120)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert {p["exit_code"] for p in summary["phases"]} == {2}
    assert "COULD NOT RUN" in (tmp_path / "latest" / "index.html").read_text()


def test_a_bad_gate_is_refused_before_anything_runs(tmp_path: Path) -> None:
    proc = zscheck_run(tmp_path, "--slo", "p99 < soon", timeout=30)
    assert proc.returncode == 2 and "is not a gate" in proc.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_signal_mid_run_restores_and_stops(make_server: ServerFactory, tmp_path: Path) -> None:
    """SIGTERM (CI cancelling a job); SIGINT takes the same path, and each phase's own tests send both."""
    sig = signal.SIGTERM
    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "run", "--reports", str(tmp_path), "--target", server.url,
             "--duration", "60s", *QUICK[2:]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(tmp_path.glob("*/load/locust_stats_history.csv")):
            time.sleep(0.2)
        time.sleep(2)  # the load phase is under way
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        after = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
    assert proc.returncode == 2, out[-2000:] + err[-2000:]
    assert "Traceback" not in err and "remaining phases were not run" in out
    assert after == before
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert [p["name"] for p in summary["phases"]] == ["contract", "load"]
