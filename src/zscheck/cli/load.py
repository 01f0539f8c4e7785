"""`zscheck load` and `zscheck capacity`: locust against a target, every answer judged."""

from __future__ import annotations

import argparse
from dataclasses import replace

from zscheck.cli.common import Subparsers, add_command, execute
from zscheck.cli.values import capacity_search, load_run
from zscheck.load.plan import SCENARIOS
from zscheck.load.runner import run_load
from zscheck.load.search import run_capacity

_LOAD_EPILOG = """\
scenarios:
{scenarios}

examples:
  zscheck load                                        # toggle, 10 users, 30 s, embedded server
  zscheck load --scenario contention --users 50 --duration 1m
  zscheck load --rate 200 --users 50 --slo 'e2e:p99<250ms' --slo 'error_rate<0.1%'
  zscheck load --processes 2 --users 100 --slo 'rps>=500'
  zscheck load --target http://10.0.0.5:8080 --image UUID --image UUID --users 2
  zscheck load --fault lost-update-race --scenario contention   # watch the history check catch it
  zscheck load --timing realistic                     # the embedded server's jobs timed like a real node's
  zscheck load --fault drop-connections               # a dropped connection is a violation, never re-sent

gates (--slo): [operation:]metric comparison value. Metrics: p50 p90 p95 p99 p99.9 max mean (with us, ms
or s), error_rate (% or fraction), rps. Operations: put, job, e2e, query, invalid, and per event or kind
(e2e.enable, invalid.bad-event); none means every user-level operation (e2e, query, invalid) together.

exit codes: 0 every check, gate and history passed, 1 violations found, 2 could not run.
reports: summary.json, junit.xml (one testcase per finding), locust.html, locust_*.csv, plan.json and
journal.jsonl in --report-dir. --baseline FILE: known findings reported, not failing (see README).
"""
_CAPACITY_EPILOG = """\
examples:
  zscheck capacity --slo 'e2e:p99<100ms' --start 5 --step 5 --stop 50          # users 5, 10, ... 50
  zscheck capacity --slo 'e2e:p99<100ms' --start 5 --step 5 --stop 50 --refine --repeat 3
  zscheck capacity --by rate --users 64 --start 100 --step 100 --stop 2000 --slo 'e2e:p99<50ms'

Each step is a locust run of --step-duration; the search stops at the first step that breaks a gate or
shows a violation. The knee is the highest load with every gate met and no violation below the first that
broke one, stated with its margin to each gate; with nothing broken there is no knee: "no saturation up to
..." and the next range to try. --refine bisects between the last good and the first bad step (at most as
many more runs); --repeat K gives every point a 95% interval. The Universal Scalability Law is fitted to
the steps that met the correctness constraint (a peak only when the data supports one).
exit codes: 0 knee found or no saturation in range, 1 violations found (or the first step broke the gates),
2 could not run.
reports: capacity.json (points, runs, knee, model) and one directory per run in --report-dir.
"""


def register(sub: Subparsers) -> None:
    add_command(
        sub,
        "load",
        "load-test state changes with locust; check every answer, the history and the SLO gates",
        "Drive ChangeImageState with locust users, judge every answer with the conformance checks, check each "
        "image's history for linearizability, and hold the --slo gates. Fixture images are created (or named "
        "with --image) and restored at the end.",
        _LOAD_EPILOG.format(scenarios="\n".join(f"  {k:11} {v}" for k, v in SCENARIOS.items())),
        run_load_command,
    )
    add_command(
        sub,
        "capacity",
        "raise the load in steps until a gate breaks; report the knee",
        "Find the saturation point: run the scenario at increasing users (or arrival rates) until an --slo gate "
        "breaks, and report the highest throughput sustained with every gate met.",
        _CAPACITY_EPILOG,
        run_capacity_command,
    )


def run_load_command(args: argparse.Namespace) -> int:
    run = load_run(lambda dest: getattr(args, dest), "load")
    run.validate()  # bad arguments are said before anything is opened or created
    return execute(
        args,
        run.target,
        lambda control, emit, out: run_load(replace(run, report_dir=out), control=control, emit=emit),
        run.report_dir,
    )


def run_capacity_command(args: argparse.Namespace) -> int:
    get = lambda dest: getattr(args, dest)  # noqa: E731
    run, search = load_run(get, "capacity"), capacity_search(get)
    run.validate()
    search.levels()
    return execute(
        args,
        run.target,
        lambda control, emit, out: run_capacity(replace(run, report_dir=out), search, control=control, emit=emit),
        run.report_dir,
    )
