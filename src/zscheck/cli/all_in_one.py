"""`zscheck run`: conformance, a short load run and drift, with one HTML report."""

from __future__ import annotations

import argparse

from zscheck.cli.common import Subparsers, add_command, execute, last_resort
from zscheck.cli.values import run_all
from zscheck.run import run_all as run_everything

_RUN_EPILOG = """\
examples:
  zscheck run                                          # everything against the embedded reference server
  ZSCHECK_PASSWORD=... zscheck run --target http://10.0.0.5:8080 --image UUID
  zscheck run --seed 42 --quiet                        # a nightly CI job: replayable, terse
  zscheck --profile release run                        # [profiles.release] from zscheck.toml

phases: contract (the nightly profile: 100 examples per property), load (toggle, 10 users, 20 s, gates
error_rate<1% and e2e:p99<1s unless --slo is given), drift (informational: never a violation).
exit codes: 0 every phase passed, 1 violations found in any phase, 2 a phase could not run.
reports: reports/<UTC time>/ with index.html, summary.json and one directory per phase; reports/latest
points at the newest run.
"""


def register(sub: Subparsers) -> None:
    add_command(
        sub,
        "run",
        "conformance, a short load run and drift, with one HTML report",
        "The one command: run the conformance suites, a short load run with default gates, and the drift check "
        "against a target (the embedded reference server unless --target is given), write everything to "
        "reports/<UTC time>/, and print the verdict and the path of index.html.",
        _RUN_EPILOG,
        run,
    )


def run(args: argparse.Namespace) -> int:
    plan = run_all(lambda dest: getattr(args, dest)).validate()
    return execute(
        args,
        plan.target,
        lambda control, emit, _: run_everything(plan, control=control, emit=emit, last_resort=last_resort).verdict,
    )
