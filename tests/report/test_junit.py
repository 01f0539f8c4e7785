"""junit.xml read as a CI server reads it: the suite's tests/failures/errors/skipped counts agree with its
testcases, whatever the text holds; a run that could not run is an error testcase naming the target and
carrying the reason (not 0 tests and 0 errors)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from zscheck.report.junit import Case, junit_xml


def _counts(xml: str) -> tuple[dict[str, int], list[ET.Element]]:
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped")}
    return counts, suite.findall("testcase")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ((), {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}),
        (("passed", "passed"), {"tests": 2, "failures": 0, "errors": 0, "skipped": 0}),
        (("passed", "failed", "skipped", "error"), {"tests": 4, "failures": 1, "errors": 1, "skipped": 1}),
        (("error",), {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}),
    ],
)
def test_counts_agree_with_the_testcases(outcomes: tuple[str, ...], expected: dict[str, int]) -> None:
    cases = [Case("c", f"t{i}", o, message="m", text="t") for i, o in enumerate(outcomes)]  # type: ignore[arg-type]
    counts, found = _counts(junit_xml("s", cases))
    assert counts == expected and len(found) == len(outcomes)
    for case, element in zip(cases, found, strict=True):
        tags = [child.tag for child in element]
        assert tags == ({"passed": [], "failed": ["failure"], "error": ["error"], "skipped": ["skipped"]}[case.outcome])


def test_text_a_fuzzer_sent_stays_well_formed_xml() -> None:
    nasty = "a\x00b\x1b[31m<&>\"'\ud800"[:-1] + "\uffff 我们"
    counts, found = _counts(junit_xml("s", [Case("c", nasty, "failed", message=nasty, text=nasty)]))
    assert counts["failures"] == 1 and "我们" in (found[0].get("name") or "")


@pytest.mark.slow
def test_a_run_that_could_not_run_has_an_error_testcase_with_target_and_reason(tmp_path: Path) -> None:
    target = "http://127.0.0.1:9"  # nothing listens on the discard port
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--target", target, "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "ZSCHECK_PASSWORD": "x"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    counts, cases = _counts((tmp_path / "junit.xml").read_text())
    assert counts == {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}
    error = cases[0].find("error")
    assert error is not None and cases[0].get("name") == f"could not run against {target}"
    assert "cannot reach http://127.0.0.1:9" in (error.get("message") or "")
