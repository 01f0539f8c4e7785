"""`zscheck noise`: the same target run in A/A pairs, stored labelled as such, and each metric's noise floor.

Two runs of one build differ: on a shared machine by more than the seconds of either run show. compare
needs that run-to-run noise to judge one run a side (and `--max-regression` must exceed it to mean
anything); this command measures it where the comparisons will run, and stores the pairs, which compare
then reads for the same target and scenario and trend leaves out of the nightly series.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from zscheck import __version__, rundir
from zscheck.cli.common import Subparsers, add_command, handlers
from zscheck.cli.runs import Recording, store_spec
from zscheck.cli.values import load_run
from zscheck.control import RunControl
from zscheck.errors import ZscheckError
from zscheck.events import VerdictReached
from zscheck.history.record import AA_PAIR, AA_SIDE, RunRecord, from_directory, new_run_id
from zscheck.history.store import OFF, open_store
from zscheck.load.runner import run_load
from zscheck.options import report_dir
from zscheck.report.documents import NoiseReport
from zscheck.verdict import Verdict

_EPILOG = """\
Runs `zscheck load` with the given options 2 x --pairs times against one target (every pair's first run,
then every pair's second: a pair spans the session), and stores
each run with the labels aa-pair (the pair) and aa-side (a or b). Then, per metric (the user-level
operations' p50, p99 and ops/s; each operation's p50 and p99; throughput), the change within each pair
and the noise floor: the smallest change one run a side can show at --alpha against this noise, which
--max-regression must exceed. With 1/alpha pairs stored (20 at 0.05; pairs add up over nights), compare
ranks one run a side among them, a test that holds whatever the noise's shape; with fewer it assumes
Gaussian noise, which outlier runs break.

examples:
  zscheck noise --pairs 20 --duration 10s                  # the embedded server, on this machine
  ZSCHECK_PASSWORD=... zscheck noise --target http://10.0.0.5:8080 --image UUID --pairs 3 --users 20
  zscheck compare RUN_BASE RUN_CANDIDATE --max-regression 10%    # now judged against the stored pairs

reports: noise.json (zscheck/noise/1) and pairN-a/, pairN-b/ (each a load run's reports) in --report-dir.
exit codes: 0 every run passed, 1 a run found violations (the noise is still measured), 2 fewer than two
pairs completed.
"""


def register(sub: Subparsers) -> None:
    add_command(
        sub,
        "noise",
        "run one target in A/A pairs and store them: the run-to-run noise compare judges one run a side by",
        "Measure the harness's run-to-run noise: the same load against the same target in back-to-back pairs, "
        "stored labelled as A/A runs, and each metric's noise floor (the margin --max-regression must exceed).",
        _EPILOG,
        run,
    )


def run(args: argparse.Namespace) -> int:
    from zscheck.history.noise import noise_metrics, noise_of, pairs_of  # numpy and scipy: only here

    get = lambda dest: getattr(args, dest)  # noqa: E731
    plan = load_run(get, "noise")
    plan.validate()
    plan.target.validate().require_password()
    directory = rundir.claim(report_dir(get, "noise"), given=bool(args.report_dir))
    spec = store_spec(args)
    session = new_run_id(time.time())
    started = time.time()
    records: list[RunRecord] = []
    verdicts: list[Verdict] = []
    error: str | None = None
    version = Recording(args, plan.target).target_version
    control = RunControl()
    with handlers(args) as emit, control.for_command():
        # Every pair's first run, then every pair's second (a1..aK, b1..bK): a pair spans K runs, as two
        # runs compared later are apart, not back to back. Pairs of neighbours missed what changes within
        # a session (bench/compare_noise.py: all p99 called a change in 20 of 100 A/A comparisons against
        # neighbour pairs while the machine's load rose, 5 of 100 against pairs spanning the session).
        for side in ("a", "b"):
            for k in range(1, args.pairs + 1):
                out = directory / f"pair{k}-{side}"
                verdict = run_load(replace(plan, report_dir=out), control=control, emit=emit)
                verdicts.append(verdict)
                if verdict is Verdict.COULD_NOT_RUN:
                    error = f"pair {k}, run {side} could not run: see {out / 'summary.json'}"
                    break
                labels = {AA_PAIR: f"{session}-{k}", AA_SIDE: side}
                records.append(from_directory(out, command="load", target_version=version(verdict), labels=labels))
            if error is not None:
                break
        pairs = pairs_of(records)
        metrics = noise_metrics(noise_of(pairs), args.alpha)
        if len(pairs) < 2:
            error = error or "fewer than two pairs completed"
        final = (
            Verdict.COULD_NOT_RUN
            if len(pairs) < 2
            else Verdict.combine([v for v in verdicts if v is not Verdict.COULD_NOT_RUN])
        )
        stored = _store(spec, records) if records else None
        first = records[0] if records else None
        report = NoiseReport(
            verdict=final.word,  # type: ignore[arg-type]
            exit_code=final.exit_code,
            target=first.target if first else (plan.target.url or "embedded reference server"),
            scenario=plan.scenario,
            harness_version=__version__,
            started=started,
            alpha=args.alpha,
            pairs=len(pairs),
            runs=[[a.id, b.id] for a, b in pairs],
            metrics=metrics,
            error=error,
        )
        path = report.write(directory / "noise.json")
        if args.json:
            Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        details = [f"{len(pairs)} A/A pair(s) of {report.target} ({plan.scenario}), alpha {args.alpha:g}"]
        details += [
            f"  {m.operation:<8} {m.metric:<10} noise floor {m.floor:6.1%}  (pair changes "
            + ", ".join(f"{c:+.1%}" for c in m.changes)
            + ")"
            for m in metrics
        ]
        enough = math.floor(1 / args.alpha) if args.alpha > 0 else 0
        if 2 <= len(pairs) < enough:
            details.append(
                f"{len(pairs)} pairs: compare's test against them assumes Gaussian noise; with {enough} pairs "
                "(stored over any number of runs of this command) one run a side is ranked among them instead"
            )
        if stored is not None:
            details.append(stored)
        if error is not None:
            details.append(error)
        emit(
            VerdictReached(
                "noise", final, report.target, plan.seed, tuple(details), str(path), error if len(pairs) < 2 else None
            )
        )
    return final.exit_code


def _store(spec: str, records: list[RunRecord]) -> str | None:
    """Store the runs (labelled); a line saying where, or None with --store off."""
    if spec == OFF:
        return "not stored (--store off): compare cannot use these pairs"
    try:
        with open_store(spec) as store:
            for record in records:
                store.add(record)
            return f"stored {len(records)} runs as A/A pairs in {store.where}"
    except ZscheckError as exc:
        print(f"zscheck noise: error: the runs were not stored: {exc}", file=sys.stderr)
        return None
