"""Hostile targets (tests/hostile.py): every command finishes within its budget with exit 2 (or 1), a
cause that names the problem, and no traceback; jobs stuck at 202 are a violation (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory
from tests.hostile import KINDS, hostile, https_proxy, self_signed
from zscheck import Client

pytestmark = pytest.mark.slow

BUDGET = 60.0  # seconds: generous against the 2 s request timeout the commands are given
COMMANDS = {
    "contract": ["contract", "--max-examples", "5"],
    "drift": ["drift"],
    "load": ["load", "--duration", "2s", "--users", "2"],
    "run": ["run", "--duration", "2s", "--max-examples", "5"],
}
# What the one-line cause must mention, per target (lower case).
CAUSES = {
    "silent": ("timed out", "timeout"),
    "drip": ("timed out", "timeout"),
    "garbage": ("http", "protocol", "invalid", "answer"),
    "not-json": ("json", "html", "200"),
    "truncated": ("incomplete", "closed", "truncated", "peer", "json"),
    "huge": ("bytes", "large", "size", "limit"),
    "reset": ("reset", "closed", "disconnect"),
    "redirect-loop": ("302", "redirect"),
}


def run(tmp_path: Path, command: str, target: str, *flags: str) -> tuple[int, str, str, float]:
    where = ["--reports", str(tmp_path / "r")] if command == "run" else ["--report-dir", str(tmp_path / "r")]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", *COMMANDS[command], *where, "--target", target, "--timeout", "2", *flags],
        capture_output=True, text=True, timeout=BUDGET * 2, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


# Every target against contract and load (the two ways in: pytest's harness, and the load orchestrator);
# drift shares contract's harness and `run` is its phases, so a few targets show they compose them.
PAIRS = [(k, c) for k in sorted(KINDS) for c in ("contract", "load")]
PAIRS += [(k, "drift") for k in ("garbage", "not-json", "reset")] + [("silent", "run")]


@pytest.mark.parametrize(("kind", "command"), PAIRS)
def test_a_hostile_target_is_exit_2_with_the_cause(tmp_path: Path, kind: str, command: str) -> None:
    with hostile(kind) as url:
        code, out, err, took = run(tmp_path, command, url)
    assert took < BUDGET, f"{command} took {took:.0f} s against a {kind} target"
    assert code == 2, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err
    text = (out + err).lower()
    assert any(word in text for word in CAUSES[kind]), f"no cause named for {kind}: {out[-800:]} {err[-800:]}"


def test_jobs_stuck_at_202_are_a_violation_and_images_come_back(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(faults=("job-never-finishes",))
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "zscheck", "contract", "--target", server.url, "--max-examples", "5",
             "--poll-deadline", "0.3", "--no-shrink", "--report-dir", str(tmp_path / "r")],
            capture_output=True, text=True, timeout=300, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        after = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "job_completes" in proc.stdout and time.monotonic() - started < 240
    assert after == before


def test_https_with_a_self_signed_certificate(make_server: ServerFactory, tmp_path: Path) -> None:
    """Refused by default with the cause; accepted with --ca-bundle, and with an explicit --insecure."""
    cert, key = self_signed(tmp_path)
    server = make_server()
    with https_proxy(server.url, cert, key) as url:
        code, out, err, _ = run(tmp_path / "a", "drift", url)
        assert code == 2 and "certificate" in (out + err).lower() and "Traceback" not in err
        for flags in (["--ca-bundle", str(cert)], ["--insecure"]):
            for command in ("drift", "load"):
                code, out, err, _ = run(tmp_path / f"{command}{len(flags)}", command, url, *flags)
                assert code in (0, 1), out[-1500:] + err[-1500:]  # drift always finds the REST drift: 1
                if command == "load":
                    assert "zscheck: PASS" in out, out[-1500:]
