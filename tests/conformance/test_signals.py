"""Ctrl-C and SIGTERM in the middle of `zscheck contract`: every image is put back before it exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess, ServerFactory
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


def _wait_for(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the phase to interrupt never came"
        time.sleep(0.05)


def _lines_of(path: Path) -> Callable[[], str]:
    return lambda: path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("phase", ["load-setup", "load-start", "drift", "schemathesis"])
def test_sigterm_in_each_phase_of_run_restores_and_writes_the_whole_report(
    serve_process: Callable[..., ServeProcess], tmp_path: Path, phase: str
) -> None:
    """SIGTERM while `zscheck run` sets up its load phase (an AddImage job in flight), while locust starts,
    in drift, and in schemathesis' own report: it exited 143 with no message, left fixture images, started
    the next phase after an interrupted load setup, and wrote no summary.json or index.html. Now each ends
    with a message, everything restored, no further phase, and the run's whole report."""
    slow = phase in ("load-setup", "drift")  # every api-job takes 1.5 s: the signal lands while one is in flight
    server = serve_process("--db", ":memory:", "--job-delay", "1.5" if slow else "0")
    skip = {
        "load-setup": ["contract"],
        "load-start": ["contract"],
        "drift": ["contract", "load"],
        "schemathesis": ["load", "drift"],
    }[phase]
    out_file = tmp_path / "out.txt"
    reports = tmp_path / "reports"
    with Client(server.url) as zs, out_file.open("w") as sink:
        zs.login("admin", PASSWORD)
        before = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "run", "--target", server.url, "--reports", str(reports),
             "--max-examples", "2", "--duration", "20s", "--users", "4", "--timeout", "10",
             *(a for name in skip for a in ("--skip", name))],
            stdout=sink, stderr=subprocess.PIPE, text=True, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        out = _lines_of(out_file)
        if phase == "load-setup":  # the second fixture image's AddImage is in flight (each job takes 1.5 s)
            _wait_for(proc, lambda: "creating 4 fixture images" in out())
            time.sleep(2.2)
        elif phase == "load-start":
            _wait_for(proc, lambda: "load: toggle on" in out())
        elif phase == "drift":
            _wait_for(proc, lambda: "drift ..." in out())
            time.sleep(1.0)
        else:
            # made inside schemathesis' report, a phase of about 1.5 s: signal at once, no fixed wait
            _wait_for(proc, lambda: any(reports.glob("*/contract/schemathesis/journal.jsonl")), timeout=240)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        time.sleep(2.0)  # an AddImage job accepted before the signal finishes on the server meanwhile
        after = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
    text = out()
    assert proc.returncode == 2, text[-3000:] + err[-3000:]
    assert "Traceback" not in err and "Traceback" not in text
    assert "interrupted by a signal" in text, text[-3000:]
    assert after == before, "images left behind or changed"
    (run_dir,) = [p for p in reports.iterdir() if p.is_dir() and not p.is_symlink()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "COULD NOT RUN" and summary["target"] == server.url
    assert (run_dir / "index.html").exists()
    names = [p["name"] for p in summary["phases"]]
    assert names == [{"load-setup": "load", "load-start": "load", "drift": "drift", "schemathesis": "contract"}[phase]]
    assert summary["phases"][0]["error"] == "interrupted by a signal"
    assert "drift ..." not in text or phase == "drift"  # no phase started after the interrupted one


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_in_schemathesis_report_of_contract_ends_with_the_verdict_event(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """The suites are done and their reports written when schemathesis' own report runs: a signal there
    ends the command with a message and its verdict line (interrupted: exit 2), never a bare exit."""
    server = make_server()
    report = tmp_path / "r"
    out_file = tmp_path / "out.txt"
    with out_file.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "contract", "--target", server.url, "--max-examples", "2",
             "--report-dir", str(report)],
            stdout=sink, stderr=subprocess.PIPE, text=True, env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        # The journal is made inside the report's phase, which lasts about 1.5 s in all: signal at once
        # (a fixed wait after it missed the phase on a loaded CI box).
        _wait_for(proc, lambda: (report / "schemathesis" / "journal.jsonl").exists(), timeout=240)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    text = out_file.read_text()
    assert proc.returncode == 2, text[-3000:] + err[-3000:]
    assert "Traceback" not in err
    assert "interrupted by a signal during schemathesis' own report" in text
    assert f"zscheck: COULD NOT RUN (contract) - {server.url}" in text and "interrupted by a signal" in text
    summary = json.loads((report / "summary.json").read_text())  # complete, and saying what the exit code says
    assert summary["verdict"] == "COULD NOT RUN" and summary["exit_code"] == 2 and summary["cases"] > 0
    assert "interrupted by a signal during schemathesis' own report" in summary["harness_errors"]
    lines = [json.loads(line) for line in (report / "schemathesis" / "journal.jsonl").read_text().splitlines()]
    assert {e["uuid"] for e in lines if e["kind"] in ("image", "account")} <= {
        e["uuid"] for e in lines if e["kind"] == "restored"
    }, (lines, summary.get("harness_errors"))
