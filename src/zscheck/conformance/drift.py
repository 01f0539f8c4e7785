"""`zscheck drift`: where a target departs from the published API page, point by point.

The page (`../shared/changeimagestate-api-page.txt`) describes a synchronous `200 {success, error,
inventory}` answer to `{"params": {"stateEvent"}}`. ZStack's REST server does otherwise. Drift sends the
page's request and the server's request for a success and a business failure, and reports each aspect
where what came back is not what the page says, with the evidence to reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zscheck import _wire
from zscheck._models import ApiResult
from zscheck.checks.response import DOCUMENTED_ERROR, DOCUMENTED_INVENTORY
from zscheck.client import Client
from zscheck.conformance.harness import Harness
from zscheck.conformance.plan import ContractPlan
from zscheck.control import RunControl
from zscheck.events import Emit, VerdictReached, discard
from zscheck.report.documents import DriftPoint, DriftReport
from zscheck.report.reproducer import Request, Where, script, write_scripts
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict


class _Evidence:
    """Each request drift sent, once: a one-line summary per point, and one reproducer script per request
    (three points may rest on one answer; the script is written once and named by each)."""

    def __init__(self, where: Where, image: str) -> None:
        self.where, self.image = where, image
        self.scripts: dict[str, str] = {}

    def __call__(self, result: ApiResult, name: str) -> tuple[str, str]:
        first = result.exchanges[0].request
        statuses = " -> ".join(str(e.status) for e in result.exchanges)
        if name not in self.scripts:
            body = first.redacted_body()
            request = Request(
                first.method,
                first.path,
                first.redacted_headers(),
                None if body is None else body.decode("utf-8", errors="replace"),
            )
            self.scripts[name] = script(request, self.where, image=self.image, title=[f"zscheck drift: {name}"])
        shown = first.path.replace(self.image, "{image}")
        body_text = (first.body or b"").decode("utf-8", errors="replace")
        return f"{first.method} {shown} {body_text} answered {statuses}".replace("  ", " "), name


def find_drift(client: Client, image: str, where: Where | None = None) -> tuple[list[DriftPoint], dict[str, str]]:
    """Compare the target with the page on one image it may change (the caller restores it): the points,
    and the reproducer script of each request they rest on."""
    assert client.session is not None
    session = client.session.uuid
    points: list[DriftPoint] = []
    evidence = _Evidence(where or Where(client.base_url), image)

    page = client.call(_wire.change_state(image, "disable", session, dialect="documented"))
    page_ok = page.final.status == 200 and isinstance(page.data, dict) and "success" in page.data
    if not page_ok:
        points.append(
            DriftPoint(
                "body key",
                'the body is {"params": {"stateEvent": ...}}',
                f"refused: HTTP {page.final.status} {page.final.text(120)}; the server reads the action name "
                'as the key, {"changeImageState": {"stateEvent": ...}}',
                *evidence(page, "page-request"),
            )
        )
    # From here on, speak the form the target accepts, and compare its answers with the page.
    dialect: _wire.Dialect = "documented" if page_ok else "rest"
    success = client.call(_wire.change_state(image, "enable", session, dialect=dialect))
    failure = client.call(_wire.change_state(image, "Enable", session, dialect=dialect))

    first = success.exchanges[0]
    if first.status == 202 and _wire.job_location(202, first.json):
        points.append(
            DriftPoint(
                "synchronous vs api-job",
                "synchronous: the answer to the PUT is 200 with the result",
                f"202 {{location, apiTimeout}}; the result comes from polling the api-job "
                f"({len(success.exchanges) - 1} poll(s), final HTTP {success.final.status})",
                *evidence(success, "success"),
            )
        )
    body = success.data if isinstance(success.data, dict) else {}
    if "success" not in body:
        points.append(
            DriftPoint(
                "success field",
                "every answer carries `success` (true/false) next to `error` and `inventory`",
                f"no `success` field; the final answer has {sorted(body) or 'no JSON object'}",
                *evidence(success, "success"),
            )
        )
    raw_inventory = body.get("inventory")
    inventory: dict[str, Any] = raw_inventory if isinstance(raw_inventory, dict) else {}
    absent = [f for f in DOCUMENTED_INVENTORY if f not in inventory]
    if inventory and (absent or "error" not in body):
        points.append(
            DriftPoint(
                "null fields",
                "every field is listed as required: `error` is null on success, every inventory field present",
                "null fields are omitted"
                + (f": absent {', '.join(absent)}" if absent else "")
                + ("" if "error" in body else "; no `error` on success"),
                *evidence(success, "success"),
            )
        )
    fbody = failure.data if isinstance(failure.data, dict) else {}
    if failure.final.status != 200 or fbody.get("success") is not False:
        points.append(
            DriftPoint(
                "status of business failures",
                "a failure is HTTP 200 with success=false and the ErrorCode in `error`",
                f"HTTP {failure.final.status} {failure.final.text(160)}",
                *evidence(failure, "business-failure"),
            )
        )
    raw_error = fbody.get("error")
    error: dict[str, Any] | None = raw_error if isinstance(raw_error, dict) else None
    if error is not None:
        missing = [k for k in DOCUMENTED_ERROR if k not in error]
        if missing:
            points.append(
                DriftPoint(
                    "ErrorCode fields",
                    f"ErrorCode has {', '.join(DOCUMENTED_ERROR)} (reserved ones null)",
                    f"absent: {', '.join(missing)}; present: {', '.join(sorted(error))}",
                    *evidence(failure, "business-failure"),
                )
            )
    return points, evidence.scripts


def render_lines(points: list[DriftPoint], target: str, scripts: Path | None = None) -> list[str]:
    """Drift point by point, as a person reads it."""
    if not points:
        return [f"{target} answers as the published page says: no drift."]
    lines = [f"{target} departs from the published page in {len(points)} point(s):", ""]
    for i, point in enumerate(points, 1):
        lines += [
            f"{i}. {point.aspect}",
            f"   page:   {point.page}",
            f"   target: {point.target}",
            f"   sent:   {point.evidence}",
            *([f"   repro:  sh {scripts / (point.reproducer + '.sh')}"] if scripts and point.reproducer else []),
            "",
        ]
    return lines[:-1]


@dataclass
class DriftRun:
    points: list[DriftPoint]
    target: str
    restore_problems: list[str]

    @property
    def verdict(self) -> Verdict:
        """COULD NOT RUN: images could not be put back; VIOLATIONS: drift found (of the page, not of the
        contract: `zscheck run` reports it and never fails on it); PASS: the target answers as the page says."""
        if self.restore_problems:
            return Verdict.COULD_NOT_RUN
        return Verdict.VIOLATIONS if self.points else Verdict.PASS


def run_drift(
    report_dir: Path, target: TargetOptions, *, control: RunControl | None = None, emit: Emit = discard
) -> DriftRun:
    """Drift against `target` (the embedded server if none, rest dialect), on one image: the first given
    with --image, else one created for it; restored after. Writes drift.json into the report directory."""
    harness = Harness(
        ContractPlan(report_dir, target=target, create_images=0 if target.images else 1, workers=1),
        control=control or RunControl(),
    )
    try:
        harness.start()
        where = Where(target.url, target.faults, target.dialect, target.account, target.password_env, target.image_url)
        points, scripts = find_drift(harness.main, harness.admin_images[0], where)
    finally:
        problems = harness.stop()
    label = target.label(harness.url)
    report_dir.mkdir(parents=True, exist_ok=True)
    DriftReport(
        target=label, drift=points, reproducers=scripts, target_url=target.url, faults=list(target.faults)
    ).write(report_dir / "drift.json")
    written = write_scripts(report_dir / "reproducers", scripts)
    result = DriftRun(points, label, problems)
    details = [*render_lines(points, label, written), *(f"RESTORE FAILED: {problem}" for problem in problems)]
    emit(VerdictReached("drift", result.verdict, label, details=tuple(details), report=str(report_dir / "drift.json")))
    return result
