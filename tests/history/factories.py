"""Documents as the commands write them, built from the report models with chosen numbers: the compare and
trend statistics are tested on synthetic data whose answer is known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zscheck import __version__
from zscheck.history.record import RunRecord, from_directory
from zscheck.report.documents import (
    ContractSummary,
    Failure,
    Generators,
    Linearizability,
    LoadOptions,
    LoadResult,
    LoadSummary,
    OperationStats,
    TimelineSecond,
)
from zscheck.report.findings import group, with_fingerprint

TARGET = "http://127.0.0.1:9"


def stats(p50: float, p99: float, count: float = 1000.0, rps: float = 100.0) -> OperationStats:
    return OperationStats(
        p50=p50,
        p90=p50 * 1.5,
        p95=p50 * 1.8,
        p99=p99,
        p99_9=p99 * 1.2,
        max=p99 * 1.5,
        mean=p50 * 1.1,
        count=count,
        failures=0.0,
        error_rate=0.0,
        rps=rps,
    )


def load_summary(
    p50s: Sequence[float],
    p99s: Sequence[float] | None = None,
    *,
    ops: Sequence[int] | None = None,
    target: str = TARGET,
    started: float = 1_800_000_000.0,
    scenario: str = "toggle",
    verdict: str = "PASS",
) -> LoadSummary:
    """A load run whose second-by-second e2e latencies are `p50s` (and `p99s`, default 3 x p50)."""
    p99s = list(p99s) if p99s is not None else [3 * v for v in p50s]
    ops = list(ops) if ops is not None else [100] * len(p50s)
    p50 = sorted(p50s)[len(p50s) // 2]
    p99 = sorted(p99s)[len(p99s) // 2]
    timeline = [
        TimelineSecond(t=i, ops=n, failures=0, p50=a, p99=b, codes={})
        for i, (a, b, n) in enumerate(zip(p50s, p99s, ops, strict=True))
    ]
    operations = {name: stats(p50, p99, rps=sum(ops) / len(ops)) for name in ("put", "job", "e2e", "all")}
    result = LoadResult(
        users=10,
        rate=None,
        duration=float(len(p50s)),
        passed=verdict == "PASS",
        throughput=sum(ops) / len(ops),
        operations=operations,
        gates=[],
        failures=[],
        error_codes={},
        harness={},
        harness_actions=[],
        generators=Generators(workers=1, users=10),
        distribution={"e2e": [(50.0, p50), (99.0, p99)]},
        arrival=None,
        linearizability=Linearizability(
            ok=True, images=10, operations=sum(ops), history_dropped=0, undecided=[], violations=[]
        ),
        timeline=timeline,
    )
    return LoadSummary(
        verdict=verdict,  # type: ignore[arg-type]
        exit_code={"PASS": 0, "VIOLATIONS": 1}.get(verdict, 2),
        harness_version=__version__,
        target=target,
        dialect="rest",
        scenario=scenario,
        timing=None,
        read_after_write=0.25,
        users=10,
        rate=None,
        processes=1,
        seed=7,
        started=started,
        slo=[],
        error=None,
        restore_problems=[],
        result=result,
        files={},
        setup_actions=[],
        load=LoadOptions(
            images_per_user=1, hot_images=2, query_ratio=0.5, error_ratio=0.25, spawn_rate=None, remote=False
        ),
        duration=float(len(p50s)),
    )


def failure(check: str, rule: str = "", test: str = "test_x", message: str = "wrong") -> Failure:
    return Failure(
        test=test, check=check, message=message, rule=rule, expected=f"{check} holds", actual=f"{check} broken",
        operation="PUT /zstack/v1/images/{uuid}/actions",
    )  # fmt: skip


def contract_summary(failures: Sequence[Failure], *, target: str = TARGET, started: float = 1.8e9) -> ContractSummary:
    return ContractSummary(
        verdict="VIOLATIONS" if failures else "PASS",
        exit_code=1 if failures else 0,
        target=target,
        dialect="rest",
        seed=7,
        harness_version=__version__,
        started=started,
        duration_s=3.0,
        tests={"passed": 10},
        cases=100,
        requests=100,
        requests_per_s=30.0,
        failures_by_check={},
        coverage={},
        not_covered={},
        failures=[with_fingerprint(f) for f in failures],
        findings=group(failures),
        fixed=[],
        harness_errors=[],
        restore_problems=[],
        notes=[],
        replay="zscheck contract --seed 7",
        target_url=None,
        faults=[],
        timing="instant",
        account="admin",
    )


def record_of(tmp: Path, name: str, document: LoadSummary | ContractSummary, command: str) -> RunRecord:
    """The document written to its own directory under `tmp`, recorded as the command would be."""
    directory = tmp / name
    document.write(directory / "summary.json")
    return from_directory(directory, command=command, target_version="5.2.1")
