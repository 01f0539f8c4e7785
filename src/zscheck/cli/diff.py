"""`zscheck diff --baseline-target URL --candidate-target URL`: the same calls against two targets, compared."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from pathlib import Path

from zscheck import options
from zscheck.cli.common import Subparsers, add_command, execute
from zscheck.control import RunControl
from zscheck.differential import ROLE, DiffResult, run_diff
from zscheck.events import Emit
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict

_EPILOG = """\
Both targets get the same sequences (the fixed error-code probes and --sequences seeded ones), each on its
own fixture images, restored at the end. The fields that differ between any two runs (uuids, timestamps,
job locations) are learned by running the baseline twice, and masked; every other field of every answer
must agree. Uuids are compared by role, not value (two installations never share a backup storage's uuid):
<image> is the sequence's fixture image, <uuid@STEP:FIELD> the uuid first named there. Each difference
is shown with both exchanges, shrunk to the shortest sequence that shows it.
Both targets take the same account and password (--account, --password-env).

examples:
  ZSCHECK_PASSWORD=... zscheck diff --baseline-target http://10.0.0.5:8080 --candidate-target http://10.0.0.6:8080
  zscheck diff --candidate-fault disable-noop          # the reference server against itself with a fault

exit codes: 0 no difference, 1 differences found, 2 could not run.
"""


def register(sub: Subparsers) -> None:
    add_command(
        sub,
        "diff",
        "differential testing: the same calls against two targets, every answer compared field by field",
        "Run the same seeded sequences of ChangeImageState calls against a baseline and a candidate target, "
        "and report every answer field that differs, with the noise learned from the baseline against itself.",
        _EPILOG,
        run,
    )


def _target(args: argparse.Namespace, url: str, faults: tuple[str, ...]) -> TargetOptions:
    plain = options.target_options(lambda dest: getattr(args, dest), "diff")
    return dataclasses.replace(plain, url=None if url == "embedded" else url, faults=faults).validate()


def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    baseline = _target(args, args.baseline_target, ())
    candidate = _target(args, args.candidate_target, tuple(args.candidate_fault or ()))
    candidate.require_password()

    def differential(control: RunControl, emit: Emit, _: Path) -> Verdict:
        result = run_diff(baseline, candidate, seed=seed, count=args.sequences)
        for line in text(result, seed):
            print(line)
        if args.json:
            data = {"schema": "zscheck/diff/1", "seed": seed, **dataclasses.asdict(result)}
            Path(args.json).write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        return Verdict.VIOLATIONS if result.differences else Verdict.PASS

    # through execute(): a signal at any moment unwinds through each target's restore
    return execute(args, baseline, differential)


def text(result: DiffResult, seed: int) -> list[str]:
    lines = [
        f"zscheck diff: baseline {result.baseline} against candidate {result.candidate}, {result.sequences} "
        f"sequences, seed {seed}",
        "masked (differed between the baseline and itself; compared by form only): "
        + (", ".join(result.mask) or "nothing"),
        f"not compared (their form differed too): {', '.join(result.unmasked_never) or 'nothing'}",
    ]
    if any(ROLE.search(str(v)) for d in result.differences for v in (d.baseline, d.candidate)):
        lines.append(
            "uuids are shown by role: <image> is the sequence's fixture image, <uuid@STEP:FIELD> the uuid first "
            "named in that step's field (which uuid an installation chose is not compared)"
        )
    for n, d in enumerate(result.differences, 1):
        lines += [
            f"{n}. {d.path}: baseline {d.baseline!r}, candidate {d.candidate!r}",
            f"   sequence: {' -> '.join(s or '(empty)' for s in d.sequence)} (step {d.step + 1})",
            "   baseline:  " + d.baseline_exchange.replace("\n", "\n              "),
            "   candidate: " + d.candidate_exchange.replace("\n", "\n              "),
        ]
    word = Verdict.VIOLATIONS.word if result.differences else Verdict.PASS.word
    lines.append(f"zscheck: {word} (diff) - {len(result.differences)} difference(s), seed {seed}")
    return lines
