"""Every JSON document the commands write, validated against its published schema and read through its
model: each command runs once, briefly, against the embedded reference server (all five side by side)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import PASSWORD
from zscheck.report import CapacityReport, ContractSummary, Document, DriftReport, LoadSummary, RunSummary
from zscheck.report.documents import DOCUMENTS, SCHEMAS_DIR

pytestmark = pytest.mark.slow

COMMANDS = {
    "contract": ["contract", "--max-examples", "3", "--seed", "1", "--report-dir", "{out}"],
    "load": ["load", "--duration", "3", "--users", "2", "--report-dir", "{out}"],
    "capacity": ["capacity", "--slo", "p99<1s", "--start", "1", "--step", "1", "--stop", "2", "--step-duration", "2",
                 "--report-dir", "{out}"],
    "drift": ["drift", "--report-dir", "{out}"],
    "run": ["run", "--max-examples", "3", "--duration", "3", "--seed", "1", "--reports", "{out}"],
}  # fmt: skip
# The documents each command leaves, by path in its report directory (`run`: in reports/latest).
EXPECTED = {
    "contract": {"summary.json": ContractSummary},
    "load": {"summary.json": LoadSummary},
    "capacity": {"capacity.json": CapacityReport},
    "drift": {"drift.json": DriftReport},
    "run": {
        "latest/summary.json": RunSummary,
        "latest/contract/summary.json": ContractSummary,
        "latest/load/summary.json": LoadSummary,
        "latest/drift/drift.json": DriftReport,
    },
}
DOCUMENT_NAMES = {"summary.json", "capacity.json", "drift.json"}
# Every writer builds its model, so every document it writes says which it is (the `schema` tag).
TAGGED = set(DOCUMENTS)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    env = {**os.environ, "ZSCHECK_PASSWORD": PASSWORD}
    procs = {}
    for name, args in COMMANDS.items():
        out = tmp_path_factory.mktemp(name)
        argv = [sys.executable, "-m", "zscheck", *(a.format(out=out) for a in args)]
        procs[name] = (
            out,
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env),
        )
    done = {}
    for name, (out, proc) in procs.items():
        stdout, _ = proc.communicate(timeout=600)  # five commands at once, on a busy 2-core box
        done[name] = (out, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, ""))
    return done


def check(path: Path, model: type[Document]) -> None:
    data = json.loads(path.read_text())
    schema = json.loads((SCHEMAS_DIR / model.SCHEMA_FILE).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, f"{path}: " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
    document = model.read(path)
    assert model.from_json(document.to_json(), str(path)) == document
    again = document.to_json()
    if model in TAGGED:
        assert data["schema"] == model.schema_tag()
    assert {k: v for k, v in again.items() if k != "schema"} == {k: v for k, v in data.items() if k != "schema"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_document_a_command_writes_validates_and_round_trips(
    command: str, written: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]
) -> None:
    out, proc = written[command]
    assert proc.returncode in (0, 1), proc.stdout[-3000:]  # drift finds drift on the embedded server: exit 1
    for relative, model in EXPECTED[command].items():
        assert (out / relative).exists(), f"{command} wrote no {relative}"
        check(out / relative, model)
    if command == "capacity":  # the store's facts: when the search began, and all it took (not the steps' sum)
        report = CapacityReport.read(out / "capacity.json")
        assert report.started is not None and report.dialect == "rest" and report.duration_s is not None
        assert report.duration_s > sum(step.duration for step in report.steps) and report.started < time.time()
    # and no other document hides in the directory unchecked (capacity's steps write plan and raw results only)
    found = {p.relative_to(out) for p in out.rglob("*.json") if p.name in DOCUMENT_NAMES}
    expected = {Path(r).relative_to("latest") if r.startswith("latest/") else Path(r) for r in EXPECTED[command]}
    if command == "run":
        found = {p.relative_to(p.parts[0]) for p in found}  # reports/<UTC time>/... is reports/latest/...
    assert found == expected
