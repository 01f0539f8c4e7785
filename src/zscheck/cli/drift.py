"""`zscheck drift`: where a target departs from the published API page."""

from __future__ import annotations

import argparse

from zscheck import options
from zscheck.cli.common import Subparsers, add_command, execute
from zscheck.conformance.drift import run_drift


def register(sub: Subparsers) -> None:
    add_command(
        sub,
        "drift",
        "show where a target departs from the published API page",
        "Send the published page's request and the server's request, and list point by point where the target "
        "departs from the page (body key, synchronous vs api-job, success field, status of business failures, "
        "...). Exit 0 when there is no drift, 1 when there is, 2 when it could not run.",
        "examples:\n  zscheck drift\n"
        "  ZSCHECK_PASSWORD=... zscheck drift --target http://10.0.0.5:8080 --image 0f3e...",
        run,
    )


def run(args: argparse.Namespace) -> int:
    get = lambda dest: getattr(args, dest)  # noqa: E731
    target, out = options.target_options(get, "drift"), options.report_dir(get, "drift")
    return execute(
        args,
        target,
        lambda control, emit, claimed: run_drift(claimed, target, control=control, emit=emit).verdict,
        out,
    )
