"""A run written back as its command line: rendered by one rule, and read back by zscheck's own parser
into the same run (load and capacity here; the contract plan's in tests/conformance/test_plan.py)."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from zscheck.cli import build_parser
from zscheck.cli.values import capacity_search, load_run
from zscheck.cmdline import render
from zscheck.load.runner import LoadRun
from zscheck.load.search import CapacitySearch
from zscheck.target import TargetOptions


@pytest.mark.parametrize(
    ("given", "line"),
    [
        ([("--seed", 7)], "zscheck load --seed 7"),
        ([("--duration", 30.0), ("--rate", 2.5)], "zscheck load --duration 30 --rate 2.5"),  # no trailing .0
        ([("--rate", 1234.5678), ("--timeout", 1e6)], "zscheck load --rate 1234.5678 --timeout 1000000"),
        ([("--master", True), ("--refine", False), ("--spawn-rate", None)], "zscheck load --master"),
        ([("--slo", "p99<1s"), ("--slo", "error_rate<1%")], "zscheck load --slo 'p99<1s' --slo 'error_rate<1%'"),
        ([("--image", "a b"), ("--create-images", 0)], "zscheck load --image 'a b' --create-images 0"),
    ],
)
def test_an_option_becomes_words_by_one_rule(given: list[tuple[str, object]], line: str) -> None:
    assert render("load", given) == line


def _parsed(line: str) -> object:
    words = shlex.split(line)
    assert words[0] == "zscheck"
    args = build_parser().parse_args(words[1:])
    return lambda dest: getattr(args, dest)


LOADS = [
    LoadRun(Path("r"), seed=3),
    LoadRun(
        Path("r"),
        target=TargetOptions(faults=("stale-read",), timing="realistic", image_url="http://mirror/x.qcow2"),
        scenario="mixed",
        users=40,
        spawn_rate=2.5,
        duration=90.0,
        rate=1234.5678,  # every digit: `:g` replayed it as 1234.57
        slo=("e2e:p99<250ms", "error_rate<0.1%"),
        processes=2,
        seed=11,
        images_per_user=3,
        hot_images=4,
        query_ratio=0.3333333,
        error_ratio=0.1,
        read_after_write=0.0,
        baseline="known.toml",
    ),
    LoadRun(
        Path("r"),
        target=TargetOptions(url="https://10.0.0.5:8080", account="ops", ca_bundle="/etc/ca.pem", images=("u1",)),
        master=True,
        expect_workers=3,
        master_bind_port=6000,
        master_bind_host="10.0.0.9",
        clock_skew=0.05,
        seed=5,
    ),
]


@pytest.mark.parametrize("run", LOADS, ids=["defaults", "embedded-faulty", "distributed"])
def test_a_load_runs_command_line_is_read_back_into_the_same_run(run: LoadRun) -> None:
    line = run.command_line()
    again = load_run(_parsed(line), "load")  # type: ignore[arg-type]
    assert dataclasses.replace(again, report_dir=run.report_dir) == run, line


@pytest.mark.parametrize(
    "search",
    [
        CapacitySearch(),
        CapacitySearch(start=100, step=50, stop=400, step_duration=5.0, by_rate=True, refine=True, repeat=3),
    ],
    ids=["defaults", "by-rate"],
)
def test_a_capacity_searchs_command_line_is_read_back_into_the_same_search(search: CapacitySearch) -> None:
    run = dataclasses.replace(LOADS[1], duration=LoadRun.duration)  # a search's steps have --step-duration
    line = search.command_line(run)
    assert line.startswith("zscheck capacity ") and " --duration " not in line
    get = _parsed(line)
    assert capacity_search(get) == search  # type: ignore[arg-type]
    assert dataclasses.replace(load_run(get, "capacity"), report_dir=run.report_dir) == run  # type: ignore[arg-type]
