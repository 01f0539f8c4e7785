"""`zscheck replay REPORT_DIR [ID]`: re-send a finding's failing request and say FIXED or STILL FAILING."""

from __future__ import annotations

import argparse
from pathlib import Path

from zscheck import options
from zscheck.cli.common import Subparsers, add_command, execute
from zscheck.replay import replay


def register(sub: Subparsers) -> None:
    parser = add_command(
        sub,
        "replay",
        "re-send a finding's failing request: FIXED or STILL FAILING",
        "Read a contract report (summary.json of `zscheck contract`, or a `zscheck run` directory) and re-send "
        "the failing request of finding ID (its id, a prefix of it, or its number in failures.md), or of every "
        "finding: a fresh session and X-Job-UUID, the api-job followed, judged by the same checks. The target is "
        "--target if given, else the run's own; a run against the embedded server is replayed against a new "
        "embedded server with the same faults. The run's image is used if the target still has it, else a "
        "fixture image is made (and deleted after). Exit 0 FIXED, 1 STILL FAILING, 2 could not replay.",
        "examples:\n  zscheck replay reports/contract-20261203T053329Z f5c98a41b3b1\n"
        "  zscheck replay reports/latest 1 --target http://10.0.0.5:8080",
        run,
    )
    parser.add_argument("report", metavar="REPORT_DIR", type=Path, help="the run's report directory")
    parser.add_argument("finding", metavar="ID", nargs="?", help="the finding (default: every finding of the run)")


def run(args: argparse.Namespace) -> int:
    get = lambda dest: getattr(args, dest)  # noqa: E731
    target = options.target_options(get, "replay")
    return execute(
        args,
        target,
        lambda control, emit, _directory: (
            replay(args.report, args.finding, target=target, control=control, emit=emit).verdict
        ),
    )
