"""The report documents' models and their published schemas: the committed schema files are the ones the
models generate, a document round-trips through its model, and a wrong one is refused naming the field."""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from zscheck.report import (
    DOCUMENTS,
    CapacityReport,
    ContractSummary,
    Document,
    DocumentError,
    DriftPoint,
    DriftReport,
    Failure,
    LoadResult,
    LoadSummary,
    Phase,
    RunReport,
    RunSummary,
)
from zscheck.report.documents import (
    SCHEMAS_DIR,
    Arrival,
    CompareEquivalence,
    CompareFamily,
    CompareFinding,
    CompareFindings,
    CompareMetric,
    CompareSide,
    ComparisonReport,
    FailureGroup,
    GateOutcome,
    Generators,
    HistoryOperation,
    Knee,
    Linearizability,
    LinearizabilityViolation,
    LoadOptions,
    NextRange,
    NoiseMetric,
    NoiseReport,
    OperationStats,
    TimelineSecond,
    TrendChange,
    TrendReport,
    TrendSeries,
    json_schemas,
)
from zscheck.report.findings import group, with_fingerprint
from zscheck.report.load_findings import load_findings
from zscheck.report.writers import summary

ROOT = Path(__file__).resolve().parents[2]


def validator(model: type[Document]) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / model.SCHEMA_FILE).read_text())
    return jsonschema.Draft202012Validator(schema)


def stats(scale: float = 1.0) -> OperationStats:
    return OperationStats(
        p50=0.001 * scale, p90=0.002 * scale, p95=0.003 * scale, p99=0.004 * scale, p99_9=0.005 * scale,
        max=0.02 * scale, mean=0.0012 * scale, count=120.0, failures=1.0, error_rate=1 / 120, rps=40.0,
    )  # fmt: skip


def load_result(*, rate: float | None = 20.0) -> LoadResult:
    window = [
        HistoryOperation(kind="write", value="Disabled", invoke=10.0, complete=10.01, client="0u1"),
        HistoryOperation(kind="read", value="Enabled", invoke=10.02, complete=None, client="0u2"),
    ]
    return LoadResult(
        users=2,
        rate=rate,
        duration=3.0,
        passed=False,
        throughput=40.0,
        operations={"e2e": stats(), "e2e.enable": stats(0.9), "put": stats(0.5), "all": stats()},
        gates=[
            GateOutcome(gate="e2e:p99<1s", measured=0.004, shown="pass e2e:p99<1s: measured 4.0ms", passed=True),
            GateOutcome(gate="query:p99<1s", measured=None, shown="FAIL query:p99<1s: nothing", passed=False),
        ],
        failures=[
            FailureGroup(
                operation="changeImageState enable",
                check="state_matches_event",
                code="-",
                count=1,
                examples=[{"message": "still Disabled", "curl": "curl -i ...", "status": "200", "time": "1.0"}],
            )
        ],
        error_codes={"SYS.1007": 3},
        harness={"connections": 2, "relogins": 0},
        harness_actions=["relogin: session ended"],
        generators=Generators(workers=1, users=2),
        distribution={"put": [(0.0, 0.0002), (99.9, 0.004)], "job": []},
        arrival=Arrival(scheduled=60, late=2) if rate else None,
        linearizability=Linearizability(
            ok=False,
            images=2,
            operations=240,
            history_dropped=0,
            undecided=["img-2"],
            violations=[LinearizabilityViolation(image="img-1", initial="Enabled", text="no order", window=window)],
        ),
        timeline=[TimelineSecond(t=0, ops=40, failures=1, p50=0.001, p99=0.004, codes={"SYS.1007": 1})],
    )


def examples() -> dict[type[Document], Document]:
    """One document of each kind with every optional part filled in (and one left null where it may be)."""
    failure = with_fingerprint(
        Failure(
            test="t::a", check="openapi", message="m", curl="curl ...", steps="x = 1",
            operation="PUT /zstack/v1/images/{uuid}/actions", image="i", event='"enable"',
            facets={"body": "action"}, reproducer="#!/bin/sh\n",
        )
    )  # fmt: skip
    return {
        ContractSummary: ContractSummary(
            verdict="VIOLATIONS",
            exit_code=1,
            target="http://zs:8080",
            dialect="rest",
            seed=7,
            harness_version="0.1.0",
            started=1_700_000_000.5,
            duration_s=12.3,
            tests={"passed": 3, "failed": 1},
            cases=300,
            requests=900,
            requests_per_s=73.2,
            failures_by_check={"openapi": 1},
            coverage={"success": 40},
            not_covered={"session-expired": "needs a 4 s session"},
            failures=[failure],
            findings=group([failure]),
            fixed=["0123456789ab"],
            harness_errors=[],
            restore_problems=["img-1: still Disabled"],
            notes=["n"],
            replay="zscheck contract --dialect rest --seed 7",
            target_url="http://zs:8080",
            faults=[],
            timing="instant",
            account="admin",
        ),
        LoadSummary: LoadSummary(
            verdict="VIOLATIONS",
            exit_code=1,
            harness_version="0.1.0",
            target="embedded reference server",
            dialect="rest",
            scenario="toggle",
            timing="instant",
            read_after_write=0.25,
            users=2,
            rate=20.0,
            processes=1,
            seed=3,
            started=1_700_000_000.0,
            slo=["e2e:p99<1s"],
            error=None,
            restore_problems=[],
            result=load_result(),
            files={"locust_html": "locust.html"},
            setup_actions=["login: admin"],
            findings=[dataclasses.replace(f, status="known", reason="ZS-7") for f in load_findings(load_result())],
            fixed=["ba9876543210"],
            baseline="ci/known.toml",
            load=LoadOptions(
                images_per_user=2, hot_images=3, query_ratio=0.4, error_ratio=0.1, spawn_rate=5.0, remote=True
            ),
            duration=30.0,
        ),
        CapacityReport: CapacityReport(
            verdict="PASS",
            exit_code=0,
            target="embedded reference server",
            scenario="toggle",
            by="users",
            seed=3,
            slo=["p99<1s"],
            error=None,
            restore_problems=[],
            knee=Knee(users=1, rate=None, throughput=30.0),
            steps=[load_result(rate=None), load_result()],
            load=LoadOptions(
                images_per_user=1, hot_images=2, query_ratio=0.5, error_ratio=0.25, spawn_rate=None, remote=False
            ),
            processes=2,
            read_after_write=0.25,
            range=NextRange(start=1, step=1, stop=2, arguments="--start 1 --step 1 --stop 2"),
        ),
        DriftReport: DriftReport(
            target="the embedded reference server (rest dialect)",
            drift=[DriftPoint("body key", "the page says", "the target does", "PUT ... answered 400", "page")],
            reproducers={"page": "#!/bin/sh\n"},
            target_url=None,
            faults=["wrong-error-code"],
        ),
        RunSummary: RunSummary(
            verdict="COULD NOT RUN",
            exit_code=2,
            target="embedded reference server",
            dialect="rest",
            seed=5,
            harness_version="0.1.0",
            started=1_700_000_000.0,
            duration_s=30.1,
            gates=["error_rate<1%"],
            phases=[
                Phase(name="contract", exit_code=0, seconds=20.0, error=None),
                Phase(name="load", exit_code=2, seconds=1.0, error="locust exited"),
            ],
        ),
        ComparisonReport: ComparisonReport(
            base=CompareSide(label="20261201T0200", runs=["20261201T020000Z-abcdef"]),
            candidate=CompareSide(label="http://c (newest 4)", runs=["r1", "r2", "r3", "r4"]),
            alpha=0.05,
            max_regression=0.05,
            equivalence=True,
            noise="6 stored A/A pairs of embedded reference server (toggle)",
            findings=CompareFindings(
                new=[CompareFinding(key="k1", check="status", rule="r", operation="PUT x", example="got 500")],
                fixed=[],
                persisting=[],
            ),
            metrics=[
                CompareMetric(
                    operation="all",
                    metric="p50",
                    unit="s",
                    verdict="worse",
                    test="aa-noise",
                    reason="A/A",
                    base=[0.010],
                    candidate=[0.012],
                    base_value=0.010,
                    base_ci=(0.010, 0.010),
                    candidate_value=0.012,
                    candidate_ci=(0.012, 0.012),
                    change=0.2,
                    change_ci=(0.1, 0.3),
                    p_value=0.01,
                    noise_floor=0.08,
                    equivalence=CompareEquivalence(
                        p_regression=0.4, p_improvement=0.01, no_regression=False, equivalent=False, claim="c"
                    ),
                ),
                CompareMetric(
                    operation="e2e",
                    metric="p99",
                    unit="s",
                    verdict="~",
                    test="none",
                    reason="one run a side",
                    base=[0.02],
                    candidate=[0.021],
                    base_value=0.02,
                    base_ci=(0.02, 0.02),
                    candidate_value=0.021,
                    candidate_ci=(0.021, 0.021),
                    change=0.05,
                    change_ci=None,
                    p_value=None,
                    noise_floor=None,
                    equivalence=None,
                ),
            ],
            family=CompareFamily(p=0.004, metrics=2, how="max-statistic over 20 A/A pairs"),
            notes=["1 metric(s) not tested"],
            failed=["1 new finding(s)"],
        ),
        NoiseReport: NoiseReport(
            verdict="PASS",
            exit_code=0,
            target="embedded reference server",
            scenario="toggle",
            harness_version="0.1.0",
            started=1_700_000_000.0,
            alpha=0.05,
            pairs=2,
            runs=[["a1", "b1"], ["a2", "b2"]],
            metrics=[
                NoiseMetric(operation="all", metric="p50", unit="s", changes=[0.05, -0.02], sigma=0.038, floor=0.18)
            ],
            error=None,
        ),
        TrendReport: TrendReport(
            verdict="VIOLATIONS",
            exit_code=1,
            gated=True,
            reason="e2e p50 +50.0% from run r14",
            label="http://10.0.0.5:8080",
            runs=20,
            max_pvalue=0.001,
            window=30,
            failed=["e2e p50 +50.0% from run r14"],
            generator_bound=["r3"],
            could_not_run=[],
            shapes=[{"command": "load", "scenario": "toggle", "users": "10"}],
            series=[
                TrendSeries(
                    metric="e2e p50",
                    shape={"command": "load", "scenario": "toggle", "users": "10"},
                    lower_is_better=True,
                    values=[0.01, 0.015],
                    runs=["r13", "r14"],
                    change_points=[
                        TrendChange(
                            run="r14",
                            before="r13",
                            index=1,
                            change=0.5,
                            absolute=0.005,
                            mean_before=0.01,
                            mean_after=0.015,
                            pvalue=0.0001,
                            worse=True,
                            whose="target",
                        ),
                        TrendChange(
                            run="r14",
                            before="r13",
                            index=1,
                            change=None,
                            absolute=2.0,
                            mean_before=0.0,
                            mean_after=2.0,
                            pvalue=0.0001,
                            worse=True,
                            whose="host",
                        ),
                    ],
                )
            ],
        ),
    }


def test_the_committed_schemas_are_the_ones_the_models_generate() -> None:
    generated = json_schemas()
    committed = {p.name: p.read_text() for p in SCHEMAS_DIR.glob("*.schema.json")}
    regenerate = "python -c 'from zscheck.report.documents import write_schemas; write_schemas()'"
    assert committed == generated, f"a model changed without its published schema: run {regenerate}"
    for text in generated.values():
        jsonschema.Draft202012Validator.check_schema(json.loads(text))


def test_the_schemas_ship_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["zscheck.report"]
    shipped = {p.name for pattern in patterns for p in SCHEMAS_DIR.parent.glob(pattern)}
    assert shipped >= {model.SCHEMA_FILE for model in DOCUMENTS}


@pytest.mark.parametrize("model", DOCUMENTS, ids=lambda m: m.SCHEMA_NAME)
def test_a_document_round_trips_and_validates(model: type[Document]) -> None:
    document = examples()[model]
    data = document.to_json()
    assert next(iter(data)) == "schema" and data["schema"] == model.schema_tag()
    validator(model).validate(data)
    text = json.dumps(data)
    assert model.from_json(json.loads(text), "example") == document


def test_every_model_field_is_in_its_schema_and_required() -> None:
    for model, document in examples().items():
        schema = json.loads((SCHEMAS_DIR / model.SCHEMA_FILE).read_text())
        keys = set(document.to_json()) - {"schema"}
        assert set(schema["properties"]) == keys | {"schema"}
        # version 1: the tag itself may be absent (0.1.0 wrote none); from version 2 on it is required
        assert set(schema["required"]) == (keys if model.SCHEMA_VERSION == 1 else keys | {"schema"})


def test_a_document_without_a_tag_is_read_as_version_1() -> None:
    data = examples()[RunSummary].to_json()
    del data["schema"]
    assert RunSummary.from_json(data) == examples()[RunSummary]
    validator(RunSummary).validate(data)


def test_another_version_is_refused_naming_the_schema_field(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    other = LoadSummary.SCHEMA_VERSION + 1
    path.write_text(json.dumps({**examples()[LoadSummary].to_json(), "schema": f"zscheck/load-summary/{other}"}))
    with pytest.raises(DocumentError) as caught:
        LoadSummary.read(path)
    assert str(caught.value) == (
        f"{path}: field `schema`: version {other} of zscheck/load-summary; "
        f"this zscheck reads version {LoadSummary.READS_FROM} to {LoadSummary.SCHEMA_VERSION}"
    )
    assert list(validator(LoadSummary).iter_errors(json.loads(path.read_text()))), "the schema refuses it too"


def test_an_older_version_that_lacked_the_newer_fields_is_read_with_them_unrecorded() -> None:
    """load-summary/3 had no `load` nor `duration` (4 added them, with null for "not recorded"): a store's
    older runs stay readable. Version 4 without them is refused: only an older version may lack a field."""
    data = examples()[LoadSummary].to_json()
    del data["load"], data["duration"]
    with pytest.raises(DocumentError, match=r"field `load`: missing"):
        LoadSummary.from_json(data, "now")
    old = LoadSummary.from_json({**data, "schema": "zscheck/load-summary/3"}, "old")
    assert old.load is None and old.duration is None and old.users == examples()[LoadSummary].users
    with pytest.raises(DocumentError, match=r"version 2 of zscheck/load-summary; this zscheck reads version 3 to 4"):
        LoadSummary.from_json({**data, "schema": "zscheck/load-summary/2"}, "older")


def test_another_document_is_refused() -> None:
    with pytest.raises(DocumentError, match=r"'zscheck/drift/2' is not a zscheck/run-summary/1 document"):
        RunSummary.from_json(examples()[DriftReport].to_json(), "drift.json")


def _without(data: dict[str, Any], path: list[str | int]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


@pytest.mark.parametrize(
    ("model", "path", "named"),
    [
        (LoadSummary, ["verdict"], "verdict"),
        (LoadSummary, ["result", "linearizability", "ok"], "result.linearizability.ok"),
        (LoadSummary, ["result", "operations", "e2e", "p99.9"], "result.operations.e2e.p99.9"),
        (CapacityReport, ["steps", 1, "gates", 0, "passed"], "steps[1].gates[0].passed"),
        (ContractSummary, ["failures", 0, "check"], "failures[0].check"),
        (DriftReport, ["drift", 0, "evidence"], "drift[0].evidence"),
        (RunSummary, ["phases", 1, "seconds"], "phases[1].seconds"),
    ],
)
def test_a_missing_field_is_refused_naming_it(model: type[Document], path: list[str | int], named: str) -> None:
    data = _without(examples()[model].to_json(), path)
    with pytest.raises(DocumentError) as caught:
        model.from_json(data, "reports/x/summary.json")
    assert str(caught.value).startswith(f"reports/x/summary.json: field `{named}`: missing")
    assert list(validator(model).iter_errors(data)), "the schema refuses it too"


@pytest.mark.parametrize(
    ("change", "named", "problem"),
    [
        ({"exit_code": "1"}, "exit_code", "expected an integer, got a string ('1')"),
        ({"verdict": "pass"}, "verdict", "expected one of 'PASS', 'VIOLATIONS', 'COULD NOT RUN', got 'pass'"),
        ({"users": True}, "users", "expected an integer, got a boolean (true)"),
        ({"result": []}, "result", "expected an object (LoadResult), got an array"),
        ({"extra": 1}, "extra", "unexpected field"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_field(change: dict[str, Any], named: str, problem: str) -> None:
    data = {**examples()[LoadSummary].to_json(), **change}
    with pytest.raises(DocumentError) as caught:
        LoadSummary.from_json(data, "summary.json")
    assert str(caught.value).startswith(f"summary.json: field `{named}`: {problem}")
    assert list(validator(LoadSummary).iter_errors(data)), "the schema refuses it too"


def test_a_file_that_is_not_json_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "drift.json"
    path.write_text("{not json")
    with pytest.raises(DocumentError, match=rf"^{path}: the document: not JSON"):
        DriftReport.read(path)


def test_the_contract_writer_keeps_every_key_it_wrote_before(tmp_path: Path) -> None:
    report = RunReport(report_dir=tmp_path, seed=1, target="t")
    report.failures.append(Failure(test="t::a", check="assertion", message="m"))
    report.count("failed")
    before = {
        "verdict", "exit_code", "target", "dialect", "seed", "harness_version", "started", "duration_s", "tests",
        "cases", "requests", "requests_per_s", "failures_by_check", "coverage", "not_covered", "failures",
        "harness_errors", "restore_problems", "notes", "replay",
    }  # fmt: skip
    data = summary(report)
    # version 3 adds the findings, the baseline's fixed ones and the target's options
    assert set(data) == before | {"schema", "findings", "fixed", "target_url", "faults", "timing", "account"}
    report.write()
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written == data and ContractSummary.read(tmp_path / "summary.json").failures == report.failures
    validator(ContractSummary).validate(written)
