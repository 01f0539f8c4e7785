"""The JSON documents zscheck writes, as typed and versioned models: one per file a command leaves behind.

- ContractSummary: `zscheck contract`'s summary.json, tag `zscheck/contract-summary/4`
- LoadSummary: `zscheck load`'s summary.json, tag `zscheck/load-summary/4`
- CapacityReport: `zscheck capacity`'s capacity.json, tag `zscheck/capacity/4`
- DriftReport: `zscheck drift`'s drift.json, tag `zscheck/drift/1`
- RunSummary: `zscheck run`'s summary.json (reports/<UTC time>/), tag `zscheck/run-summary/1`
- ComparisonReport: `zscheck compare --json`, and `zscheck run --compare-to`'s comparison.json, tag
  `zscheck/compare/2`
- NoiseReport: `zscheck noise`'s noise.json, tag `zscheck/noise/1`

Each is a dataclass (keyword-only) whose `to_json()` is the file's content, with `"schema": "<tag>"`
first, and whose `from_json(data, source)` reads one back or raises `DocumentError` naming the file and the
field. The published JSON Schemas (draft 2020-12) in `zscheck/report/schemas/` are generated from these
classes by `json_schemas()`; tests/report checks the committed files equal them and that every file the
commands write validates. Version 1 is the shape zscheck 0.1.0 wrote, which had no `schema` key: a
document without one is read as version 1 (and version 1's schema does not require the key); every
other field is required and no other is allowed. A change to a document's fields is a new version.

How a writer uses this: build the model from what the command measured and write it::

    LoadSummary(verdict="PASS", exit_code=0, ..., result=LoadResult(...)).write(report_dir / "summary.json")

and a reader (html.py, a user's script) reads it typed::

    summary = LoadSummary.read(path)   # DocumentError if it is not a load summary of this version

The models are data only: verdict words, rounding and what counts as a pass stay with the commands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from zscheck.report._codec import DocumentError, decode_dataclass, encode, object_schema

# zscheck.verdict.Verdict's words, for every document (tests/report/test_documents.py holds them equal).
# The contract summary said "conformant", "violations found", "could not run" in version 1.
Verdict = Literal["PASS", "VIOLATIONS", "COULD NOT RUN"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"


class Document:
    """What every document model shares: its schema tag, JSON in and out, files in and out."""

    SCHEMA_NAME: ClassVar[str]  # e.g. "zscheck/load-summary"
    SCHEMA_VERSION: ClassVar[int] = 1
    SCHEMA_FILE: ClassVar[str]  # its published schema, in SCHEMAS_DIR
    # The oldest version this model still reads (None: its own only). Only for versions that the newer
    # ones merely added fields to, each with a default that means "not recorded": a store's older runs
    # then stay comparable instead of dropping out of every series when zscheck is upgraded.
    READS_FROM: ClassVar[int | None] = None

    @classmethod
    def schema_tag(cls) -> str:
        return f"{cls.SCHEMA_NAME}/{cls.SCHEMA_VERSION}"

    @classmethod
    def readable_tags(cls) -> frozenset[str]:
        oldest = cls.SCHEMA_VERSION if cls.READS_FROM is None else cls.READS_FROM
        return frozenset(f"{cls.SCHEMA_NAME}/{v}" for v in range(oldest, cls.SCHEMA_VERSION + 1))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = encode(self)
        return {"schema": self.schema_tag(), **data}

    @classmethod
    def from_json(cls, data: object, source: str = "<document>") -> Self:
        """`data` (parsed JSON) as this model; DocumentError names `source` and the field that is wrong."""
        if not isinstance(data, dict):
            raise DocumentError(source, "", f"expected a JSON object ({cls.schema_tag()})")
        tag = data.get("schema", f"{cls.SCHEMA_NAME}/1")  # 0.1.0 wrote no tag: its documents are version 1
        if tag not in cls.readable_tags():
            name, _, version = str(tag).rpartition("/")
            reads = cls.SCHEMA_VERSION if cls.READS_FROM is None else f"{cls.READS_FROM} to {cls.SCHEMA_VERSION}"
            problem = (
                f"version {version} of {name}; this zscheck reads version {reads}"
                if name == cls.SCHEMA_NAME
                else f"{tag!r} is not a {cls.schema_tag()} document"
            )
            raise DocumentError(source, "schema", problem)
        older = tag != cls.schema_tag()
        model: Self = decode_dataclass(cls, data, "", source, skip=frozenset({"schema"}), older=older)
        return model

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DocumentError(str(path), "", f"not JSON: {exc}") from exc
        return cls.from_json(data, str(path))

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The published JSON Schema of this document, generated from the model's fields."""
        defs: dict[str, Any] = {}
        body = object_schema(cls, defs)
        body["properties"] = {"schema": {"const": cls.schema_tag()}, **body["properties"]}
        if cls.SCHEMA_VERSION > 1:  # from version 2 on, the tag is how a document says which it is
            body["required"] = ["schema", *body["required"]]
        out: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": cls.schema_tag(), **body}
        if defs:
            out["$defs"] = dict(sorted(defs.items()))
        return out


# ------------------------------------------------------------------------------------ contract


@dataclass
class RawRequest:
    """One request of a failing exchange sequence that the typed client does not build (a protocol probe: a
    reused X-Job-UUID, another method, a poll of an unknown job), as sent with its secrets out: the
    session is `<redacted>` in Authorization, secret body fields too. `zscheck replay` and the reproducer
    re-send the sequence with a session of their own, the run's image or one like it, and a fresh job id
    for each 32-digit X-Job-UUID (the same fresh id wherever the original appeared, so a reuse stays one)."""

    method: str
    path: str  # query string included; the run's image uuid in it is replaced on replay
    headers: dict[str, str]
    body: str | None
    follow: bool = False  # its api-job was polled to the end
    schema: bool = True  # those polls carried X-JSON-Schema


@dataclass
class Failure:
    """One contract violation, ready to read and to replay."""

    test: str
    check: str  # a name in zscheck.checks.CHECKS, or `openapi` (schemathesis) or `assertion` (a suite's own)
    message: str
    expected: str = ""
    actual: str = ""
    rule: str = ""  # the error-code table's rule the input fell under
    curl: str = ""  # the session is a placeholder ($ZSTACK_SESSION), never the real one
    response: str = ""
    steps: str = ""  # Hypothesis' minimal falsifying example (the shrunk sequence for the state machine)
    operation: str = ""  # method and path, uuids as {uuid} (zscheck.report.findings.operation)
    fingerprint: str = ""  # the root cause (zscheck.report.findings.fingerprint): failures sharing it are one finding
    image: str = ""  # the image the request went to ("" when none)
    event: str = ""  # the stateEvent sent, as JSON ("" when the request was not a state change)
    facets: dict[str, str] = field(default_factory=dict)  # the request's input class: what `zscheck replay` re-sends
    reproducer: str = ""  # a shell script that logs in, makes the image, sends the request and follows its job
    # The exchange sequence as sent, when it was not one request of an input class (a protocol probe, a
    # setup call): the last request is the one judged; `zscheck replay` re-sends them all.
    raw: list[RawRequest] = field(default_factory=list)


@dataclass
class Finding:
    """One root cause: the failures sharing a fingerprint, how many there were, and the first of them."""

    id: str  # the fingerprint; `zscheck replay DIR ID` and baselines name a finding by it
    check: str
    rule: str
    operation: str
    message: str
    expected: str
    actual: str
    count: int  # failures with this fingerprint in the run
    tests: list[str]  # the tests they came from, first seen first
    first: Failure  # the first example, with its reproducer
    status: Literal["new", "known", "expired"] = "new"  # against a --baseline: accepted there, or its acceptance lapsed
    reason: str = ""  # the baseline's reason for accepting it


@dataclass(kw_only=True)
class ContractSummary(Document):
    """`zscheck contract`'s summary.json: the verdict, counts, rules exercised and every failure."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/contract-summary"
    # 2: the verdict in the one vocabulary of every command; 3: findings grouped by fingerprint, the
    # target's options (to replay against), each failure's fingerprint, request class and reproducer;
    # 4: a failure's raw exchange sequence (`raw`), so protocol and setup findings replay too
    SCHEMA_VERSION: ClassVar[int] = 4
    SCHEMA_FILE: ClassVar[str] = "contract-summary.schema.json"

    verdict: Verdict
    exit_code: int
    target: str
    dialect: str
    seed: int | None
    harness_version: str
    started: float  # Unix time
    duration_s: float
    tests: dict[str, int]  # pytest outcome -> tests
    cases: int  # requests judged against the contract
    requests: int
    requests_per_s: float
    failures_by_check: dict[str, int]  # check -> failures naming it, most first
    coverage: dict[str, int]  # rule of the error-code table -> judged requests
    not_covered: dict[str, str]  # class or rule -> why it was not exercised
    failures: list[Failure]  # every failure seen, in order
    findings: list[Finding]  # one per fingerprint: what to act on
    fixed: list[str]  # a --baseline's fingerprints this run did not see
    harness_errors: list[str]
    restore_problems: list[str]
    notes: list[str]
    replay: str  # the command that replays the run
    target_url: str | None  # null: the embedded reference server was the target
    faults: list[str]  # the embedded server's fault modes
    timing: str  # the embedded server's job timing
    account: str  # the account the run logged in as


# ---------------------------------------------------------------------------------------- load


@dataclass(kw_only=True)
class OperationStats:
    """One operation's latencies (seconds), counts and rates over a load run."""

    p50: float
    p90: float
    p95: float
    p99: float
    p99_9: float = field(metadata={"json": "p99.9"})
    max: float
    mean: float
    count: float
    failures: float
    error_rate: float  # a fraction: of the failures less the known ones, what an error_rate gate holds
    rps: float
    known_failures: float = 0.0  # of `failures`, those that failed only --baseline's known findings


@dataclass(kw_only=True)
class GateOutcome:
    """One --slo gate: its text, what was measured (null: nothing was) and whether it was met."""

    gate: str
    measured: float | None
    shown: str  # the verdict line, e.g. "pass e2e:p99<1s: measured 12.3ms"
    passed: bool


@dataclass(kw_only=True)
class FailureGroup:
    """Failures of one check on one operation with one error code, with a few reproducers."""

    operation: str  # e.g. "changeImageState enable"
    check: str
    code: str  # the ErrorCode seen, "-" when there was none
    count: int
    examples: list[dict[str, str]]  # message, curl, status, time


@dataclass(kw_only=True)
class Arrival:
    """Arrival-rate (open model) runs: operations scheduled, and how many started over 10 ms late."""

    scheduled: int
    late: int


@dataclass(kw_only=True)
class HistoryOperation:
    """One call in an image's history: send and answer times (null: indeterminate) and who made it."""

    kind: str  # "write" or "read"
    value: str
    invoke: float
    complete: float | None
    client: str


@dataclass(kw_only=True)
class LinearizabilityViolation:
    """An image whose history has no linearization, with the smallest window that shows it."""

    image: str
    initial: str | None
    text: str
    window: list[HistoryOperation]


@dataclass(kw_only=True)
class Linearizability:
    """The linearizability check of every image's history."""

    ok: bool
    images: int
    operations: int
    history_dropped: int
    undecided: list[str]  # images whose search ran out of budget
    violations: list[LinearizabilityViolation]


@dataclass(kw_only=True)
class Generators:
    """The load generators whose operations were seen."""

    workers: int
    users: int


@dataclass(kw_only=True)
class TimelineSecond:
    """One second of a load run."""

    t: int  # seconds from the first
    ops: int
    failures: int
    p50: float
    p99: float
    codes: dict[str, int]  # ErrorCode -> answers


@dataclass(kw_only=True)
class SelfCheck:
    """One check of the run itself (zscheck.load.selfcheck): can its numbers be trusted?"""

    check: str  # generator_cpu, delivered_rate, late_starts, history_dropped, clock_skew
    ok: bool
    text: str
    advice: str  # what to do when it failed ("" when ok)


@dataclass(kw_only=True)
class GeneratorCpu:
    """One load-generating process of this machine, sampled every second from the start (/proc)."""

    pid: int
    role: str  # locust (one process), worker (--processes)
    mean_cpu: float  # share of one core it ran, after its first second
    mean_wait: float  # share of the time it waited for a core
    saturated_share: float  # share of its seconds it wanted a whole core and waited for one
    seconds: list[tuple[float, float, float]]  # (t, ran, waited) per second


@dataclass(kw_only=True)
class LoadResult:
    """One locust run (a load run, or one capacity step): what it measured and what it concluded."""

    users: int
    rate: float | None  # operations per second offered (open model); null: closed model
    duration: float
    passed: bool
    throughput: float
    operations: dict[str, OperationStats]  # operation (put, job, e2e, e2e.enable, query, ..., all) -> stats
    gates: list[GateOutcome]
    failures: list[FailureGroup]
    error_codes: dict[str, int]
    harness: dict[str, int]  # what the harness did on its own (zscheck.load.recorder.HARNESS_ACTIONS) -> times
    harness_actions: list[str]
    generators: Generators
    distribution: dict[str, list[tuple[float, float]]]  # operation -> (percentile, seconds)
    arrival: Arrival | None
    linearizability: Linearizability
    timeline: list[TimelineSecond]
    self_checks: list[SelfCheck] = field(default_factory=list)
    generator_cpu: list[GeneratorCpu] = field(default_factory=list)


@dataclass
class LoadFinding:
    """One root cause of a load run: the failures of one check on one operation with one ErrorCode (or the
    history check's violations), under a fingerprint (zscheck.report.load_findings) that a --baseline and
    the run history key on."""

    id: str  # the fingerprint
    check: str
    operation: str  # e.g. "changeImageState enable"; "history" for linearizability
    code: str  # the ErrorCode seen, "-" when there was none
    message: str  # the first example's
    count: int  # failures of this root cause in the run
    example: str  # the first example's reproducer (curl), "" when there is none
    status: Literal["new", "known", "expired"] = "new"  # against a --baseline: accepted there, or its acceptance lapsed
    reason: str = ""  # the baseline's reason for accepting it


@dataclass(kw_only=True)
class LoadOptions:
    """The load options that change a run's numbers beyond the scenario, users, rate, processes and reads
    after writes (fields of the documents that hold these): the run store keeps runs that differ in any of
    them in separate series (`zscheck trend`)."""

    images_per_user: int
    hot_images: int
    query_ratio: float
    error_ratio: float
    spawn_rate: float | None  # users started per second; null: all within a second
    remote: bool  # --master: the generators are workers on other machines (`processes` counts them)


@dataclass(kw_only=True)
class LoadSummary(Document):
    """`zscheck load`'s summary.json: the run's options, its verdict and its result (null if it could not run)."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/load-summary"
    SCHEMA_FILE: ClassVar[str] = "load-summary.schema.json"
    # 2: the run's self-checks and its generators' CPU in `result`; 3: findings (one per root cause, with
    # a fingerprint), `fixed` and `baseline` (--baseline); 4: `load` (every option that changes the
    # numbers), `duration` (asked), so that a store's series keep runs of other loads apart, and `replay`
    SCHEMA_VERSION: ClassVar[int] = 4
    READS_FROM: ClassVar[int | None] = 3

    command: Literal["load"] = "load"
    verdict: Verdict
    exit_code: int
    harness_version: str
    target: str
    dialect: str
    scenario: str
    timing: str | None  # the embedded server's job timing; null on a --target
    read_after_write: float
    users: int
    rate: float | None
    processes: int
    seed: int | None
    started: float
    slo: list[str]
    error: str | None
    restore_problems: list[str]
    result: LoadResult | None
    files: dict[str, str]  # what -> file name in the report directory
    setup_actions: list[str]
    findings: list[LoadFinding] = field(default_factory=list)  # one per root cause: what to act on
    fixed: list[str] = field(default_factory=list)  # the --baseline's load fingerprints this run did not see
    baseline: str | None = None  # the --baseline file, null when none was given
    load: LoadOptions | None = None  # null: written by a zscheck before version 4
    duration: float | None = None  # seconds asked (`result` has the measured); null: before version 4
    replay: str | None = None  # the command that runs it again; null: before version 4


# ------------------------------------------------------------------------------------ capacity


@dataclass(kw_only=True)
class Interval:
    """A value measured over repeated runs of one step: the mean and its 95 % interval (Student t over the
    runs; one run: low = high = mean)."""

    mean: float
    low: float
    high: float
    runs: int


@dataclass(kw_only=True)
class GateMargin:
    """How far a step stayed from one gate: the worst run's value and the share of the limit left."""

    gate: str
    measured: float | None  # the worst run's value (seconds, fraction or per second); null: nothing measured
    threshold: float
    headroom: float | None  # share of the threshold left before the gate breaks; negative: broken
    shown: str


@dataclass(kw_only=True)
class LittleLaw:
    """Little's law on one step: the users against throughput x mean latency."""

    concurrency: float
    implied: float
    agrees: bool
    shown: str


@dataclass(kw_only=True)
class CapacityPoint:
    """One load level of the search (a step, or a bisection point with --refine), over its --repeat runs."""

    phase: Literal["search", "refine"]
    users: int
    rate: float | None  # offered operations per second (--by rate), null: closed loop
    passed: bool  # every run met every gate with no violation
    correct: bool  # no contract or linearizability violation in any run (the USL fits these)
    throughput: Interval
    latency_mean: Interval  # every user-level operation's mean latency, seconds
    gates: list[GateMargin]
    little: LittleLaw
    runs: list[int]  # indexes into `steps`


@dataclass(kw_only=True)
class Knee:
    """The highest load with every gate met and no violation, below the first load that broke one."""

    users: int
    rate: float | None
    throughput: float
    throughput_interval: Interval | None = None
    margins: list[GateMargin] = field(default_factory=list)
    broken_users: int | None = None  # the lowest load that broke a gate or showed a violation
    broken_rate: float | None = None


@dataclass(kw_only=True)
class Fitted:
    """A fitted quantity and its 95 % confidence interval (null bounds: not bounded by the data)."""

    value: float
    low: float | None
    high: float | None


@dataclass(kw_only=True)
class UslResidual:
    concurrency: float
    measured: float
    fitted: float


@dataclass(kw_only=True)
class UslModel:
    """The Universal Scalability Law fitted to the runs that met the correctness constraint."""

    points: int
    predictable: bool  # a peak is stated (κ's interval clear of 0, enough loads)
    lam: Fitted | None
    sigma: Fitted | None
    kappa: Fitted | None
    peak_concurrency: Fitted | None
    peak_throughput: Fitted | None
    ceiling: Fitted | None  # λ/σ when no peak is predictable but contention is clear
    r_squared: float | None
    residuals: list[UslResidual]
    statement: str


@dataclass(kw_only=True)
class NextRange:
    """A range of steps: the one searched, or where to search next when nothing broke."""

    start: float
    step: float
    stop: float
    arguments: str  # e.g. "--start 50 --step 10 --stop 100"


@dataclass(kw_only=True)
class CapacityReport(Document):
    """`zscheck capacity`'s capacity.json: every locust run (`steps`), the load levels they measured
    (`points`), the knee (null: nothing broke, or nothing passed: `saturation` says which), the fitted
    model and, when nothing broke, the next range to search."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/capacity"
    SCHEMA_FILE: ClassVar[str] = "capacity.schema.json"
    # 2: points with intervals and margins, saturation, the USL model; 3: when it started and how long the
    # whole search took (the run store's facts: the steps' sum left out start-up and the restores), dialect;
    # 4: `load` (the options that change the numbers), `users` (each rate's, --by rate), `processes`,
    # `read_after_write`, `range`, `replay` and `timing`
    SCHEMA_VERSION: ClassVar[int] = 4
    READS_FROM: ClassVar[int | None] = 2

    command: Literal["capacity"] = "capacity"
    verdict: Verdict
    exit_code: int
    target: str
    scenario: str
    by: Literal["users", "rate"]
    seed: int | None
    slo: list[str]
    error: str | None
    restore_problems: list[str]
    knee: Knee | None
    steps: list[LoadResult]
    saturation: Literal["found", "none", "below-first-step", "generator-bound", "not-run"] = "not-run"
    statement: str = ""  # the one line a person reads: the knee and its margins, or "no saturation up to ..."
    refine: bool = False
    repeat: int = 1
    points: list[CapacityPoint] = field(default_factory=list)
    model: UslModel | None = None
    next_range: NextRange | None = None
    files: dict[str, str] = field(default_factory=dict)  # what -> file name (plots, capacity.html)
    started: float | None = None  # Unix time
    duration_s: float | None = None  # the whole search: start-up, every step, the restore
    dialect: str | None = None
    load: LoadOptions | None = None  # null: written by a zscheck before version 4
    users: int | None = None  # --by rate: the users that carry each rate (--by users: the steps are users)
    processes: int | None = None  # null: before version 4
    read_after_write: float | None = None  # null: before version 4
    range: NextRange | None = None  # the steps asked (--start, --step, --stop); null: before version 4
    replay: str | None = None  # the command that runs the search again; null: before version 4
    timing: str | None = None  # the embedded server's job timing; null on a --target, or before version 4


# --------------------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class DriftPoint:
    """One aspect where the target departs from the published page."""

    aspect: str
    page: str  # what the published page says
    target: str  # what the target did
    evidence: str  # the request and the statuses it got, one line
    reproducer: str = ""  # the name of its script in the report's `reproducers` (several points share one)


@dataclass(kw_only=True)
class DriftReport(Document):
    """`zscheck drift`'s drift.json: the target, and each point where it departs from the published page."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/drift"
    SCHEMA_VERSION: ClassVar[int] = 2  # 2: reproducer scripts (each once) instead of a curl per point
    SCHEMA_FILE: ClassVar[str] = "drift.schema.json"

    target: str
    drift: list[DriftPoint]
    reproducers: dict[str, str]  # name -> a shell script (zscheck.report.reproducer), also reproducers/<name>.sh
    target_url: str | None  # null: the embedded reference server
    faults: list[str]


# ----------------------------------------------------------------------------------------- run


@dataclass(kw_only=True)
class Phase:
    """One phase of `zscheck run`; its report directory is the run's directory / name."""

    name: Literal["contract", "load", "drift"]
    exit_code: int
    seconds: float
    error: str | None


@dataclass(kw_only=True)
class RunSummary(Document):
    """`zscheck run`'s summary.json: the combined verdict and each phase's."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/run-summary"
    SCHEMA_FILE: ClassVar[str] = "run-summary.schema.json"

    command: Literal["run"] = "run"
    verdict: Verdict
    exit_code: int
    target: str
    dialect: str
    seed: int | None
    harness_version: str
    started: float
    duration_s: float
    gates: list[str]
    phases: list[Phase]


# ------------------------------------------------------------------------------------- compare


@dataclass(kw_only=True)
class CompareSide:
    label: str  # what the user named: a run id, a report directory, a target with --last N
    runs: list[str]  # the stored run ids (a report directory's record has one of its own)


@dataclass(kw_only=True)
class CompareFinding:
    key: str  # the finding's fingerprint
    check: str
    rule: str
    operation: str
    example: str


@dataclass(kw_only=True)
class CompareFindings:
    new: list[CompareFinding]
    fixed: list[CompareFinding]
    persisting: list[CompareFinding]


@dataclass(kw_only=True)
class CompareEquivalence:
    """TOST: each one-sided test's p, and what they prove together."""

    p_regression: float
    p_improvement: float
    no_regression: bool
    equivalent: bool
    claim: str


@dataclass(kw_only=True)
class CompareMetric:
    """One metric, base against candidate: one value per run on each side (seconds in `s`)."""

    operation: str  # "all": the user-level operations together
    metric: str  # p50, p99, ops/s, throughput
    unit: Literal["s", "ops/s"]
    verdict: Literal["better", "worse", "~"]
    test: Literal["permutation", "aa-noise", "none"]  # over runs; the stored A/A noise as null; none
    reason: str  # what the test was, or why there was none
    base: list[float]
    candidate: list[float]
    base_value: float  # the geometric mean of the side's runs
    base_ci: tuple[float, float]
    candidate_value: float
    candidate_ci: tuple[float, float]
    change: float  # candidate / base - 1
    change_ci: tuple[float, float] | None
    p_value: float | None
    noise_floor: float | None  # the smallest change one run a side can show against the stored A/A noise
    equivalence: CompareEquivalence | None


@dataclass(kw_only=True)
class CompareFamily:
    """The --max-regression gate's test of every tested metric at once (the metrics fail it as a family,
    not one by one): p of the largest worse change beyond the margin."""

    p: float
    metrics: int  # how many metrics the test held together
    how: str  # the test: a max-statistic over the runs' splits or the A/A pairs, or Bonferroni


# A ComparisonReport note that starts with this says its gate could not judge (exit 2): what it would have
# judged was measured by a load generator that was the limit (zscheck.history.compare.Result.no_verdict).
NO_VERDICT_NOTE = "no verdict: "


@dataclass(kw_only=True)
class ComparisonReport(Document):
    """`zscheck compare --json FILE`, and `zscheck run --compare-to`'s comparison.json."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/compare"
    SCHEMA_VERSION: ClassVar[int] = 2  # 2: the gate's family test (`family`)
    SCHEMA_FILE: ClassVar[str] = "compare.schema.json"

    base: CompareSide
    candidate: CompareSide
    alpha: float
    max_regression: float | None
    equivalence: bool
    noise: str | None  # where the A/A noise came from (null: none stored)
    findings: CompareFindings
    metrics: list[CompareMetric]
    family: CompareFamily | None  # null: no metric was tested
    notes: list[str]
    failed: list[str]  # why the comparison fails its gate; empty: it passes


# --------------------------------------------------------------------------------------- trend


@dataclass(kw_only=True)
class TrendChange:
    """A change point of a series: where its level moved, by how much, and whose it is."""

    run: str  # the first run after the change
    before: str  # the last run before it
    index: int  # the position of `run` in the series
    change: float | None  # relative (+0.125: 12.5 % more); null from 0 (findings 0 -> 2): see `absolute`
    absolute: float  # mean_after - mean_before
    mean_before: float
    mean_after: float
    pvalue: float
    worse: bool
    whose: Literal["host", "target"]  # host: the canary changed with it


@dataclass(kw_only=True)
class TrendSeries:
    """One metric over the runs of one shape, oldest first."""

    metric: str  # e.g. "e2e p99", "throughput", "findings", "e2e p50 / canary"
    shape: dict[str, str]  # the command and its facts (zscheck.history.shape.Shape)
    lower_is_better: bool
    values: list[float | None]  # null: not a finite number (print_and_write's one rule for every --json)
    runs: list[str]  # the run id of each value
    change_points: list[TrendChange]


@dataclass(kw_only=True)
class TrendReport(Document):
    """`zscheck trend --json FILE`: every series of a target's stored runs and its change points."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/trend"
    # 1: untyped, no published schema; 2: typed, with the verdict, whether it was gated and why
    SCHEMA_VERSION: ClassVar[int] = 2
    SCHEMA_FILE: ClassVar[str] = "trend.schema.json"

    verdict: Verdict  # the exit code's word: PASS without --fail-on-change
    exit_code: int
    gated: bool  # --fail-on-change
    reason: str  # why the verdict is what it is
    label: str  # the target
    runs: int
    max_pvalue: float
    window: int
    failed: list[str]  # what the gate fails on (with --fail-on-change)
    generator_bound: list[str]  # runs left out of the latency and throughput series
    could_not_run: list[str]
    shapes: list[dict[str, str]]
    series: list[TrendSeries]


# --------------------------------------------------------------------------------------- noise


@dataclass(kw_only=True)
class NoiseMetric:
    """One metric's run-to-run noise over the A/A pairs."""

    operation: str
    metric: str
    unit: Literal["s", "ops/s"]
    changes: list[float]  # each pair's second run / first run - 1
    sigma: float  # the standard deviation of a pair's log ratio (its mean known to be 0)
    floor: float  # the smallest change one run a side can show at alpha: --max-regression must exceed it


@dataclass(kw_only=True)
class NoiseReport(Document):
    """`zscheck noise`'s noise.json: the same target run in A/A pairs, and each metric's noise floor."""

    SCHEMA_NAME: ClassVar[str] = "zscheck/noise"
    SCHEMA_FILE: ClassVar[str] = "noise.schema.json"

    command: Literal["noise"] = "noise"
    verdict: Verdict
    exit_code: int
    target: str
    scenario: str
    harness_version: str
    started: float
    alpha: float
    pairs: int  # the pairs that completed
    runs: list[list[str]]  # each pair's two stored run ids
    metrics: list[NoiseMetric]
    error: str | None


DOCUMENTS: tuple[type[Document], ...] = (
    ContractSummary,
    LoadSummary,
    CapacityReport,
    DriftReport,
    RunSummary,
    ComparisonReport,
    NoiseReport,
    TrendReport,
)


def json_schemas() -> dict[str, str]:
    """Each published schema file's name and exact content, as generated from the models."""
    return {doc.SCHEMA_FILE: json.dumps(doc.json_schema(), indent=2) + "\n" for doc in DOCUMENTS}


def write_schemas(directory: Path = SCHEMAS_DIR) -> list[Path]:
    """Regenerate the published schemas after changing a model:
    `python -c 'from zscheck.report.documents import write_schemas; write_schemas()'`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schemas().items():
        (directory / name).write_text(text, encoding="utf-8")
        written.append(directory / name)
    return written
