"""`zscheck run`: conformance, a short load run and drift, with one HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zscheck.cli.common import Subparsers, add_command, execute, last_resort
from zscheck.cli.compare import parse_margin
from zscheck.cli.runs import store_spec
from zscheck.cli.values import run_all
from zscheck.errors import ConfigError
from zscheck.history.record import THIS_RUN, RecordError, RunRecord, from_directory
from zscheck.history.store import OFF, Query, open_store
from zscheck.run import run_all as run_everything
from zscheck.verdict import Verdict

_RUN_EPILOG = """\
examples:
  zscheck run                                          # everything against the embedded reference server
  ZSCHECK_PASSWORD=... zscheck run --target http://10.0.0.5:8080 --image UUID
  zscheck run --seed 42 --quiet                        # a nightly CI job: replayable, terse
  zscheck --profile release run                        # [profiles.release] from zscheck.toml

phases: contract (the nightly profile: 100 examples per property), load (toggle, 10 users, 20 s, gates
error_rate<1% and e2e:p99<1s unless --slo is given), drift (informational: never a violation).
since the baseline (--compare-to last-pass|RUN_ID, with a store): after the phases, the run is compared
with the newest passing run of the same target and scenario (or the run named), as `zscheck compare`
would: comparison.json (zscheck/compare/2) and a "Since the baseline" section in index.html; with
--max-regression, a metric significantly worse by more than it fails the run (exit 1). No passing run
stored yet: said, and this run is not compared.
  zscheck run --compare-to last-pass --max-regression 10%

exit codes: 0 every phase passed, 1 violations found in any phase (or worse than the baseline beyond
--max-regression), 2 a phase could not run.
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
    margin = parse_margin(args.max_regression)
    which = args.compare_to
    if which is None and margin is not None:
        raise ConfigError("--max-regression in zscheck run needs --compare-to last-pass (or a run id) to compare with")
    spec = store_spec(args)
    if which is not None and spec == OFF:
        raise ConfigError(f"--compare-to {which}: the baseline is a stored run; --store off has none")
    if which not in (None, "last-pass"):
        with open_store(spec) as store:
            store.get(which)  # an unknown id is said now, not after the phases

    def compare(directory: Path) -> Verdict | None:
        return since_baseline(directory, str(which), spec, margin=margin, alpha=float(args.alpha))

    return execute(
        args,
        plan.target,
        lambda control, emit, _: (
            run_everything(
                plan, control=control, emit=emit, last_resort=last_resort, compare=compare if which else None
            ).verdict
        ),
    )


def baseline(store_records: list[RunRecord], candidate: RunRecord) -> RunRecord | None:
    """`last-pass`: the newest passing `zscheck run` of the candidate's target and of its load (scenario,
    users, duration and every option that changes the numbers: zscheck.history.shape), A/A runs left out:
    after a change of the nightly's options, the run before it measured another load, no baseline."""
    from zscheck.history.shape import shape_of

    shape = shape_of(candidate)
    for record in store_records:
        same = record.command == candidate.command and record.scenario == candidate.scenario and not record.is_aa
        if same and not shape.conflicts(shape_of(record)):
            return record
    return None


def since_baseline(directory: Path, which: str, spec: str, *, margin: float | None, alpha: float) -> Verdict | None:
    """The run in `directory` against its baseline: comparison.json written; its verdict as `zscheck compare`
    would exit (VIOLATIONS: its gate failed; COULD NOT RUN: a load generator that was the limit measured what
    it would judge), None when there was nothing to compare with."""
    from zscheck.history.compare import Side, run_compare  # numpy and scipy: only when comparing
    from zscheck.history.noise import stored_noise

    try:
        candidate = from_directory(directory, command="run", target_version=None)
    except RecordError as exc:
        print(f"zscheck run: not compared with the baseline: {exc}", file=sys.stderr)
        return None
    with open_store(spec) as store:
        if which == "last-pass":
            base = baseline(store.query(Query(target=candidate.target, verdict="PASS")), candidate)
            if base is None:
                print(
                    f"zscheck run: --compare-to last-pass: no passing run of {candidate.target} "
                    f"({candidate.scenario or 'no load'}) with this run's load options in {store.where} yet: "
                    "nothing to compare with",
                    file=sys.stderr,
                )
                return None
        else:
            base = store.get(which)
        stored = stored_noise(store, base.target, base.scenario)
    result = run_compare(
        Side(f"{which} ({base.id})", (base,)),
        Side(f"{THIS_RUN} ({directory})", (candidate,)),
        alpha=alpha,
        margin=margin,
        noise=stored.noise,
        noise_source=stored.source,
        noise_hosts=stored.hosts,
    )
    result.document().write(directory / "comparison.json")
    failed, unjudged = result.failed(), result.no_verdict()
    worse = [f"{r.operation} {r.metric} {r.comparison.change:+.1%}" for r in result.rows if r.verdict == "worse"]
    print(
        f"zscheck run: since the baseline {base.id}: "
        + (
            "; ".join(failed)
            if failed
            else unjudged or "no new finding" + (", nothing worse beyond the margin" if margin else "")
        )
        + (f" (worse: {', '.join(worse)})" if worse else "")
        + (
            f"; {len(result.untested)} metric(s) not tested: one run a side, no A/A runs stored"
            if result.untested
            else ""
        ),
        file=sys.stderr,
    )
    return result.verdict()
