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
@pytest.mark.parametrize(
    ("sig", "adopt"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["SIGINT-given-image", "SIGTERM-created-images"],
)
def test_signal_mid_run_restores_every_image(make_server: ServerFactory, tmp_path: Path, sig: int, adopt: bool) -> None:
    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
        given = next(iter(before))
        journal = tmp_path / "r" / "journal.jsonl"
        # Given an image, the run uses it alone; otherwise it creates three and must delete them again.
        images = ["--image", given] if adopt else ["--create-images", "3"]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zscheck",
                "contract",
                "--quiet",
                "--target",
                server.url,
                *images,
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
        ready = False
        while not ready and time.monotonic() < deadline:  # wait until the run holds its images
            ready = journal.exists() and journal.read_text().count('"kind": "image"') >= (1 if adopt else 3)
            time.sleep(0.2)
        assert ready, "the run never journalled its fixture images"
        time.sleep(2.0)  # and is changing them
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.send_signal(sig)
        signalled = time.monotonic()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, out[-2000:] + err[-2000:]
        assert time.monotonic() - signalled < 30, "the run went on long after the signal"
        assert "Traceback" not in err
        assert "interrupted by a signal" in out
        after = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
    assert after.keys() == before.keys(), "created fixture images were left behind"
    assert after[given]["state"] == before[given]["state"]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    images = {e["uuid"] for e in lines if e["kind"] == "image"}
    assert images == {e["uuid"] for e in lines if e["kind"] == "restored"}
