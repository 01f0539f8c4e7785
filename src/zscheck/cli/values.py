"""Parsed options into the typed run descriptions of load, capacity and `zscheck run` (the target's and
the contract plan's are built in `zscheck.options`, which the pytest plugin shares)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zscheck.load.runner import LoadRun
from zscheck.load.search import CapacitySearch
from zscheck.options import Get, options_of, report_dir, target_options
from zscheck.run import DEFAULT_GATES, RunAll


def load_run(get: Get, command: str) -> LoadRun:
    taken = {option.dest for _, option in options_of(command)}
    plain = LoadRun(Path("."))

    def value(dest: str) -> Any:
        return get(dest) if dest in taken else getattr(plain, dest)

    return LoadRun(
        report_dir=report_dir(get, command),
        target=target_options(get, command),
        scenario=get("scenario"),
        users=int(get("users")),
        spawn_rate=get("spawn_rate"),
        duration=float(value("duration")),
        rate=get("rate"),
        slo=tuple(get("slo")),
        processes=int(get("processes")),
        seed=get("seed"),
        images_per_user=int(get("images_per_user")),
        hot_images=int(get("hot_images")),
        query_ratio=float(get("query_ratio")),
        error_ratio=float(get("error_ratio")),
        read_after_write=float(get("read_after_write")),
        master=bool(value("master")),
        expect_workers=int(value("expect_workers")),
        master_bind_port=int(value("master_bind_port")),
        master_bind_host=str(value("master_bind_host")),
        clock_skew=float(value("clock_skew")),
        baseline=value("baseline"),
        baseline_update=bool(value("baseline_update")),
    )


def capacity_search(get: Get) -> CapacitySearch:
    return CapacitySearch(
        start=float(get("start")),
        step=float(get("step")),
        stop=float(get("stop")),
        step_duration=float(get("step_duration")),
        by_rate=get("by") == "rate",
        refine=bool(get("refine")),
        repeat=int(get("repeat")),
    )


def run_all(get: Get) -> RunAll:
    return RunAll(
        reports=Path(get("reports")),
        target=target_options(get, "run"),
        seed=get("seed"),
        max_examples=int(get("max_examples")),
        scenario=get("scenario"),
        users=int(get("users")),
        duration=float(get("duration")),
        rate=get("rate"),
        slo=tuple(get("slo")) or DEFAULT_GATES,
        skip=tuple(get("skip")),
        baseline=get("baseline"),
        baseline_update=bool(get("baseline_update")),
    )
