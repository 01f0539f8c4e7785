"""`zscheck trend`: change points in the stored nightly series of a target, the canary's changes set apart."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from zscheck.cli.common import Subparsers, add_command, print_and_write
from zscheck.cli.runs import store_spec
from zscheck.errors import ConfigError
from zscheck.history.record import EMBEDDED_TARGET, series_target
from zscheck.history.store import OFF, Query, open_store

if TYPE_CHECKING:  # Apache Otava imports numpy and scipy, seconds: only `zscheck trend` pays for them
    from zscheck.history.trend import Trend

RECENT = 10  # zscheck.history.trend.RECENT, for the help text (tests/history holds them equal)

_EPILOG = f"""\
SERIES is a target (its URL, or `embedded`); default: the target of the newest stored run. Its runs on
every host make the series; the embedded reference server's runs on the same host are the canary: a change
the canary shows within 12 hours is reported as the host's (the machine changed, not the target).

metrics: e2e, put, job and query p50 and p99, throughput, the capacity knee, the number of findings, and
the run time; each run contributes what it measured. A series holds runs of one shape only: the same
command, scenario, users, rate, duration, processes (what the record holds that changes the numbers);
another shape is another series, shown under its own heading.

examples:
  zscheck trend http://10.0.0.5:8080
  zscheck trend http://10.0.0.5:8080 --fail-on-change --html trend.html     # the nightly gate
  ZSCHECK_STORE=postgresql://ci@db/zscheck zscheck trend embedded

exit codes: 0 no change (PASS; without --fail-on-change always: changes are listed as not gated), 1 with
--fail-on-change: a change among the newest {RECENT} runs made a metric worse and the canary did not show it,
2 could not run (with --fail-on-change: also when none of the newest {RECENT} runs measured the target, each
one's load generator the limit or the run COULD NOT RUN).
"""


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "trend",
        "change points in the stored nightly series of each metric (Apache Otava)",
        "Find the runs where a metric changed for good (latency per operation, throughput, knee, findings, run "
        "time) in the stored runs of one target, with the magnitude and the runs on each side.",
        _EPILOG,
        run,
    )
    p.add_argument("series", metavar="SERIES", nargs="?", default=None, help="a target URL, or `embedded`")


def run(args: argparse.Namespace) -> int:
    from zscheck.history.trend import trend

    spec = store_spec(args)
    if spec == OFF:
        raise ConfigError("zscheck trend: --store off: there is no history to read; give --store PATH or URL")
    with open_store(spec, existing=True) as store:
        target = EMBEDDED_TARGET if args.series == "embedded" else args.series
        target = None if target is None else series_target(target)
        if target is None:
            newest = store.query(Query(limit=1))
            if not newest:
                raise ConfigError(f"zscheck trend: the store {store.where} has no runs yet")
            target = newest[0].target
        records = store.query(Query(target=target))
        if not records:
            raise ConfigError(f"zscheck trend: no runs of {target} in {store.where}: `zscheck runs` lists them")
        hosts = {r.host.get("name") for r in records}
        canary = [] if target == EMBEDDED_TARGET else [
            r for r in store.query(Query(target=EMBEDDED_TARGET)) if r.host.get("name") in hosts
        ]  # fmt: skip
    result = trend(records, canary, label=target, max_pvalue=args.max_pvalue, window=args.window)

    def page() -> str:
        from zscheck.history.charts import trend_page  # matplotlib: only when a page is asked for

        return trend_page(result, gated=gated)

    gated = bool(args.fail_on_change)
    print_and_write(text(result, gated=gated), result.document(gated=gated).to_json(), args, page)
    return result.verdict(gated=gated).exit_code


def text(result: Trend, *, gated: bool) -> list[str]:
    lines = [f"zscheck trend: {result.label}, {result.runs} run(s), Apache Otava at p < {result.max_pvalue:g}"]
    if result.generator_bound:
        lines.append(
            f"  left out of the latency and throughput series: {len(result.generator_bound)} run(s) whose load "
            f"generator was the limit (their self-check), so they measured the generator, not the target: "
            + ", ".join(result.generator_bound)
        )
    shape = None
    for s in result.series:
        if s.shape != shape:  # a series per shape: runs of another command or load are not comparable
            shape = s.shape
            runs = max(len(x.runs) for x in result.series if x.shape == shape)
            lines.append(f"  {shape.label}: {runs} run(s)")
        head = f"    {s.name:<11} {len(s.values):>3} runs"
        if not s.change_points:
            lines.append(f"{head}  no change point")
        for cp in s.change_points:
            whose = "host (the canary changed too)" if cp.host else ("worse" if cp.worse else "better")
            lines.append(
                f"{head}  {cp.shown} between run {cp.before} and {cp.run}: {cp.mean_before:.4g} -> "
                f"{cp.mean_after:.4g} (p={cp.pvalue:.2g}), {whose}"
            )
    ungated = result.ungated(gated=gated)
    if ungated:  # the verdict is PASS; the line says what the gate would have said
        lines.append(f"  {ungated}")
    why = "changes reported, not gated" if ungated else result.reason(gated=gated)
    lines.append(f"zscheck: {result.verdict(gated=gated).word} (trend) - {why}")
    return lines
