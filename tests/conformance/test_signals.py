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
from zscheck.conformance.runner import GRACE


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
        # Normally teardown restores at once; should the interrupt be lost in some library, the last resort
        # restores from the journal after runner.GRACE seconds. Either way: bounded, and everything put back.
        assert time.monotonic() - signalled < GRACE + 15, "the run went on long after the signal"
        assert "Traceback" not in err
        assert "interrupted by a signal" in out or "did not stop in time; restored" in err
        after = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
    assert after.keys() == before.keys(), "created fixture images were left behind"
    assert after[given]["state"] == before[given]["state"]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    # Every image and every account the run journalled (it provisions its own normal account) was undone.
    made = {e["uuid"] for e in lines if e["kind"] in ("image", "account")}
    assert made == {e["uuid"] for e in lines if e["kind"] == "restored"}


def test_the_last_resort_restores_from_the_journal_and_ends_the_process(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """If a run does not stop within the grace period after a signal (a KeyboardInterrupt swallowed deep in
    some library), a timer restores every journalled image itself and ends the process with exit 2."""
    from zscheck.fixtures import FixtureImages, Journal

    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {inv["uuid"]: inv["state"] for inv in zs.query_images().data["inventories"]}
        journal = Journal.create(tmp_path / "journal.jsonl", server.url)
        fixtures = FixtureImages(zs, journal)
        created = fixtures.create("zscheck-fixture-x", "http://127.0.0.1/x.qcow2", zs.backup_storage()[0]["uuid"])
        given = next(iter(before))
        fixtures.adopt(given)
        zs.change_state(given, "disable" if before[given] == "Enabled" else "enable")
        journal.close()  # the run's own process holds it while it runs; this one stands in for a dead run
        code = (
            "import sys; from pathlib import Path; from zscheck.conformance import runner as r; "
            "from zscheck.cli.common import last_resort; from zscheck.control import RunControl; "
            "from zscheck.conformance.plan import ContractPlan; from zscheck.target import TargetOptions; "
            f"plan = ContractPlan(Path({str(tmp_path)!r}), target=TargetOptions(url={server.url!r})); "
            "r._Interrupts(plan, RunControl(), last_resort)._restore_and_end()"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
            env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        after = {inv["uuid"]: inv["state"] for inv in zs.query_images().data["inventories"]}
    assert proc.returncode == 2, proc.stderr
    assert "restored 2 images" in proc.stderr
    assert created["uuid"] not in after and after == before


DROPPED = """
import sys
from zscheck.conformance import runner
from zscheck.control import RunControl

class Dropped:
    def __del__(self):  # where a signal can land: Python cannot raise here, so the exception is dropped
        raise KeyboardInterrupt("signal 2")

control = RunControl()
sys.unraisablehook = runner._unraisable(control)
if sys.argv[1] == "interrupted":
    control.interrupt(2)
Dropped()
print("still running")
"""


@pytest.mark.parametrize("state", ["interrupted", "not-interrupted"])
def test_our_own_interrupt_dropped_in_a_callback_prints_no_traceback(state: str) -> None:
    """A signal that lands in a gc or weakref callback: Python drops the KeyboardInterrupt and prints its
    traceback. The run stops through the flag anyway, so that traceback is noise; any other is not."""
    proc = subprocess.run([sys.executable, "-c", DROPPED, state], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "still running" in proc.stdout
    if state == "interrupted":
        assert proc.stderr == ""
    else:
        assert "Traceback" in proc.stderr and "KeyboardInterrupt" in proc.stderr
