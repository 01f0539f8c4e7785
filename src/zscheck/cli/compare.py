"""`zscheck compare BASE CANDIDATE`: what a candidate build does differently from a base, with statistics."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from zscheck.cli.common import Subparsers, add_command, print_and_write
from zscheck.cli.runs import store_spec
from zscheck.errors import ConfigError
from zscheck.history.record import EMBEDDED_TARGET, RecordError, RunRecord, from_directory, series_target
from zscheck.history.store import Query, Store, open_store

if TYPE_CHECKING:  # numpy and scipy take seconds to import: only `zscheck compare` pays for them
    from zscheck.history.compare import Result, Row, Side
    from zscheck.history.noise import StoredNoise

_EPILOG = """\
BASE and CANDIDATE are each a run id from the store (a unique prefix is enough), a report directory a
command wrote, or with --last N a target (its URL, or `embedded`): that target's newest N load or run
results. The same target on both sides with --last N compares its newest N runs with the N before them.

examples:
  zscheck compare 20261201T0200 20261202T0200                 # last night against the night before
  zscheck compare reports/load-base reports/load-candidate --max-regression 5%
  zscheck compare --last 5 http://10.0.0.5:8080 http://10.0.0.6:8080 --html compare.html
  zscheck compare --last 5 embedded embedded --equivalence --max-regression 5%

per metric, one value per run (the seconds of one run are correlated: they are summarised, never pooled):
the user-level operations' p50, p99 and ops/s (the geometric mean of the run's seconds), each operation's
p50 and p99, and throughput. The test: a permutation test over the runs with 4 or more a side (--last 4);
with fewer, the stored A/A noise of the base's target and scenario (`zscheck noise`) as the null; with
neither, `~` and the reason. Shown: the geometric means with bootstrap intervals, the change and its
interval, p, and better / worse / ~ (no significant change at --alpha). Findings: new, fixed, persisting.
exit codes: 0 no new finding and no regression beyond --max-regression (with --equivalence: every metric
proven within it), 1 otherwise, 2 could not compare.
"""


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "compare",
        "compare two builds' runs: findings new, fixed and persisting; latency and throughput with statistics",
        "Compare stored runs (or report directories) of a base and a candidate: contract findings by their key, "
        "and each load metric with confidence intervals, a significance test and a verdict.",
        _EPILOG,
        run,
    )
    p.add_argument("base", metavar="BASE", help="a run id, a report directory, or with --last N a target")
    p.add_argument("candidate", metavar="CANDIDATE", help="the same, for the candidate")


def parse_margin(text: str | None) -> float | None:
    """`5%` or `0.05` as 0.05."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", text)
    value = None if match is None else float(match.group(1)) / (100 if match.group(2) else 1)
    if value is None or not 0 < value < 1:
        raise ConfigError(f"--max-regression {text!r}: write a share between 0 and 100%, e.g. 5% or 0.05")
    return value


def sides(base: str, candidate: str, last: int | None, store: Store | None) -> tuple[Side, Side]:
    """Each side's runs, as the user named them."""
    from zscheck.history.compare import Side

    if last is not None:
        if store is None:
            raise ConfigError("--last needs a store")
        b, c = _target(base), _target(candidate)
        newest = _with_load(store, c, 2 * last if b == c else last)
        cand = newest[:last]
        older = newest[last:] if b == c else _with_load(store, b, last)
        if not cand or not older:
            raise ConfigError(
                f"--last {last}: the store {store.where} has {len(cand)} run(s) of {candidate} and "
                f"{len(older)} of {base} with load results: record some with zscheck load or zscheck run"
            )
        return Side(f"{base} (newest {len(older)})" if b != c else f"{base} ({len(older)} before)", tuple(older)), Side(
            f"{candidate} (newest {len(cand)})", tuple(cand)
        )
    return _one(base, store), _one(candidate, store)


def _target(text: str) -> str:
    return EMBEDDED_TARGET if text == "embedded" else series_target(text)


def _with_load(store: Store, target: str, n: int) -> list[RunRecord]:
    """The newest n runs of `target` with load results, A/A runs (`zscheck noise`'s) left out."""
    runs = [r for r in store.query(Query(target=target)) if r.load_summaries() and not r.is_aa]
    return runs[:n]


def _one(spec: str, store: Store | None) -> Side:
    from zscheck.history.compare import Side

    path = Path(spec)
    if path.is_dir():
        try:
            summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else {}
            command = str(summary.get("command", "contract" if "cases" in summary else "run"))
            record = from_directory(path, command=command, target_version=None)
        except (RecordError, ValueError) as exc:
            raise ConfigError(f"{spec}: {exc}") from exc
        # The stored run of that directory when there is one: its id, its version and its host facts as
        # they were when it ran (the load average now is not the run's).
        stored = store.find(record.id) if store is not None else None
        return Side(spec, (stored or record,))
    if store is None:
        raise ConfigError(f"{spec}: not a report directory, and there is no store to look it up in")
    return Side(spec, (store.get(spec),))


def stored_noise_for(store: Store | None, base: Side) -> StoredNoise:
    """The stored A/A noise of the base's target and scenario (`zscheck noise`), if the store has any."""
    from zscheck.history.noise import StoredNoise, stored_noise

    if store is None or not base.records:
        return StoredNoise()
    first = base.records[0]
    return stored_noise(store, first.target, first.scenario)


def run(args: argparse.Namespace) -> int:
    from zscheck.history.compare import run_compare

    margin = parse_margin(args.max_regression)
    if args.equivalence and margin is None:
        raise ConfigError("--equivalence proves 'no regression larger than the margin': give --max-regression, e.g. 5%")
    spec = store_spec(args)
    needs_store = args.last is not None or not (Path(args.base).is_dir() and Path(args.candidate).is_dir())
    store = open_store(spec, existing=True) if needs_store and spec != "off" else None
    if store is None and spec != "off" and Path(spec).is_file():
        store = open_store(spec)  # two directories: the store only for the stored A/A noise
    try:
        base, candidate = sides(args.base, args.candidate, args.last, store)
        stored = stored_noise_for(store, base)
    finally:
        if store is not None:
            store.close()
    result = run_compare(
        base,
        candidate,
        alpha=args.alpha,
        margin=margin,
        equivalence_mode=args.equivalence,
        noise=stored.noise,
        noise_source=stored.source,
        noise_hosts=stored.hosts,
    )

    def page() -> str:
        from zscheck.history.charts import compare_page  # matplotlib: only when a page is asked for

        return compare_page(result)

    print_and_write(text(result), result.to_json(), args, page)
    return result.verdict().exit_code


def _value(value: float, unit: str) -> str:
    return f"{value * 1000:.3g} ms" if unit == "s" else f"{value:.4g} {unit}"


def _row(row: Row) -> str:
    c = row.comparison
    head = f"  {row.operation:<8} {row.metric:<10}"
    values = (
        f"{_value(c.base, row.unit):>10} [{_value(c.base_ci.low, row.unit)}, {_value(c.base_ci.high, row.unit)}]"
        f"  {_value(c.candidate, row.unit):>10}  {c.change:+7.1%}"
    )
    if c.p_value is None or c.change_ci is None:
        return f"{head} {values}  n={c.n_base}+{c.n_candidate}  ~ (not tested: {c.reason})"
    return (
        f"{head} {values} [{c.change_ci.low:+.1%}, {c.change_ci.high:+.1%}]  p={c.p_value:<8.2g} "
        f"n={c.n_base}+{c.n_candidate} {'perm' if c.test == 'permutation' else 'A/A'}  {c.verdict}"
        + (f"  (noise floor {row.noise_floor:.1%})" if row.noise_floor is not None else "")
    )


def text(result: Result) -> list[str]:
    lines = [
        f"zscheck compare: base {result.base.label} ({len(result.base.records)} run(s)) against candidate "
        f"{result.candidate.label} ({len(result.candidate.records)} run(s)), alpha {result.alpha:g}",
        f"findings: {len(result.findings.new)} new, {len(result.findings.fixed)} fixed, "
        f"{len(result.findings.persisting)} persisting",
    ]
    for state, found in (("new", result.findings.new), ("fixed", result.findings.fixed)):
        lines.extend(f"  {state:<6} {f.check} [{f.rule or '-'}] {f.operation}: {f.example[:100]}" for f in found)
    if result.rows:
        lines.append(
            f"load, one value per run (geometric mean [{1 - result.alpha:.0%} CI]; change [CI]; p; runs; test):"
        )
        if result.noise_source is not None:
            lines.append(f"  A/A noise: {result.noise_source}")
        for row in result.rows:
            lines.append(_row(row))
            if row.equivalence is not None:
                lines.append(f"           {row.equivalence.claim()}")
        lines.extend(f"note: {note}" for note in result.notes())
    else:
        lines.append(f"load: nothing to compare: {'; '.join(result.without_loads()) or 'no metric on both sides'}")
    lines.append(f"zscheck: {result.verdict().word} (compare) - {result.reason()}")
    return lines
