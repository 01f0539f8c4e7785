"""`zscheck contract`: the conformance suites against a target."""

from __future__ import annotations

import argparse
import dataclasses

from zscheck import options
from zscheck.cli.common import Subparsers, add_command, execute, last_resort
from zscheck.conformance.runner import run_contract

_CONTRACT_EPILOG = """\
examples:
  zscheck contract                                   # the embedded reference server, nightly profile
  ZSCHECK_PASSWORD=... zscheck contract --target http://10.0.0.5:8080 --image 0f3e...
  zscheck contract --dialect documented --seed 42    # replay a run exactly
  zscheck contract --max-examples 1000               # release profile: deeper
  zscheck contract --fault disable-noop              # watch a check catch a broken server

exit codes: 0 conformant, 1 violations found, 2 could not run.
reports: junit.xml, summary.json, failures.md (with curl reproducers) and journal.jsonl in --report-dir.
"""


def register(sub: Subparsers) -> None:
    add_command(
        sub,
        "contract",
        "check a target against the ChangeImageState contract",
        "Run the conformance suites (error codes, envelope, the image state model) against a target. "
        "Only images the run creates, or names with --image, are touched, and all are restored at the end.",
        _CONTRACT_EPILOG,
        run,
    )


def run(args: argparse.Namespace) -> int:
    plan = options.contract_plan(lambda dest: getattr(args, dest)).validate()
    return execute(
        args,
        plan.target,
        lambda control, emit, out: run_contract(
            dataclasses.replace(plan, report_dir=out),
            control=control,
            emit=emit,
            last_resort=last_resort,
            quiet=args.quiet,
        ),
        plan.report_dir,
    )
