"""`zscheck replay REPORT_DIR [ID]`: does a finding of a past run still happen?

It reads the run's summary.json (a contract run's, or the contract phase of a `zscheck run`), and for
each finding asked for re-sends its failing request against a target: the one given, else the run's own
target, else (the run used the embedded server, gone with it) a new embedded server with the same
faults. The request goes out as the harness sends any request of its input class (`Harness.probe`): a
session of its own, a fresh X-Job-UUID (a reused one is `400 Duplicate job uuid`), the api-job followed to
its end, and judged by the same checks as in the run. The run's image is used when the target still has
it (restored after); when it is gone (a run deletes and expunges its fixture images) a fixture image is
created for the replay, and deleted after.

A finding whose failure recorded its raw exchange sequence (`Failure.raw`: the protocol suite's requests,
which the typed client does not build: a reused X-Job-UUID, another method, a poll of an unknown job, a
poll without X-JSON-Schema) is replayed by re-sending that sequence: our session in Authorization, the
run's image or a fixture one in the path, each 32-digit X-Job-UUID replaced by a fresh one, the same fresh
one wherever the original appeared (a reuse stays a reuse; a job's path follows its job), each job
followed as the run followed it; the last request is judged by the rule the run judged it by.

FIXED: the finding's check no longer fails; STILL FAILING: it does, with the new evidence. A finding made
while the run set up (a login answered with a session already given, a fixture call that broke the
protocol) is replayed by the replay's own setup, which makes the same calls: broken the same way, STILL
FAILING; gone through, FIXED. A finding with none of these (a suite's own assertion) cannot be replayed:
that is said, with the command that reruns the run.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck._models import ApiResult, Exchange, read_outcome
from zscheck._wire import JOB_PATH, REDACTED, WireRequest, is_job_pending, job_location, new_job_uuid, poll
from zscheck.checks import (
    ErrorTable,
    Facets,
    Probe,
    Violation,
    check_change,
    check_echo_matches_query,
    check_failed_request,
    check_job_result_kept,
    default_table,
    judge,
    judge_protocol,
)
from zscheck.checks.setup import judge_setup
from zscheck.checks.transitions import MIN_SEPARATION
from zscheck.conformance.harness import Harness, Sent
from zscheck.conformance.plan import ContractPlan
from zscheck.control import RunControl
from zscheck.errors import ConfigError, SetupFailed, ZscheckError
from zscheck.events import Emit, VerdictReached, discard
from zscheck.fixtures import SetupError
from zscheck.report.documents import ContractSummary, Finding, RawRequest
from zscheck.report.findings import operation, select
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict

FIXED, STILL_FAILING, NOT_REPLAYED = "FIXED", "STILL FAILING", "NOT REPLAYED"
# Rules that are no input class of the table: a finding under one is replayed from its raw sequence or not at all.
NOT_TYPED = frozenset({"setup", "job-result-kept"})
_JOB_ID = re.compile(r"^[0-9a-fA-F]{32}$")
# Checks that compare the image before and after the request: the replay queries it on both sides.
TRANSITION_CHECKS = frozenset(
    {"status_untouched", "no_other_field_changes", "last_op_date", "query_agrees", "failed_request_changes_nothing"}
)


@dataclass
class Replayed:
    """One finding replayed: the outcome word, the violations of its check seen now, what was sent."""

    finding: Finding
    outcome: str  # FIXED, STILL FAILING or NOT REPLAYED
    violations: list[Violation] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # the exchanges, one line each
    note: str = ""  # how the image was had, or why the finding could not be replayed

    def lines(self) -> list[str]:
        head = f"{self.outcome}: [{self.finding.id}] {self.finding.check}: {self.finding.message}"
        out = [head]
        if self.note:
            out.append(f"  {self.note}")
        for violation in self.violations:
            out.append(f"  now: {violation}")
        out += [f"  {line}" for line in self.evidence]
        return out


@dataclass
class ReplayRun:
    target: str
    replayed: list[Replayed]
    restore_problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """VIOLATIONS if any finding still fails; COULD NOT RUN if one could not be replayed (or the
        images not restored); PASS when every finding asked for is fixed."""
        outcomes = {r.outcome for r in self.replayed}
        if STILL_FAILING in outcomes:
            return Verdict.VIOLATIONS
        if NOT_REPLAYED in outcomes or self.restore_problems or not self.replayed:
            return Verdict.COULD_NOT_RUN
        return Verdict.PASS


def read_summary(report_dir: Path) -> ContractSummary:
    """The contract summary of `report_dir`: a `zscheck contract` report, or a `zscheck run` directory."""
    for candidate in (report_dir / "summary.json", report_dir / "contract" / "summary.json"):
        if candidate.exists():
            try:
                return ContractSummary.read(candidate)
            except ZscheckError:
                raise
            except ValueError as exc:
                if candidate.parent == report_dir and (report_dir / "contract" / "summary.json").exists():
                    continue  # a run's own summary.json: its contract phase is in contract/
                raise ConfigError(f"{candidate} is not a contract report zscheck can replay: {exc}") from None
    raise ConfigError(
        f"{report_dir}: no summary.json here (nor contract/summary.json); give the report directory a "
        "`zscheck contract` or `zscheck run` wrote"
    )


def target_of(summary: ContractSummary, given: TargetOptions) -> TargetOptions:
    """`given` when it names a target; else the run's own: its URL, or an embedded server with its faults."""
    if not given.embedded:
        return given
    if summary.target_url is not None:
        return dataclasses.replace(given, url=summary.target_url, dialect=summary.dialect, account=summary.account)
    return dataclasses.replace(
        given, dialect=summary.dialect, faults=tuple(summary.faults), timing=summary.timing, account=summary.account
    )


def replay(
    report_dir: Path,
    wanted: str | None = None,
    *,
    target: TargetOptions | None = None,
    control: RunControl | None = None,
    emit: Emit = discard,
) -> ReplayRun:
    """Replay finding `wanted` (its id, a prefix or its number) of the run in `report_dir`, or all of them."""
    summary = read_summary(report_dir)
    findings = summary.findings
    if wanted is not None:
        try:
            findings = [select(findings, wanted)]
        except KeyError as exc:
            raise ConfigError(f"zscheck replay {report_dir} {exc.args[0]}") from None
    if not findings:
        raise ConfigError(f"{report_dir}: the run has no findings to replay (its verdict: {summary.verdict})")
    options = target_of(summary, target or TargetOptions()).validate()
    table = default_table()
    replayable = [f for f in findings if replayable_as(f, table)]
    results: dict[str, Replayed] = {
        f.id: Replayed(
            f,
            NOT_REPLAYED,
            note=f"it came from {f.tests[0]}, neither one request of a known input class nor a recorded "
            f"exchange sequence: rerun the run with `{summary.replay}`",
        )
        for f in findings
        if f not in replayable
    }
    label = options.url if options.url is not None else "embedded reference server"
    problems: list[str] = []
    if replayable:
        label, problems, done = _replay_all(replayable, options, control or RunControl())
        results.update({r.finding.id: r for r in done})
    run = ReplayRun(label, [results[f.id] for f in findings], problems)
    details = [line for r in run.replayed for line in r.lines()]
    details += [f"RESTORE FAILED: {p}" for p in problems]
    emit(VerdictReached("replay", run.verdict, label, seed=summary.seed, details=tuple(details)))
    return run


def replayable_as(finding: Finding, table: ErrorTable) -> str:
    """How a finding replays: `raw` (its recorded exchange sequence, re-sent), `typed` (one request of its
    input class, built again), `setup` (the replay's own setup makes the run's setup calls again), or ""
    (it cannot: a suite's own assertion). A protocol finding is never
    `typed`: its class is the default one, and re-sending a correct request would always say FIXED."""
    first = finding.first
    if first.raw:
        return "raw"
    if _is_setup(finding):
        return "setup"
    if first.facets and first.event and first.rule not in table.protocol and first.rule not in NOT_TYPED:
        return "typed"
    return ""


def _is_setup(finding: Finding) -> bool:
    return finding.first.rule == "setup" and not finding.first.raw


def _replay_all(
    findings: list[Finding], options: TargetOptions, control: RunControl
) -> tuple[str, list[str], list[Replayed]]:
    """Start the target once (its own images adopted when it still has them), replay each finding."""
    originals = tuple(dict.fromkeys(f.first.image for f in findings if f.first.image))
    with tempfile.TemporaryDirectory(prefix="zscheck-replay-") as scratch:
        setup = [f for f in findings if _is_setup(f)]
        try:
            harness = _start(options, originals, Path(scratch), control)
        except SetupFailed as exc:
            # The replay's own setup makes the calls the run's made (login, the extra logins, a fixture
            # image): broken again the same way, a setup finding still fails; the others cannot run.
            violations = getattr(exc, "violations", None) or judge_setup(exc)
            if not setup or not violations:
                raise
            label = options.url or "embedded reference server"
            return label, [], [_setup_again(f, violations, str(exc)) for f in findings]
        try:
            label = options.label(harness.url)
            done = [
                _setup_kept(f) if f in setup else _replay_one(harness, f)  # setup went through: kept the contract
                for f in findings
            ]
        finally:
            problems = harness.stop()
    return label, problems, done


def _setup_again(finding: Finding, violations: list[Violation], reason: str) -> Replayed:
    if not _is_setup(finding):
        return Replayed(finding, NOT_REPLAYED, note=f"the replay could not set up: {reason}")
    same = [v for v in violations if v.check == finding.check]
    if same:
        return Replayed(finding, STILL_FAILING, same, note="the replay's own setup made the run's setup calls again")
    return Replayed(finding, NOT_REPLAYED, violations, note=f"the replay's setup broke another rule: {reason}")


def _setup_kept(finding: Finding) -> Replayed:
    return Replayed(
        finding,
        FIXED,
        note="the replay's own setup made the run's setup calls again (login, the extra logins, a fixture "
        "image) and the target kept the contract",
    )


def _start(options: TargetOptions, originals: tuple[str, ...], scratch: Path, control: RunControl) -> Harness:
    """The harness on the target: with the run's images if a real target still has them, else with a
    fixture image of its own (the embedded server is new: the run's images are never there)."""
    if not options.embedded and originals:
        adopting = dataclasses.replace(options, images=originals)
        harness = Harness(ContractPlan(scratch, target=adopting, create_images=0, workers=1), control=control)
        try:
            return harness.start()
        except (ConfigError, SetupError):  # one of them is gone: a fixture image of our own instead
            harness.stop()
    harness = Harness(ContractPlan(scratch, target=options, create_images=1, workers=1), control=control)
    try:
        harness.start()
    except BaseException:
        harness.stop()  # whatever it had made, undone
        raise
    return harness


def _image_for(harness: Harness, original: str) -> tuple[str, str]:
    if not original:  # the request named no image (a poll of a job): nothing to say about one
        return harness.admin_images[0], ""
    if original in harness.admin_images:
        return original, f"on the run's image {original} (restored after)"
    image = harness.admin_images[0]
    return image, f"the run's image {original or '(none)'} is gone: on a fixture image made for the replay ({image})"


def _replay_one(harness: Harness, finding: Finding) -> Replayed:
    if finding.first.raw:
        return _replay_raw(harness, finding)
    first = finding.first
    facets = Facets(**first.facets)
    event: Any = json.loads(first.event)
    image, note = _image_for(harness, first.image)
    transitions = finding.check in TRANSITION_CHECKS
    before = harness.query(image) if transitions else None
    if finding.check == "last_op_date":
        time.sleep(MIN_SEPARATION)  # a real change must be able to move a one-second lastOpDate
    started = time.monotonic()
    sent = harness.probe(facets, image, event)
    violations = list(sent.violations)
    if before is not None:
        after = harness.query(image)
        violations += list(_transitions(sent, before, after, time.monotonic() - started + MIN_SEPARATION))
    same = [v for v in violations if v.check == finding.check]
    evidence = list(_evidence(sent))
    return Replayed(finding, STILL_FAILING if same else FIXED, same or violations, evidence, note)


def _transitions(sent: Sent, before: dict[str, Any], after: dict[str, Any] | None, since: float) -> Iterator[Violation]:
    """The suites' before/after checks on the one request: a success must change only the state, a
    failure nothing at all."""
    target = sent.probe.target_state
    if sent.result.ok and after is not None and target is not None:
        yield from check_change(before, after, target, seconds_since_last_write=since, exchange=sent.result.final)
    elif not sent.result.ok:
        yield from check_failed_request(before, after, sent.result.final)


def _evidence(sent: Sent) -> Iterator[str]:
    for exchange in sent.result.exchanges:
        yield _line(exchange)


def _replay_raw(harness: Harness, finding: Finding) -> Replayed:
    """Re-send a finding's recorded exchange sequence: a session of our own, the run's image or a fixture
    one, each of the harness's 32-digit X-Job-UUIDs replaced by a fresh one (the same fresh one wherever
    the original appeared, so that a reuse is still a reuse), each job followed as it was; then judge
    the last request by the rule it broke."""
    first = finding.first
    image, note = _image_for(harness, first.image)
    _to_the_start(harness, image)
    session = harness.live_session(harness.main).uuid
    jobs: dict[str, str] = {}
    steps: list[list[Exchange]] = []
    before: dict[str, Any] | None = None
    started = time.monotonic()
    for n, raw in enumerate(first.raw):
        if n == len(first.raw) - 1 and finding.check in TRANSITION_CHECKS:
            before = harness.query(image)
            if finding.check == "last_op_date":
                time.sleep(MIN_SEPARATION)  # as for one request: a real change must be able to move it
            started = time.monotonic()
        request = _fresh(raw, first.image, image, session, jobs)
        exchanges = [harness.send_raw(request)]
        if raw.follow:
            exchanges += _follow(harness, exchanges[0], schema=raw.schema)
        steps.append(exchanges)
    violations = _judge_raw(harness, finding, image, steps, before, time.monotonic() - started + MIN_SEPARATION)
    same = [v for v in violations if v.check == finding.check]
    evidence = [_line(e) for exchanges in steps for e in exchanges]
    return Replayed(finding, STILL_FAILING if same else FIXED, same or violations, evidence, note)


def _to_the_start(harness: Harness, image: str) -> None:
    """The image as every recorded sequence began: Ready and Enabled (the state machine resets its images
    so, and a fixture image is made so). The run's own image may have been left otherwise; it is restored
    after the replay like any image the harness touches."""
    current = harness.query(image)
    if current is not None and current.get("status") == "Deleted":
        harness.main.recover_image(image)
    if current is not None and current.get("state") != "Enabled":
        harness.main.change_state(image, "enable")


def _judge_raw(
    harness: Harness,
    finding: Finding,
    image: str,
    steps: list[list[Exchange]],
    before: dict[str, Any] | None,
    since: float,
) -> list[Violation]:
    """The judged request's answer against the rule the run judged it by: a protocol entry, a job result
    polled twice, or the table's rule for its input class (a raw request of a known class, such as a poll
    without X-JSON-Schema)."""
    first, last = finding.first, steps[-1]
    if first.rule == "job-result-kept":
        if len(steps) < 2:
            return []
        return check_job_result_kept(steps[-2][-1], last[0])
    if first.rule in harness.table.protocol:
        violations = judge_protocol(harness.table.protocol_rule(first.rule), last[0])
        if before is not None:
            violations += check_failed_request(before, harness.query(image), last[0])
        return violations
    facets = Facets(**first.facets)
    event: Any = json.loads(first.event) if first.event else None
    job = last[0].request.headers.get("X-Job-UUID")
    probe = Probe(harness.dialect, image, event, harness.table.expect(facets, harness.dialect), job)
    result = ApiResult(read_outcome(last[-1]), last, last[-1].json)
    sent = Sent(probe, result, judge(probe, result), facets)
    violations = list(sent.violations)
    if before is not None:
        violations += list(_transitions(sent, before, harness.query(image), since))
    if finding.check == "echo_matches_query" and result.inventory is not None:  # a write's answer, queried after
        action = _action_of(last[0].request)
        violations += check_echo_matches_query(
            action, dict(result.inventory), harness.query(image), last[-1], documented=harness.dialect == "documented"
        )
    return violations


def _action_of(request: WireRequest) -> str:
    """An image action's name (the body's one key: `recoverImage`), else the request's operation."""
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        body = None
    if isinstance(body, dict) and len(body) == 1:
        return str(next(iter(body)))
    return operation(request.method, request.path)


def _fresh(raw: RawRequest, original: str, image: str, session: str, jobs: dict[str, str]) -> WireRequest:
    """The recorded request made sendable again: our session, our image, fresh job ids."""
    headers: dict[str, str] = {}
    for name, value in raw.headers.items():
        if name.lower() == "authorization" and value.endswith(REDACTED):
            headers[name] = f"{value.split(' ', 1)[0]} {session}" if " " in value else session
        elif name.lower() == "x-job-uuid" and _JOB_ID.match(value):
            headers[name] = jobs.setdefault(value, new_job_uuid())
        else:
            headers[name] = value
    path = raw.path.replace(original, image) if original else raw.path
    if path.startswith(JOB_PATH):  # a job's path: the fresh id of a job we sent, or a fresh unknown one
        job, sep, query = path[len(JOB_PATH) :].partition("?")
        if _JOB_ID.match(job):
            path = f"{JOB_PATH}{jobs.setdefault(job, new_job_uuid())}{sep}{query}"
    body = raw.body.replace(original, image) if raw.body is not None and original else raw.body
    return WireRequest(raw.method, path, headers, None if body is None else body.encode("utf-8"))


def _follow(harness: Harness, accepted: Exchange, *, schema: bool) -> list[Exchange]:
    """Poll the api-job a 202 named until it is no longer pending, with X-JSON-Schema or without, as the
    run did; bounded by the harness's poll deadline."""
    location = job_location(accepted.status or 0, accepted.json) if accepted.error is None else None
    if location is None:
        return []
    polls: list[Exchange] = []
    deadline, pause = time.monotonic() + harness.main.poll_deadline, 0.01
    while time.monotonic() < deadline:
        answer = harness.send_raw(poll(location, json_schema=schema))
        polls.append(answer)
        if answer.error is not None or not is_job_pending(answer.status or 0):
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    return polls


def _line(exchange: Exchange) -> str:
    request = exchange.request
    answer = exchange.error or f"HTTP {exchange.status} {exchange.text(200)}"
    return f"{request.method} {request.path} -> {answer}"
