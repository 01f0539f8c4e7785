"""One stored run: a command's typed documents and the facts around them (target version, host, seed...).

A `RunRecord` is built from a report directory after the command has written it (`from_directory`):
every document found there (summary.json, capacity.json, drift.json, and the phases' of `zscheck run`) is
read through its model in `zscheck.report.documents`, so a record never holds a file that its model
refuses, and a reader gets the typed model back (`record.document("load/summary.json", LoadSummary)`).
The record itself is versioned (`RECORD_SCHEMA`): it is what `zscheck runs export` writes, one per line.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from zscheck import __version__
from zscheck.errors import ZscheckError
from zscheck.report._codec import DocumentError
from zscheck.report.documents import (
    DOCUMENTS,
    CapacityReport,
    ComparisonReport,
    ContractSummary,
    Document,
    DriftReport,
    LoadSummary,
    RunSummary,
)

RECORD_NAME = "zscheck/run-record"
RECORD_VERSION = 1
RECORD_SCHEMA = f"{RECORD_NAME}/{RECORD_VERSION}"
EMBEDDED_TARGET = "embedded reference server"  # the label every command writes for its embedded target
# `zscheck noise` labels its runs: A/A pairs (two runs of one build, back to back) are the harness's
# measurement of its own noise, which compare reads and trend leaves out of the nightly series.
AA_PAIR = "aa-pair"  # the pair's id (the noise session's id and the pair's number)
AA_SIDE = "aa-side"  # "a" (the pair's first run) or "b"
THIS_RUN = "this run"  # how `zscheck run --compare-to` labels its own side in comparison.json

# Where each command leaves its documents, relative to its report directory (a run's phases below it).
_DOCUMENT_FILES = (
    "summary.json",
    "capacity.json",
    "drift.json",
    "contract/summary.json",
    "load/summary.json",
    "drift/drift.json",
)
D = TypeVar("D", bound=Document)


class RecordError(ZscheckError):
    """A report directory or an exported line that cannot become a run record: what, where, the fix."""


def new_run_id(started: float, of: str | None = None) -> str:
    """Sortable by time and unique without coordination (two CI runners may record at the same second).
    `of` names what the id is for (a host's report directory and its start): the same `of` is the same id,
    so a directory read twice (`zscheck run --compare-to` before the run records itself, `zscheck compare
    DIR`) is the run the store holds, never one invented beside it."""
    suffix = hashlib.sha256(of.encode()).hexdigest()[:6] if of is not None else secrets.token_hex(3)
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + "-" + suffix


def host_facts() -> dict[str, Any]:
    """The machine the run came from: what decides whether two runs' latencies are comparable at all."""
    try:
        load1, _, _ = os.getloadavg()
    except OSError:  # not on every platform
        load1 = None
    return {
        "name": platform.node(),
        "cpus": os.cpu_count(),
        "load1": load1,  # the 1-minute load average as the command ended: a busy host reads slower
        "platform": platform.platform(),
        "python": platform.python_version(),
        # the load generators' largest share of seconds spent waiting for a core, from the load result;
        # null when the command ran no load (never "not saturated")
        "generator_saturation": None,
    }


def read_document(path: Path) -> Document:
    """The file at `path` as the model its schema tag names (an untagged 0.1.0 file: the model that reads it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not a readable JSON document ({exc})") from exc
    return document_from_json(data, str(path))


def document_from_json(data: object, source: str) -> Document:
    tag = data.get("schema") if isinstance(data, dict) else None
    candidates = [d for d in DOCUMENTS if tag is None or str(tag).startswith(d.SCHEMA_NAME + "/")]
    problems = []
    for model in candidates:
        try:
            return model.from_json(data, source)
        except DocumentError as exc:
            problems.append(str(exc))
    detail = "; ".join(problems) if problems else f"schema {tag!r} is none of zscheck's documents"
    raise RecordError(f"{source}: not a document this zscheck reads: {detail}")


@dataclass(kw_only=True)
class RunRecord:
    """A command's results as stored. `documents` maps a path in its report directory to that document's
    JSON (with its `schema` tag); the other fields are the facts a query filters on."""

    id: str
    command: str  # contract, load, capacity, drift, run
    verdict: str  # PASS, VIOLATIONS, COULD NOT RUN
    exit_code: int
    started: float  # Unix time
    recorded: float
    duration_s: float | None
    target: str
    target_version: str | None  # what the target's GetVersion answered; null: it could not be asked
    dialect: str | None
    seed: int | None
    scenario: str | None
    harness_version: str
    host: dict[str, Any]
    report_dir: str
    documents: dict[str, dict[str, Any]]
    labels: dict[str, str] = field(default_factory=dict)  # e.g. {"build": "5.2.1-rc3"} from --label

    @property
    def is_aa(self) -> bool:
        """One run of an A/A pair (`zscheck noise`): noise measured, not a night of the series."""
        return AA_PAIR in self.labels

    @property
    def is_canary(self) -> bool:
        """A run against the embedded reference server: the host's noise, not a target's change."""
        return self.target == EMBEDDED_TARGET

    @property
    def generator_bound(self) -> bool:
        """A load run's own self-check found its load generator was the limit (zscheck.load.selfcheck):
        its latencies are the generator's upper bounds and its throughput a lower bound, not the target's."""
        return any(
            check.check == "generator_cpu" and not check.ok
            for load in self.load_summaries()
            if load.result is not None
            for check in load.result.self_checks
        )

    def document(self, path: str, model: type[D]) -> D | None:
        """The document at `path` as `model`, or None when the run left none there."""
        data = self.documents.get(path)
        if data is None:
            return None
        try:
            return model.from_json(data, f"run {self.id}: {path}")
        except DocumentError:  # another version of the document (an older zscheck wrote it)
            return None

    def load_summaries(self) -> list[LoadSummary]:
        """The load runs in this record: `zscheck load`'s own, or a `zscheck run`'s load phase."""
        return self._of(LoadSummary, ("summary.json", "load/summary.json"))

    def contract_summaries(self) -> list[ContractSummary]:
        return self._of(ContractSummary, ("summary.json", "contract/summary.json"))

    def _of(self, model: type[D], paths: tuple[str, ...]) -> list[D]:
        """The documents at `paths` that are `model`s: by their tag, or (0.1.0 wrote none) by their command."""
        out = []
        for path in paths:
            data = self.documents.get(path)
            if data is None:
                continue
            if "schema" in data:
                if not str(data["schema"]).startswith(model.SCHEMA_NAME + "/"):
                    continue
            elif model.SCHEMA_VERSION > 1 or data.get("command") != getattr(model, "command", None):
                continue
            try:
                out.append(model.from_json(data, f"run {self.id}: {path}"))
            except DocumentError:  # another version of the document (an older zscheck wrote it): not comparable
                continue
        return out

    def capacity(self) -> CapacityReport | None:
        return self.document("capacity.json", CapacityReport)

    def to_json(self) -> dict[str, Any]:
        return {"schema": RECORD_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: object, source: str) -> RunRecord:
        if not isinstance(data, dict):
            raise RecordError(f"{source}: expected a JSON object ({RECORD_SCHEMA})")
        tag = data.get("schema")
        if tag != RECORD_SCHEMA:
            raise RecordError(
                f"{source}: schema {tag!r} is not {RECORD_SCHEMA}; export it again with this zscheck's `runs export`"
            )
        body = {k: v for k, v in data.items() if k != "schema"}
        try:
            record = cls(**body)
        except TypeError as exc:
            raise RecordError(f"{source}: {exc}") from exc
        for path, doc in record.documents.items():
            # Each must be one of zscheck's documents, of any version: a store outlives the zscheck that
            # wrote it, so an older version stays stored and listed (typed reads skip what they cannot read).
            tag = doc.get("schema") if isinstance(doc, dict) else None
            if not isinstance(doc, dict) or (
                tag is not None and not any(str(tag).startswith(d.SCHEMA_NAME + "/") for d in DOCUMENTS)
            ):
                raise RecordError(f"{source}: {path}: {str(tag)!r} is none of zscheck's documents")
        return record


def from_directory(
    directory: Path,
    *,
    command: str,
    target_version: str | None,
    labels: dict[str, str] | None = None,
    host: dict[str, Any] | None = None,
) -> RunRecord:
    """The record of the command that wrote `directory`. RecordError when it left no document there."""
    documents: dict[str, Document] = {}
    for name in _DOCUMENT_FILES:
        path = directory / name
        if path.is_file():
            documents[name] = read_document(path)
    if not documents:
        raise RecordError(
            f"{directory}: no summary.json, capacity.json or drift.json: nothing to record "
            "(give the directory a command wrote with --report-dir)"
        )
    main = documents.get("summary.json") or next(iter(documents.values()))
    facts = _facts(main, documents)
    host = dict(host if host is not None else host_facts())
    loads = [d for d in documents.values() if isinstance(d, LoadSummary) and d.result is not None]
    cpus = [g for d in loads for g in (d.result.generator_cpu if d.result else [])]
    if cpus:  # the load generators' own measurement: how much of the time they waited for a core
        host["generator_saturation"] = max(g.saturated_share for g in cpus)
    now = time.time()
    started = float(facts.get("started") or now)
    of = f"{platform.node()}|{directory.resolve()}|{started!r}" if facts.get("started") else None
    return RunRecord(
        id=_named_id(directory) or new_run_id(started, of),
        command=command,
        verdict=str(facts.get("verdict", "COULD NOT RUN")),
        exit_code=int(facts.get("exit_code", 2)),
        started=started,
        recorded=now,
        duration_s=facts.get("duration_s"),
        target=series_target(str(facts.get("target", ""))),
        target_version=target_version,
        dialect=facts.get("dialect"),
        seed=facts.get("seed"),
        scenario=facts.get("scenario"),
        harness_version=str(facts.get("harness_version") or __version__),
        host=host,
        report_dir=str(directory.resolve()),
        documents={name: doc.to_json() for name, doc in documents.items()},
        labels=dict(labels or {}),
    )


def _named_id(directory: Path) -> str | None:
    """The id a `zscheck run --compare-to` already gave its run in comparison.json, written before the run
    recorded itself (and before its own summary.json, so its start was not yet known): the record keeps it."""
    path = directory / "comparison.json"
    if not path.is_file():
        return None
    try:
        candidate = ComparisonReport.read(path).candidate
    except (DocumentError, OSError, ValueError):
        return None
    return candidate.runs[0] if candidate.label.startswith(THIS_RUN) and len(candidate.runs) == 1 else None


def series_target(label: str) -> str:
    """The target as runs are grouped: the embedded server's label carries its port of the day, dropped,
    and its fault modes, kept: a faulty embedded server is another target, never the canary nor a
    `--last N embedded` run (`embedded reference server (faults: disable-noop)`)."""
    if not label.startswith(EMBEDDED_TARGET):
        return label.rstrip("/")  # http://zstack:8080/ is http://zstack:8080
    build = re.fullmatch(r".*? \([^;)]*; (.*)\)", label)  # zscheck.target's "(<url>; faults: a, b)"
    return f"{EMBEDDED_TARGET} ({build[1]})" if build else EMBEDDED_TARGET


def _facts(main: Document, documents: dict[str, Document]) -> dict[str, Any]:
    """The filterable facts, from the command's own document first, then its phases'."""
    facts: dict[str, Any] = {}
    for doc in [main, *documents.values()]:
        for key in ("verdict", "exit_code", "target", "dialect", "seed", "scenario", "harness_version", "started"):
            if key not in facts and getattr(doc, key, None) is not None:
                facts[key] = getattr(doc, key)
    if isinstance(main, RunSummary | ContractSummary):
        facts["duration_s"] = main.duration_s
    elif isinstance(main, LoadSummary) and main.result is not None:
        facts["duration_s"] = main.result.duration
    elif isinstance(main, CapacityReport):
        facts["duration_s"] = main.duration_s or sum(step.duration for step in main.steps) or None
    if isinstance(main, DriftReport):
        facts.setdefault("verdict", "VIOLATIONS" if main.drift else "PASS")
        facts.setdefault("exit_code", 1 if main.drift else 0)
    return facts
