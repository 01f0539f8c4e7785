"""Known findings (`--baseline`): each case the way a nightly CI job meets it. Known findings are reported
and do not fail the run; new and expired ones do; findings no longer seen are listed as fixed. The file
itself: read, written, refused with the entry named when it is wrong."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import PASSWORD, ServeProcess
from zscheck.report import DocumentError
from zscheck.report.baseline import Baseline, Entry
from zscheck.report.documents import Failure, Finding
from zscheck.report.findings import group, with_fingerprint

FAULT = "wrong-error-code"
TODAY = datetime.date(2026, 12, 3)


def _findings(*checks: str) -> list[Finding]:
    return group([with_fingerprint(Failure(test="t", check=c, message="m", expected="a", actual="b")) for c in checks])


def test_classify_known_expired_and_new() -> None:
    known, lapsed, new = _findings("error_code", "status_code", "envelope")
    baseline = Baseline(
        Path("b.toml"),
        {
            known.id: Entry(known.id, reason="ZS-1"),
            lapsed.id: Entry(lapsed.id, reason="ZS-2", expires=datetime.date(2026, 12, 2)),
            "0123456789ab": Entry("0123456789ab"),
        },
    )
    shown = baseline.classify([known, lapsed, new], today=TODAY)
    assert [(f.status, f.reason) for f in shown] == [
        ("known", "ZS-1"),
        ("expired", "accepted until 2026-12-02: ZS-2"),
        ("new", ""),
    ]
    # the expiry day itself still accepts it
    assert baseline.classify([lapsed], today=datetime.date(2026, 12, 2))[0].status == "known"
    assert baseline.fixed(shown) == ["0123456789ab"]


def test_update_keeps_reasons_and_expiry_and_drops_what_is_gone(tmp_path: Path) -> None:
    kept, added = _findings("error_code", "status_code")
    old = Baseline(
        tmp_path / "b.toml",
        {kept.id: Entry(kept.id, reason="ZS-1 我们知道", expires=TODAY), "0123456789ab": Entry("0123456789ab")},
    )
    old.updated([kept, added]).write()
    again = Baseline.read(tmp_path / "b.toml")
    assert list(again.entries) == [kept.id, added.id]
    assert again.entries[kept.id] == Entry(kept.id, "error_code", "m", "ZS-1 我们知道", TODAY)
    assert again.entries[added.id].reason == "" and again.entries[added.id].expires is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[[finding]]\ncheck = 'x'\n", "finding[0]"),
        ("[[finding]]\nid = 'a'\nexpires = 'soon'\n", "finding[0].expires"),
        ("[[finding]]\nid = 'a'\nreasn = 'typo'\n", "finding[0].reasn"),
        ("findings = []\n", "findings"),
        ("[[finding]\n", ""),
    ],
)
def test_a_wrong_baseline_is_refused_naming_the_entry(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(DocumentError) as caught:
        Baseline.read(path)
    assert caught.value.path == where and str(path) in str(caught.value)


def test_a_bare_toml_date_is_an_expiry_too(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[[finding]]\nid = 'a'\nexpires = 2027-01-31\n")
    assert Baseline.read(path).entries["a"].expires == datetime.date(2027, 1, 31)


def test_a_missing_baseline_is_refused_unless_it_is_being_written(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="write one with --baseline-update"):
        Baseline.read(tmp_path / "none.toml")
    assert Baseline.read(tmp_path / "none.toml", missing_ok=True).entries == {}


# ------------------------------------------------------------------------------- real runs, each case


def _zscheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zscheck", *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip


def _contract(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _zscheck("contract", "--report-dir", str(out), "--fault", FAULT, "--max-examples", "5", "--seed", "1",
                    "--no-shrink", "--no-schemathesis-report", "--quiet", *args)  # fmt: skip


@pytest.fixture(scope="module")
def accepted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A first nightly run with --baseline-update: judged against no baseline (exit 1), the file written."""
    tmp = tmp_path_factory.mktemp("baseline")
    baseline = tmp / "known.toml"
    first = _contract(tmp / "r1", "--baseline", str(baseline), "--baseline-update")
    assert first.returncode == 1, first.stdout + first.stderr
    ids = [f["id"] for f in json.loads((tmp / "r1" / "summary.json").read_text())["findings"]]
    assert ids and set(Baseline.read(baseline).entries) == set(ids)
    return baseline.read_text(), ids


@pytest.mark.slow
@pytest.mark.timeout(300)  # real contract runs on a shared machine
def test_known_findings_are_reported_and_pass_and_unseen_ones_are_fixed(
    accepted: tuple[str, list[str]], tmp_path: Path
) -> None:
    text, ids = accepted
    baseline = tmp_path / "known.toml"
    text = text.replace('reason = ""', 'reason = "ZS-1234"', 1)
    baseline.write_text(text + '[[finding]]\nid = "0123456789ab"\nreason = "fixed in 4.8"\n')
    known = _contract(tmp_path / "r2", "--baseline", str(baseline))
    assert known.returncode == 0, known.stdout + known.stderr
    assert f"[{ids[0]}]" in known.stdout and "KNOWN (ZS-1234)" in known.stdout
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and {f["status"] for f in summary["findings"]} == {"known"}
    assert summary["fixed"] == ["0123456789ab"] and "0123456789ab" in (tmp_path / "r2" / "failures.md").read_text()
    suite = ET.parse(tmp_path / "r2" / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("skipped", "0")) >= len(ids)


@pytest.mark.slow
@pytest.mark.timeout(300)  # real contract runs on a shared machine
def test_an_expired_acceptance_fails_the_run_again(accepted: tuple[str, list[str]], tmp_path: Path) -> None:
    text, _ = accepted
    baseline = tmp_path / "known.toml"
    baseline.write_text(text.replace('reason = ""', 'reason = "ZS-1234"\nexpires = "2020-01-01"', 1))
    expired = _contract(tmp_path / "r3", "--baseline", str(baseline))
    assert expired.returncode == 1 and "EXPIRED (accepted until 2020-01-01: ZS-1234)" in expired.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)  # real contract runs on a shared machine
def test_a_new_finding_fails_the_run(tmp_path: Path) -> None:
    baseline = tmp_path / "known.toml"
    baseline.write_text('[[finding]]\nid = "0123456789ab"\n')
    new = _contract(tmp_path / "r4", "--baseline", str(baseline))
    assert new.returncode == 1
    assert {f["status"] for f in json.loads((tmp_path / "r4" / "summary.json").read_text())["findings"]} == {"new"}


@pytest.mark.slow
@pytest.mark.timeout(300)  # real contract runs on a shared machine
def test_baseline_in_zscheck_run_and_its_fingerprints_match_another_target(
    accepted: tuple[str, list[str]], tmp_path: Path
) -> None:
    """A baseline written against the embedded server accepts the same findings on a --target: the
    fingerprint leaves the port and the uuids out."""
    baseline = tmp_path / "known.toml"
    baseline.write_text(accepted[0])
    server = ServeProcess("--db", ":memory:", "--fault", FAULT)
    try:
        proc = _zscheck(
            "run", "--reports", str(tmp_path / "runs"), "--target", server.url, "--skip", "load", "--skip", "drift",
            "--max-examples", "5", "--seed", "1", "--baseline", str(baseline),
        )  # fmt: skip
        # a `zscheck run` directory replays too: its contract phase, against the run's own target by default
        replayed = _zscheck("replay", str(tmp_path / "runs" / "latest"), "1")
    finally:
        server.stop()
    assert replayed.returncode == 1 and "STILL FAILING" in replayed.stdout, replayed.stdout + replayed.stderr
    assert server.url in replayed.stdout
    contract = json.loads(((tmp_path / "runs" / "latest").resolve() / "contract" / "summary.json").read_text())
    assert contract["findings"] and {f["status"] for f in contract["findings"]} == {"known"}, contract["findings"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
