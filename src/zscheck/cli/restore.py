"""`zscheck restore`: finish an interrupted run's restore from its journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zscheck import options
from zscheck.cli.common import EXIT_CANNOT_RUN, EXIT_OK, Subparsers, add_command
from zscheck.target import journal_of, restore_journal


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "restore",
        "finish an interrupted run's restore from its journal",
        "Put every image a run changed back as it was, from the run's journal.jsonl. Safe to run twice. Created "
        "images are deleted and expunged; given images get their original state back.",
        "examples:\n  zscheck restore reports/load-20261128T120000Z/journal.jsonl\n"
        "  ZSCHECK_PASSWORD=... zscheck restore reports/latest/contract/journal.jsonl --target http://10.0.0.5:8080"
        "\n\nexit codes: 0 everything restored (or nothing to do), 2 something could not be restored.",
    )
    p.add_argument("journal", metavar="JOURNAL", help="the run's journal.jsonl")
    options.add_groups(p, "restore")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.journal)
    target = options.target_options(lambda dest: getattr(args, dest), "restore")
    if not journal_of(path, target).pending():
        print(f"zscheck restore: nothing to do, every image in {path} is already restored")
        return EXIT_OK
    report = restore_journal(path, target)
    for uuid in report.restored:
        print(f"restored {uuid}")
    for uuid, why in report.failed.items():
        print(f"FAILED {uuid}: {why}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_CANNOT_RUN
