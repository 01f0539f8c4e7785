"""index.html rendered from the documents, without a browser: the checks table (issue #11's defect: it
omitted `openapi` and `assertion` and showed 0 passed for a check with one failure) and a phase file that
is not its document."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.report.test_documents import examples
from zscheck.report import ContractSummary, DriftReport, Failure, LoadSummary, RunSummary
from zscheck.report.html import render

CHECKS = {"status_code": "the HTTP status", "state_matches_event": "after enable the image is Enabled"}


def write_run(directory: Path, contract: ContractSummary) -> None:
    docs = examples()
    docs[RunSummary].write(directory / "summary.json")
    contract.write(directory / "contract" / "summary.json")
    docs[LoadSummary].write(directory / "load" / "summary.json")
    docs[DriftReport].write(directory / "drift" / "drift.json")


def rows(page: str) -> dict[str, list[str]]:
    table = page[page.index("<table id=checks>") :]
    table = table[: table.index("</table>")]
    out = {}
    for row in re.findall(r"<tr id='check-([^']+)'>(.*?)</tr>", table):
        out[row[0]] = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1])]
    return out


def test_every_check_a_failure_names_has_a_row_with_its_failures(tmp_path: Path) -> None:
    contract = examples()[ContractSummary]
    assert isinstance(contract, ContractSummary)
    contract.cases = 300
    contract.failures = [
        Failure(test="contracts/test_schema.py::test_openapi", check="openapi", message="undocumented status 418"),
        Failure(test="contracts/test_scenarios.py::test_a", check="assertion", message="assert 1 == 2"),
        Failure(test="contracts/test_scenarios.py::test_b", check="assertion", message="assert 3 == 4"),
        Failure(test="contracts/test_error_codes.py::test_c", check="state_matches_event", message="Disabled"),
    ]
    contract.failures_by_check = {"assertion": 2, "openapi": 1, "state_matches_event": 1}
    write_run(tmp_path, contract)
    page = render(tmp_path, [], CHECKS)
    table = rows(page)
    assert list(table) == ["status_code", "state_matches_event", "openapi", "assertion"]
    # check, what it catches, result, failures, failing tests
    assert table["openapi"][2:] == ["1 failure", "1", "1"]
    assert "OpenAPI" in table["openapi"][1]
    assert table["assertion"][2:] == ["2 failures", "2", "2"]
    assert table["state_matches_event"][2:] == ["1 failure", "1", "1"]
    assert table["status_code"][2:] == ["no failure", "0", "0"]
    # no per-check pass count is claimed (the run does not count cases per check); the page says why
    assert "passed" not in page[page.index("<table id=checks>") :].split("</table>")[0]
    assert "300 cases were judged in all" in page and "does not count cases per check" in page


def test_a_phase_file_that_is_not_its_document_is_said_so_naming_the_field(tmp_path: Path) -> None:
    write_run(tmp_path, examples()[ContractSummary])
    path = tmp_path / "load" / "summary.json"
    data = json.loads(path.read_text())
    del data["result"]["linearizability"]
    path.write_text(json.dumps(data))
    page = render(tmp_path, [], CHECKS)
    load = page[page.index("<h2 id=load>") : page.index("<h2 id=drift>")]
    assert "could not read load/summary.json: field `result.linearizability`: missing" in load
    assert "id=percentiles" not in load
    assert "id=drift-table" in page and "id=checks" in page  # the other phases still render


def test_a_phase_that_did_not_run_is_said_so(tmp_path: Path) -> None:
    examples()[RunSummary].write(tmp_path / "summary.json")
    page = render(tmp_path, [], CHECKS)
    assert "No conformance results: the phase did not run." in page
    assert "No load results: the phase did not run" in page
    assert "No drift results: the phase did not run." in page
    assert "zscheck: COULD NOT RUN" in page


def test_a_load_run_that_could_not_run_shows_its_error(tmp_path: Path) -> None:
    load = examples()[LoadSummary]
    assert isinstance(load, LoadSummary)
    load.result, load.error, load.verdict = None, "could not log in as admin", "COULD NOT RUN"
    load.write(tmp_path / "load" / "summary.json")
    page = render(tmp_path, [], CHECKS)
    assert "No load results: could not log in as admin" in page


def test_each_load_failure_group_shows_its_finding_and_baseline_status(tmp_path: Path) -> None:
    load = examples()[LoadSummary]
    assert isinstance(load, LoadSummary) and load.findings and load.result is not None
    load.write(tmp_path / "load" / "summary.json")
    page = render(tmp_path, [], CHECKS)
    table = page[page.index("<table id=load-findings>") :]
    table = table[: table.index("</table>")]
    finding = load.findings[0]
    assert f"<code>{finding.id}</code> <span class=ok>known</span>" in table
    assert "Fixed since the baseline: <code>ba9876543210</code>" in page
