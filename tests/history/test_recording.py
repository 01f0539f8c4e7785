"""Every command records itself in the store after writing its reports, and `zscheck runs` reads it back:
real commands against the real embedded reference server, in subprocesses as a user runs them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.history.factories import load_summary
from zscheck.cli.runs import Recording, report_directory
from zscheck.events import VerdictReached, discard
from zscheck.history.record import EMBEDDED_TARGET, series_target
from zscheck.history.store import Query, open_store
from zscheck.report.documents import LoadSummary
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict


def zscheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zscheck", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.mark.slow
def test_a_load_run_is_recorded_and_listed_shown_exported_and_imported(tmp_path: Path) -> None:
    store = str(tmp_path / "h.sqlite")
    proc = zscheck(
        "load", "--duration", "2s", "--users", "2", "--seed", "5", "--report-dir", "l", "--store", store, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recorded as run" in proc.stderr
    with open_store(store) as s:
        (record,) = s.query()
    assert (record.command, record.verdict, record.seed, record.scenario) == ("load", "PASS", 5, "toggle")
    assert record.target == "embedded reference server" and record.target_version == "5.2.1"
    assert record.report_dir == str((tmp_path / "l").resolve()) and record.host["cpus"] >= 1
    assert 0 <= record.host["generator_saturation"] <= 1  # the load generators measured it
    summary = record.document("summary.json", LoadSummary)
    assert summary is not None and summary.result is not None  # typed back (its numbers: a loaded machine)

    listed = zscheck("runs", "list", "--store", store, cwd=tmp_path)
    assert listed.returncode == 0 and record.id in listed.stdout and "PASS" in listed.stdout
    compared = zscheck("compare", "l", "l", "--store", store, "--json", "c.json", cwd=tmp_path)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert json.loads((tmp_path / "c.json").read_text())["base"]["runs"] == [record.id]  # the stored run, not a new id
    shown = zscheck("runs", "show", record.id[:-3], "--store", store, cwd=tmp_path)
    assert LoadSummary.schema_tag() in shown.stdout and "5.2.1" in shown.stdout

    assert zscheck("runs", "export", "runs.jsonl", "--store", store, cwd=tmp_path).returncode == 0
    (line,) = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert json.loads(line)["id"] == record.id
    other = str(tmp_path / "other.sqlite")
    imported = zscheck("runs", "import", "runs.jsonl", "--store", other, cwd=tmp_path)
    assert imported.returncode == 0 and "imported 1 runs" in imported.stdout
    with open_store(other) as s:
        assert s.get(record.id) == record


@pytest.mark.slow
def test_a_faulty_embedded_server_is_a_target_of_its_own(tmp_path: Path) -> None:
    """A run against the embedded server with a fault mode measured another build: recorded as it was
    under a name of its own, it is never the canary, a `--last N embedded` run or the embedded series."""
    store = str(tmp_path / "h.sqlite")
    proc = zscheck(
        "load", "--duration", "2s", "--users", "2", "--seed", "5", "--fault", "latency-under-load", "--report-dir",
        "l", "--store", store, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    with open_store(store) as s:
        (record,) = s.query()
        assert not s.query(Query(target=EMBEDDED_TARGET))
    assert record.target == "embedded reference server (faults: latency-under-load)" and not record.is_canary
    listed = zscheck("runs", "list", "--store", store, cwd=tmp_path)
    assert "faults: latency-under-load" in listed.stdout, listed.stdout


@pytest.mark.parametrize(
    ("faults", "grouped"),
    [
        ((), "embedded reference server"),
        (("stale-read",), "embedded reference server (faults: stale-read)"),
        (("stale-read", "latency-under-load"), "embedded reference server (faults: latency-under-load, stale-read)"),
    ],
)
def test_the_embedded_servers_label_keeps_its_faults_and_drops_its_port(faults: tuple[str, ...], grouped: str) -> None:
    label = TargetOptions(faults=faults).label("http://127.0.0.1:43447")
    assert label.startswith("embedded reference server (http://127.0.0.1:43447") and series_target(label) == grouped
    assert series_target(TargetOptions(faults=faults[::-1]).label("http://127.0.0.1:1")) == grouped  # one build


@pytest.mark.slow
def test_the_default_store_is_under_reports_and_off_records_nothing(tmp_path: Path) -> None:
    assert zscheck("drift", "--report-dir", "d1", "--store", "off", cwd=tmp_path).returncode in (0, 1)
    assert not (tmp_path / "reports" / "history.sqlite").exists()
    proc = zscheck("drift", "--report-dir", "d2", cwd=tmp_path)
    assert proc.returncode in (0, 1) and "recorded as run" in proc.stderr
    with open_store(str(tmp_path / "reports" / "history.sqlite")) as s:
        (record,) = s.query()
    assert record.command == "drift" and "drift.json" in record.documents
    quiet = zscheck("drift", "--report-dir", "d3", "--quiet", cwd=tmp_path)  # the verdict only, still recorded
    assert quiet.returncode in (0, 1) and "recorded as run" not in quiet.stdout + quiet.stderr, quiet.stderr
    with open_store(str(tmp_path / "reports" / "history.sqlite")) as s:
        assert len(s.query()) == 2


def test_a_named_store_that_fails_is_an_error_but_never_hides_violations(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the store's directory should be")
    proc = zscheck("drift", "--report-dir", "d", "--store", str(tmp_path / "blocker" / "h.sqlite"), cwd=tmp_path)
    # the embedded server drifts from the page (exit 1): that verdict stands, the store's failure is said
    assert proc.returncode == 1 and "error: the run was not recorded" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("store", "verdict", "expected"),
    [
        ("{tmp}/blocker/h.sqlite", Verdict.PASS, Verdict.COULD_NOT_RUN),  # named and failing: exit 2
        ("{tmp}/blocker/h.sqlite", Verdict.VIOLATIONS, Verdict.VIOLATIONS),  # a violation is never hidden
        ("{tmp}/ok.sqlite", Verdict.PASS, Verdict.PASS),
        (None, Verdict.PASS, Verdict.PASS),  # the default store failing: a warning only
    ],
)
def test_what_a_store_failure_does_to_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str | None, verdict: Verdict, expected: Verdict
) -> None:
    (tmp_path / "blocker").write_text("not a directory")
    (tmp_path / "reports").write_text("not a directory either")  # so the default store fails too
    monkeypatch.chdir(tmp_path)
    load_summary([0.01, 0.02]).write(tmp_path / "l" / "summary.json")
    args = argparse.Namespace(command="load", store=store.format(tmp=tmp_path) if store else None)
    recording = Recording(args, TargetOptions())
    recording.tap(discard)(VerdictReached("load", verdict, "embedded", report=f"{tmp_path / 'l'} (summary.json)"))
    assert recording.record(verdict) is expected


@pytest.mark.parametrize(
    ("report", "directory"),
    [
        ("{d}", "{d}"),  # contract: the directory
        ("{d} (summary.json, locust.html)", "{d}"),  # load: the directory and what it holds
        ("{d}/capacity.json", "{d}"),  # capacity, drift, run: a file in it
    ],
)
def test_the_report_directory_of_each_final_event(tmp_path: Path, report: str, directory: str) -> None:
    (tmp_path / "capacity.json").write_text("{}")
    d = str(tmp_path)
    assert report_directory(report.format(d=d)) == Path(directory.format(d=d))


def test_a_targets_trailing_slash_is_the_same_target() -> None:
    """`--target http://zstack:8080/` and `http://zstack:8080` are one target's series."""
    assert series_target("http://zstack:8080/") == series_target("http://zstack:8080") == "http://zstack:8080"
