"""`index.html`: one self-contained page for a `zscheck run` directory, rendered from the phases' JSON.

No scripts, no CDN, no fonts: inline CSS and SVG charts drawn here, so the page opens from disk anywhere,
in a CI artifact viewer too. Everything shown comes from the files next to it (summary.json of each
phase, drift.json), read through their typed models (`zscheck.report.documents`), and every value is
escaped. A file that is there but is not its document is said so on the page, naming the field.
"""

from __future__ import annotations

import math
import re
import time
from html import escape
from pathlib import Path
from typing import Any, TypeVar

from zscheck.report._codec import DocumentError
from zscheck.report.documents import (
    ComparisonReport,
    ContractSummary,
    Document,
    DriftReport,
    HistoryOperation,
    LoadSummary,
    Phase,
    RunSummary,
)
from zscheck.report.since import since_baseline

D = TypeVar("D", bound=Document)
# Checks a failure can name that the oracle's CHECKS does not list: the harness and the suites add them.
OTHER_CHECKS = {
    "openapi": "the answer keeps the published OpenAPI contract (schemathesis' response checks)",
    "assertion": "a suite's own expectation about the target (its message says which)",
}

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#a16207", "#be185d")
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#111;background:#f7f7f8}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.banner{padding:16px 24px;color:#fff;font-size:20px;font-weight:600}
.pass{background:#15803d}.fail{background:#b91c1c}.cannot{background:#a16207}
table{border-collapse:collapse;margin:6px 0;background:#fff}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f0f0f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}pre{background:#fff;border:1px solid #ddd;
padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.ok{color:#15803d;font-weight:600}.bad{color:#b91c1c;font-weight:600}.muted{color:#666}
.meta td:first-child{color:#555}svg{background:#fff;border:1px solid #ddd;margin:4px 0}
details{margin:6px 0}summary{cursor:pointer}nav a{margin-right:12px}
"""


def write_index(
    directory: Path, *, error_table: list[dict[str, Any]] | None = None, checks: dict[str, str] | None = None
) -> Path:
    """Render `directory`'s index.html. `checks` (name -> what it catches) and the error-code table come from
    the oracle, passed in so that the report layer imports nothing but the standard library."""
    page = render(directory, error_table or [], checks or {})
    path = directory / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def read(directory: Path, relative: str, model: type[D]) -> tuple[D | None, str | None]:
    """`directory/relative` as `model`: (the document, None), (None, None) if the file is not there (the
    phase did not run), or (None, why) if it is there but is not that document."""
    path = directory / relative
    if not path.exists():
        return None, None
    try:
        return model.read(path), None
    except (OSError, DocumentError) as exc:
        return None, f"could not read {relative}: {str(exc).removeprefix(str(path) + ': ')}"


def render(directory: Path, error_table: list[dict[str, Any]], checks: dict[str, str]) -> str:
    run, run_problem = read(directory, "summary.json", RunSummary)
    contract, contract_problem = read(directory, "contract/summary.json", ContractSummary)
    load, load_problem = read(directory, "load/summary.json", LoadSummary)
    drift, drift_problem = read(directory, "drift/drift.json", DriftReport)
    comparison, comparison_problem = read(directory, "comparison.json", ComparisonReport)
    verdict = run.verdict if run else "UNKNOWN"
    css = {"PASS": "pass", "VIOLATIONS": "fail"}.get(verdict, "cannot")
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>zscheck {escape(verdict)} - {escape(run.target if run else '')}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<div class='banner {css}' id=verdict>zscheck: {escape(verdict)} "
        f"<span style='font-weight:400'>(exit {run.exit_code if run else '?'}) {_against(run, contract)}</span>"
        "</div><main>",
        "<nav><a href='#conformance'>Conformance</a><a href='#load'>Load</a><a href='#drift'>Drift</a>"
        + ("<a href='#baseline'>Since the baseline</a>" if comparison or comparison_problem else "")
        + "<a href='#files'>Files</a></nav>",
        _meta(run, run_problem),
        _conformance(contract, error_table, checks, contract_problem, directory),
        _load_section(load, load_problem),
        _drift(drift, drift_problem),
        since_baseline(comparison, comparison_problem),
        _files(directory),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _against(run: RunSummary | None, contract: ContractSummary | None) -> str:
    """What the verdict is about, in the banner: a verdict on the embedded reference server is not one on a
    ZStack, and says so (with the faults it was started with)."""
    if run is None:
        return ""
    if run.target.startswith("embedded"):
        faults = contract.faults if contract is not None else []
        with_faults = f" with faults {', '.join(faults)}" if faults else ""
        return (
            f"against the <b>embedded reference server</b>{escape(with_faults)}, not a ZStack: "
            "give --target URL to judge a real node"
        )
    return f"against {escape(run.target)}"


def _text(value: str) -> str:
    """Prose from the oracle or a document, escaped, its `backticked` names set as code (not shown literally)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(value))


def _problem(text: str | None) -> str:
    return f"<p class=bad>{escape(text)}</p>" if text else ""


def _meta(run: RunSummary | None, problem: str | None) -> str:
    head = "<h1>ChangeImageState contract and load report</h1>" + _problem(problem)
    if run is None:
        return head
    rows = [
        ("target", run.target),
        ("dialect", run.dialect),
        ("harness version", run.harness_version),
        ("seed", run.seed),
        ("started (UTC)", _utc(run.started)),
        ("duration", f"{run.duration_s} s"),
        ("load gates", ", ".join(run.gates) or "none"),
    ]
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in rows)
    phases = "".join(
        f"<tr><td>{escape(p.name)}</td><td>{_word(p)}</td><td class=num>{p.seconds:.0f} s</td>"
        f"<td>{escape(p.error or '')}</td></tr>"
        for p in run.phases
    )
    return (
        f"{head}<table class=meta>{body}</table>"
        f"<table><tr><th>phase</th><th>verdict</th><th>time</th><th>note</th></tr>{phases}</table>"
    )


def _word(phase: Phase) -> str:
    code = phase.exit_code
    if phase.name == "drift":
        text = {0: "no drift", 1: "drift found (informational)", 2: "could not run"}.get(code, "?")
        return f"<span class={'bad' if code == 2 else 'ok'}>{text}</span>"
    text = {0: "pass", 1: "violations", 2: "could not run"}.get(code, "?")
    return f"<span class={'ok' if code == 0 else 'bad'}>{text}</span>"


def _utc(value: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))


# ---------------------------------------------------------------------------------- conformance


def _conformance(
    contract: ContractSummary | None,
    error_table: list[dict[str, Any]],
    checks: dict[str, str],
    problem: str | None,
    directory: Path = Path("."),
) -> str:
    out = ["<h2 id=conformance>Conformance</h2>"]
    if contract is None:
        out.append(_problem(problem) or "<p class=muted>No conformance results: the phase did not run.</p>")
        return "".join(out)
    tests = ", ".join(f"{n} {k}" for k, n in contract.tests.items())
    out.append(
        f"<p>Verdict: <b>{escape(contract.verdict)}</b>: {contract.cases} cases, "
        f"{contract.requests} requests; tests {escape(tests)}. "
        f"Replay: <code>{escape(contract.replay)}</code></p>"
    )
    for text in contract.harness_errors + contract.restore_problems:
        out.append(f"<p class=bad>{escape(text)}</p>")
    out.append(_checks_table(contract, checks))
    out.append(
        f"<h3 id=findings>Findings ({len(contract.findings)}, from {len(contract.failures)} failures)</h3>"
        "<p class=muted>One per root cause: failures with the same check, rule, operation and expected/actual "
        "(uuids, times and ports aside) are one finding.</p>"
    )
    for i, f in enumerate(contract.findings, 1):
        first = f.first
        status = f" ({escape(f.status)}{': ' + escape(f.reason) if f.reason else ''})" if f.status != "new" else ""
        out.append(
            f"<details {'open' if i <= 3 else ''} class=finding id='finding-{escape(f.id)}'><summary>"
            f"<b>{escape(f.check)}</b>: {_text(f.message)} <span class=muted>[{escape(f.id)}] "
            f"{f.count}x in {len(f.tests)} test(s){status}</span></summary><table>"
            f"<tr><td>tests</td><td>{'<br>'.join(f'<code>{escape(t)}</code>' for t in f.tests)}</td></tr>"
            f"<tr><td>operation</td><td><code>{escape(f.operation)}</code> rule {escape(f.rule)}</td></tr>"
            f"<tr><td>expected</td><td><code>{escape(f.expected)}</code></td></tr>"
            f"<tr><td>actual</td><td><code>{escape(f.actual)}</code></td></tr>"
            f"<tr><td>replay</td><td><code>zscheck replay {escape(str(directory))} {escape(f.id)}</code>"
            "</td></tr></table>"
            + (f"<pre class=reproducer>{escape(first.reproducer)}</pre>" if first.reproducer else "")
            + (f"<pre>{escape(first.steps)}</pre>" if first.steps else "")
            + "</details>"
        )
    if error_table:
        rows = "".join(
            f"<tr><td>{i}</td><td><code>{escape(r['rule'])}</code></td><td>{_text(r['description'])}</td>"
            f"<td><code>{escape(_when(r['when']))}</code></td>"
            f"<td><code>{escape(r['answers'].get('rest', ''))}</code></td>"
            f"<td><code>{escape(r['answers'].get('documented', ''))}</code></td></tr>"
            for i, r in enumerate(error_table, 1)
        )
        out.append(
            "<h3>Error-code table</h3><p class=muted>First matching rule wins, in ZStack's order of checks.</p>"
            "<table id=error-table><tr><th>#</th><th>rule</th><th>input class</th><th>when</th><th>rest</th>"
            f"<th>documented</th></tr>{rows}</table>"
        )
    return "".join(out)


def _checks_table(contract: ContractSummary, checks: dict[str, str]) -> str:
    """Every check the oracle lists and every check a failure names (`openapi`, `assertion` and any other),
    with its failures and the tests they came from. The run counts cases judged in all, not per check,
    and a failing test stops at its first (shrunk) failure, so a per-check pass count cannot be known:
    the table says what is known instead of computing one."""
    failures: dict[str, int] = {}
    tests: dict[str, set[str]] = {}
    for f in contract.failures:
        failures[f.check] = failures.get(f.check, 0) + 1
        tests.setdefault(f.check, set()).add(f.test)
    for name, n in contract.failures_by_check.items():  # the summary's own count (a failure list may be cut)
        failures[name] = max(failures.get(name, 0), n)
    names = list(checks) + [n for n in failures if n not in checks]

    def row(name: str) -> str:
        what = checks.get(name) or OTHER_CHECKS.get(name, "not in the oracle's list of checks")
        n = failures.get(name, 0)
        why = _not_exercised(name, contract)
        if n:
            result = f"<td class=bad>{n} failure{'s' if n != 1 else ''}</td>"
        elif why:
            result = f"<td class='muted not-exercised'>not exercised: {escape(why)}</td>"
        else:
            result = "<td class=ok>no failure</td>"
        return (
            f"<tr id='check-{escape(name)}'><td><code>{escape(name)}</code></td><td>{_text(what)}</td>{result}"
            f"<td class='num {'bad' if n else ''}'>{n}</td><td class=num>{len(tests.get(name, ()))}</td></tr>"
        )

    return (
        "<h3>Checks</h3><p class=muted>"
        f"{contract.cases} cases were judged in all, each by the checks that apply to it; the run does not count "
        "cases per check, so no per-check pass count is shown. A check with no failure held in every case that "
        "exercised it; failing tests: the distinct tests whose failures name the check.</p>"
        "<table id=checks><tr><th>check</th><th>what it catches</th><th>result</th><th>failures</th>"
        f"<th>failing tests</th></tr>{''.join(row(n) for n in names)}</table>"
    )


# Checks a conformance run never applies, or applies only to some requests: what must have happened for
# "no failure" to mean anything.
LOAD_ONLY_CHECKS = {"linearizable": "a load-run check (the Load section judges it)"}


def _not_exercised(name: str, contract: ContractSummary) -> str:
    """Why `name` was not applied in this conformance run ("" when it was)."""
    if name in LOAD_ONLY_CHECKS:
        return LOAD_ONLY_CHECKS[name]
    if contract.cases == 0:
        return "no case was judged"
    if name == "job_protocol" and not any(n for rule, n in contract.coverage.items() if rule.startswith("job-")):
        return "no protocol request (job uuid, poll, method) was sent"
    return ""


def _when(when: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}={'|'.join(v)}" for k, v in when.items()) or "anything else"


# ----------------------------------------------------------------------------------------- load


def _load_section(load: LoadSummary | None, problem: str | None) -> str:
    out = ["<h2 id=load>Load</h2>"]
    if problem:
        return "".join([*out, _problem(problem)])
    if load is None or load.result is None:
        error = (load.error if load else None) or "the phase did not run"
        out.append(f"<p class=muted>No load results: {escape(error)}</p>")
        return "".join(out)
    result = load.result
    out.append(
        f"<p>Verdict: <b>{escape(load.verdict)}</b>: scenario <code>{escape(load.scenario)}"
        f"</code>, {load.users} users"
        + (f" at {load.rate:g}/s (open model)" if load.rate else "")
        + f", {result.duration:.1f} s, throughput {result.throughput:.1f} operations/s.</p>"
    )
    timeline = result.timeline
    out.append("<h3>Throughput and latency over time</h3>")
    out.append(_line_chart({"operations/s": [(r.t, r.ops) for r in timeline]}, "operations per second", "t (s)"))
    out.append(
        _line_chart(
            {"p50": [(r.t, r.p50 * 1000) for r in timeline], "p99": [(r.t, r.p99 * 1000) for r in timeline]},
            "latency (ms), all operations",
            "t (s)",
        )
    )
    ops = result.operations
    names: list[str] = [n for n in ("put", "job", "e2e", "query", "invalid", "all") if n in ops]
    names += sorted(n for n in ops if n not in names)
    rows = "".join(
        f"<tr><td><code>{escape(n)}</code></td><td class=num>{int(ops[n].count)}</td>"
        f"<td class=num>{ops[n].rps:.1f}</td>"
        + "".join(
            f"<td class=num>{v * 1000:.2f}</td>" for v in (ops[n].p50, ops[n].p90, ops[n].p99, ops[n].p99_9, ops[n].max)
        )
        + f"<td class=num>{ops[n].error_rate * 100:.2f}%"
        + (f" (+{int(ops[n].known_failures)} known)" if ops[n].known_failures else "")
        + "</td></tr>"
        for n in names
    )
    out.append(
        "<h3>Latency percentiles per operation (ms)</h3><p class=muted>put: the request; job: 202 until the "
        "job's final answer; e2e: the state change end to end. From HdrHistograms holding every sample.</p>"
        "<table id=percentiles><tr><th>operation</th><th>count</th><th>per s</th><th>p50</th><th>p90</th>"
        f"<th>p99</th><th>p99.9</th><th>max</th><th>errors</th></tr>{rows}</table>"
    )
    dist = result.distribution
    series = {n: [(_tail_x(p), v * 1000) for p, v in dist[n]] for n in ("put", "job", "e2e") if dist.get(n)}
    if series:
        out.append("<h3>Latency distribution</h3>")
        out.append(
            _line_chart(
                series, "latency (ms) by percentile", "percentile (log scale of 1/(1-p))", x_ticks=_PERCENTILE_TICKS
            )
        )
    if result.gates:
        rows = "".join(
            f"<tr><td><code>{escape(g.gate)}</code></td><td>{escape(g.shown)}</td>"
            f"<td class={'ok' if g.passed else 'bad'}>{'met' if g.passed else 'BREACHED'}</td></tr>"
            for g in result.gates
        )
        out.append(f"<h3>SLO gates</h3><table id=gates><tr><th>gate</th><th>measured</th><th></th></tr>{rows}</table>")
    if result.arrival:
        a = result.arrival
        out.append(f"<p>Arrival-rate mode: {a.late} of {a.scheduled} operations started late (over 10 ms).</p>")
    codes_over_time: dict[str, list[tuple[float, float]]] = {"failed checks": [(r.t, r.failures) for r in timeline]}
    codes_over_time |= {code: [(r.t, r.codes.get(code, 0)) for r in timeline] for code in result.error_codes}
    out.append("<h3>Error codes over time</h3>")
    if not result.error_codes:
        out.append("<p class=muted>No ErrorCode came back during the run.</p>")
    out.append(_line_chart(codes_over_time, "error codes and failed checks per second", "t (s)"))
    failures = result.failures
    out.append(f"<h3>Failures under load ({sum(f.count for f in failures)})</h3>")
    # each failure group is one finding (zscheck.report.load_findings): its id, and its --baseline status
    found = {(f.check, f.operation, f.code): f for f in load.findings}

    def finding(check: str, operation: str, code: str) -> str:
        f = found.get((check, operation, code))
        if f is None:
            return ""
        status = f" <span class={'ok' if f.status == 'known' else 'bad'}>{f.status}</span>" if load.baseline else ""
        return f"<code>{escape(f.id)}</code>{status}"

    if failures:
        rows = "".join(
            f"<tr><td>{finding(f.check, f.operation, f.code)}</td><td><code>{escape(f.check)}</code></td>"
            f"<td>{escape(f.operation)}</td><td>{escape(f.code)}</td><td class=num>{f.count}</td>"
            f"<td><pre>{escape(f.examples[0].get('message', '') if f.examples else '')}\n"
            f"{escape(f.examples[0].get('curl', '') if f.examples else '')}</pre></td></tr>"
            for f in failures
        )
        out.append(
            "<table id=load-findings><tr><th>finding</th><th>check</th><th>operation</th><th>code</th><th>count</th>"
            f"<th>example</th></tr>{rows}</table>"
        )
    if load.fixed:
        out.append(
            "<p>Fixed since the baseline: " + ", ".join(f"<code>{escape(i)}</code>" for i in load.fixed) + "</p>"
        )
    lin = result.linearizability
    out.append(
        f"<h3>Linearizability</h3><p id=linearizability class={'ok' if lin.ok else 'bad'}>"
        f"{'linearizable' if lin.ok else 'NOT linearizable'}: {lin.operations} operations on "
        f"{lin.images} images.</p>"
    )
    for violation in lin.violations:
        out.append(f"<pre>{escape(violation.text)}</pre>")
        out.append(_timeline(violation.window))
    return "".join(out)


# The distribution's x axis, labelled in percentiles where _tail_x puts them (not its 0-5 positions).
_PERCENTILE_TICKS: tuple[tuple[float, str], ...] = (
    (0.0, "p0"), (math.log10(2), "p50"), (1.0, "p90"), (2.0, "p99"), (3.0, "p99.9"), (4.0, "p99.99"), (5.0, "p99.999"),
)  # fmt: skip


def _tail_x(percentile: float) -> float:
    """Percentiles on a scale that opens up the tail: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return math.log10(1 / max(1 - percentile / 100, 1e-5))


# ---------------------------------------------------------------------------------------- drift


def _drift(drift: DriftReport | None, problem: str | None) -> str:
    out = ["<h2 id=drift>Drift from the published page</h2>"]
    if drift is None:
        out.append(_problem(problem) or "<p class=muted>No drift results: the phase did not run.</p>")
        return "".join(out)
    points = drift.drift
    if not points:
        out.append(f"<p class=ok>{escape(drift.target)} answers as the published page says.</p>")
        return "".join(out)
    rows = "".join(
        f"<tr><td>{escape(p.aspect)}</td><td>{_text(p.page)}</td><td>{_text(p.target)}</td>"
        f"<td><code>{escape(p.evidence)}</code>"
        + (f"<br>script: <a href='#repro-{escape(p.reproducer)}'>{escape(p.reproducer)}</a>" if p.reproducer else "")
        + "</td></tr>"
        for p in points
    )
    # Several points rest on one request: its reproducer is shown once, each point links to it.
    scripts = "".join(
        f"<h3>Reproducer: {escape(name)}</h3><pre class=reproducer id='repro-{escape(name)}'>{escape(text)}</pre>"
        for name, text in drift.reproducers.items()
        if any(p.reproducer == name for p in points)
    )
    out.append(
        f"<p>{escape(drift.target)} departs from the published page in {len(points)} points "
        "(informational: the REST server is what ZStack's own clients speak).</p>"
        f"<table id=drift-table><tr><th>aspect</th><th>the page says</th><th>the target does</th>"
        f"<th>evidence</th></tr>{rows}</table>{scripts}"
    )
    return "".join(out)


def _files(directory: Path) -> str:
    candidates = [
        ("contract/junit.xml", "JUnit XML (conformance)"),
        ("contract/failures.md", "failures with reproducers"),
        ("contract/summary.json", "conformance summary"),
        ("contract/schemathesis", "schemathesis' own report"),
        ("load/locust.html", "locust's own report"),
        ("load/locust_stats.csv", "locust's statistics (CSV)"),
        ("load/summary.json", "load summary"),
        ("drift/drift.json", "drift (JSON)"),
        ("summary.json", "this run's summary"),
        ("comparison.json", f"this run against its baseline ({ComparisonReport.schema_tag()})"),
    ]
    items = "".join(
        f"<li><a href='{escape(rel)}'>{escape(rel)}</a>: {escape(what)}</li>"
        for rel, what in candidates
        if (directory / rel).exists()
    )
    return f"<h2 id=files>Files</h2><ul>{items}</ul>"


# ---------------------------------------------------------------------------------------- charts


def _nice_top(value: float) -> float:
    """The top of a y axis: the least 1, 2, 4 or 8 times a power of ten at or above `value`, so that its
    quarters are round numbers; 1 for an all-zero chart (not 1.1e-09)."""
    if value <= 0:
        return 1.0
    power: float = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 4.0, 8.0, 10.0) if m * power >= value * (1 - 1e-9))


def _line_chart(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    x_label: str,
    *,
    x_ticks: tuple[tuple[float, str], ...] | None = None,
) -> str:
    """An inline SVG line chart: axes with a few ticks (round numbers, or the `x_ticks` given: position and
    label), one polyline per series, a legend."""
    width, height, left, right, top, bottom = 760, 220, 56, 130, 24, 34
    points = [p for values in series.values() for p in values]
    if not points:
        return f"<p class=muted>{escape(title)}: no data.</p>"
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y1 = _nice_top(max(p[1] for p in points))
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - y / y1 * (height - top - bottom)

    parts = [
        f"<svg class=chart role=img aria-label='{escape(title)}' width={width} height={height} "
        f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>",
        f"<text x={left} y=16 font-size=13 font-weight=600>{escape(title)}</text>",
        f"<line x1={left} y1={height - bottom} x2={width - right} y2={height - bottom} stroke='#999'/>",
        f"<line x1={left} y1={top} x2={left} y2={height - bottom} stroke='#999'/>",
        f"<text x={(left + width - right) / 2} y={height - 4} font-size=11 text-anchor=middle>{escape(x_label)}</text>",
    ]
    for i in range(5):
        y = y1 * i / 4
        parts.append(
            f"<text class=ytick x={left - 6} y={sy(y) + 4:.1f} font-size=10 text-anchor=end>{_fmt(y)}</text>"
            f"<line x1={left} y1={sy(y):.1f} x2={width - right} y2={sy(y):.1f} stroke='#eee'/>"
        )
        if x_ticks is None:
            x = x0 + (x1 - x0) * i / 4
            parts.append(
                f"<text class=xtick x={sx(x):.1f} y={height - bottom + 14} font-size=10 text-anchor=middle>"
                f"{_fmt(x)}</text>"
            )
    for x, label in x_ticks or ():
        if x0 - 1e-9 <= x <= x1 + 1e-9:
            parts.append(
                f"<text class=xtick x={sx(x):.1f} y={height - bottom + 14} font-size=10 text-anchor=middle>"
                f"{escape(label)}</text>"
            )
    for n, (name, values) in enumerate(series.items()):
        color = COLORS[n % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f"<polyline class=series fill=none stroke='{color}' stroke-width=1.8 points='{coords}'/>")
        if len(values) == 1:
            x, y = values[0]
            parts.append(f"<circle cx={sx(x):.1f} cy={sy(y):.1f} r=3 fill='{color}'/>")
        ly = top + 14 * n + 8
        parts.append(
            f"<rect x={width - right + 10} y={ly - 8} width=10 height=10 fill='{color}'/>"
            f"<text x={width - right + 24} y={ly + 1} font-size=11>{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _timeline(window: list[HistoryOperation]) -> str:
    """A violating window of one image's history: one bar per operation from send to answer."""
    if not window:
        return ""
    t0 = min(op.invoke for op in window)
    ends = [op.complete if op.complete is not None else op.invoke for op in window]
    t1 = max(max(ends), max(op.invoke for op in window)) + 1e-4
    width, row, left = 760, 22, 150
    height = row * len(window) + 40
    scale = (width - left - 20) / (t1 - t0)
    parts = [
        f"<svg class=violation width={width} height={height} viewBox='0 0 {width} {height}' "
        "xmlns='http://www.w3.org/2000/svg' role=img aria-label='violating window'>",
        f"<text x=8 y=16 font-size=12 font-weight=600>window of {len(window)} operations "
        f"({(t1 - t0) * 1000:.1f} ms); open bars: indeterminate</text>",
    ]
    for i, op in enumerate(sorted(window, key=lambda o: o.invoke)):
        y = 28 + i * row
        x = left + (op.invoke - t0) * scale
        end = op.complete if op.complete is not None else t1
        w = max((end - op.invoke) * scale, 2)
        color = "#2563eb" if op.kind == "write" else "#16a34a"
        fill = color if op.complete is not None else "none"
        parts.append(
            f"<text x=8 y={y + 13} font-size=11>{escape(op.client)} {escape(op.kind)} "
            f"{escape(op.value)}</text>"
            f"<rect x={x:.1f} y={y} width={w:.1f} height={row - 6} fill='{fill}' stroke='{color}'/>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"
