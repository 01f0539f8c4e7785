"""Secrets never reach an output: not the password, not its SHA-512, not a session id. Every command
runs against a server with a known password; every file it wrote and everything it printed is scanned."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ServerFactory

pytestmark = pytest.mark.slow

SECRET = "Zs-s3cret-Pa55word!"


def test_no_output_of_any_command_holds_a_secret(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(admin_password=SECRET)
    issued: list[str] = []
    store = server.server.store
    add_session = store.add_session

    def recording(account: str, timeout: float):  # type: ignore[no-untyped-def]
        session = add_session(account, timeout)
        issued.append(session.uuid)  # every session the run was ever given, logged out or not
        return session

    store.add_session = recording  # type: ignore[method-assign]
    env = {**os.environ, "ZSCHECK_PASSWORD": SECRET}
    outputs: list[str] = []
    commands = [
        ["run", "--reports", str(tmp_path / "run"), "--duration", "3s", "--max-examples", "10"],
        ["contract", "--report-dir", str(tmp_path / "contract"), "--max-examples", "10"],
        ["load", "--report-dir", str(tmp_path / "load"), "--duration", "2s", "--scenario", "errors"],
        ["drift", "--report-dir", str(tmp_path / "drift")],
    ]
    for command in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "zscheck", *command, "--target", server.url],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]  # drift finds drift: 1
        outputs += [proc.stdout, proc.stderr]
    assert len(issued) >= 4, "the runs should have logged in"
    secrets = {"password": SECRET, "password hash": hashlib.sha512(SECRET.encode()).hexdigest()}
    secrets |= {f"session {i}": uuid for i, uuid in enumerate(issued)}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "index.html" for p in files) and any(p.name == "locust.html" for p in files)
    assert any(p.suffix == ".har" or "schemathesis" in str(p) for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for what, value in secrets.items():
            assert value not in text, f"{what} found in {path.relative_to(tmp_path)}"
    for text in outputs:
        for what, value in secrets.items():
            assert value not in text, f"{what} found in a command's output"
