"""Ctrl-C and SIGTERM in the middle of `zscheck contract`: every image is put back before it exits."""

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


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_restores_every_image(make_server: ServerFactory, tmp_path: Path, sig: int) -> None:
    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
        given = next(iter(before))
        journal = tmp_path / "r" / "journal.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zscheck",
                "contract",
                "--quiet",
                "--target",
                server.url,
                "--image",
                given,
                "--max-examples",
                "2000",
                "--report-dir",
                str(tmp_path / "r"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the run has created its images and is changing them
            if journal.exists() and journal.read_text().count('"kind": "image"') >= 4:
                break
            time.sleep(0.2)
        time.sleep(1.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, out[-2000:] + err[-2000:]
        assert "Traceback" not in err
        after = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
    assert after.keys() == before.keys(), "created fixture images were left behind"
    assert after[given]["state"] == before[given]["state"]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    images = {e["uuid"] for e in lines if e["kind"] == "image"}
    assert images == {e["uuid"] for e in lines if e["kind"] == "restored"}
