"""`zscheck drift`: where a target departs from the published API page."""

from __future__ import annotations

import argparse

from zscheck import options
from zscheck.cli.common import Subparsers, add_command, handlers
from zscheck.conformance.drift import render_lines, run_drift
from zscheck.control import RunControl
from zscheck.events import VerdictReached


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "drift",
        "show where a target departs from the published API page",
        "Send the published page's request and the server's request, and list point by point where the target "
        "departs from the page (body key, synchronous vs api-job, success field, status of business failures, "
        "...). Exit 0 when there is no drift, 1 when there is, 2 when it could not run.",
        "examples:\n  zscheck drift\n"
        "  ZSCHECK_PASSWORD=... zscheck drift --target http://10.0.0.5:8080 --image 0f3e...",
    )
    options.add_groups(p, "drift")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    get = lambda dest: getattr(args, dest)  # noqa: E731
    target = options.target_options(get, "drift")
    target.require_password()
    out = options.report_dir(get, "drift")
    control = RunControl()
    with control.for_command():
        result = run_drift(out, target, control=control)
    details = render_lines(result.points, result.target)
    details += [f"RESTORE FAILED: {problem}" for problem in result.restore_problems]
    with handlers(args) as emit:
        emit(
            VerdictReached(
                "drift", result.verdict, result.target, details=tuple(details), report=str(out / "drift.json")
            )
        )
    return result.verdict.exit_code
