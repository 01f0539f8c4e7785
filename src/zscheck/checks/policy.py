"""Policy checks: rules of the target's behaviour that no single answer shows, judged from what the
suites observed around a request (facts §4, §5.3 and §10).

- Sessions: every login is answered with a session of its own, and (with `identity.enable.unique.session`
  false, ZStack's default) a login leaves the account's other sessions valid.
- Deletion: under `image.deletionPolicy` Delay (the default) DeleteImage keeps the image with status
  Deleted, whatever its deleteMode (Permissive or Enforcing: they decide whether dependants block the
  delete, not whether the image is expunged); an invalid deleteMode fails in the handler with SYS.1000; a
  normal account may not delete another account's image (SYS.1006); nothing changes on a refusal.
- validationOnly: every validator runs, nothing is written, the job answers `{}` (`{"schema": {}}` with
  X-JSON-Schema); errors are reported as usual.
- X-API-Timeout: the seconds it gives become the job's timeout, reported in the 202 as `apiTimeout` (ms).

The deployment settings these depend on are the run's assumptions (`Assumptions`): a report says which were
assumed, so a target configured otherwise is told apart from a broken one.

Messages never carry a session id: they name the logins by what they were for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zscheck._models import ApiResult, Exchange
from zscheck.checks.transitions import check_failed_request
from zscheck.checks.violations import Violation


@dataclass(frozen=True, slots=True)
class Assumptions:
    """The deployment settings the policy checks assume (ZStack's defaults, facts §10)."""

    deletion_policy: str = "Delay"  # image.deletionPolicy
    unique_session: bool = False  # identity.enable.unique.session

    def describe(self) -> str:
        return (
            f"assumed the target's defaults: image.deletionPolicy={self.deletion_policy}, "
            f"identity.enable.unique.session={str(self.unique_session).lower()}"
        )


DEFAULTS = Assumptions()

# The policy classes a run exercises (contracts/test_policy.py), named as the run's coverage counts them.
POLICY_CLASSES = (
    "policy-sessions",
    "policy-delete-mode",
    "policy-delete-mode-invalid",
    "policy-delete-ownership",
    "policy-validation-only",
    "policy-api-timeout",
    "job-result-kept",
)
# Classes only an api-job can show: the documented dialect (synchronous) has neither a bare event nor a 202.
JOB_POLICY_CLASSES = ("policy-validation-only", "policy-api-timeout", "job-result-kept")


def check_logins_issue_new_sessions(issued: Mapping[str, str | None]) -> list[Violation]:
    """`issued`: what each login was for -> the session it was answered with. No two may be the same."""
    seen: dict[str, str] = {}
    out: list[Violation] = []
    for label, session in issued.items():
        if session is None:
            continue
        if session in seen:
            out.append(
                Violation(
                    "session_policy",
                    f"every login is answered with a new session, but {label} got the session {seen[session]} got",
                    "a session of its own",
                    f"the session of {seen[session]}",
                )
            )
        else:
            seen[session] = label
    return out


def check_sessions_survive_logins(
    still_valid: Mapping[str, bool], assumptions: Assumptions = DEFAULTS
) -> list[Violation]:
    """`still_valid`: each earlier session of an account (by what it was for) -> whether ValidateSession
    says it is valid after a later login of the same account."""
    if assumptions.unique_session:
        return []
    return [
        Violation(
            "session_policy",
            f"a login leaves the account's other sessions valid (identity.enable.unique.session is false by "
            f"default), but {label} was logged out by a later login",
            "valid",
            "not valid",
        )
        for label, valid in still_valid.items()
        if not valid
    ]


def check_delete_keeps_image(
    mode: str | None, after: Mapping[str, Any] | None, result: ApiResult, assumptions: Assumptions = DEFAULTS
) -> list[Violation]:
    """A DeleteImage (`mode`: its deleteMode, None when not sent) that succeeded, and the image as a query
    showed it right after."""
    sent = f"deleteMode={mode}" if mode is not None else "no deleteMode"
    if not result.ok:
        detail = result.error_code or f"HTTP {result.final.status}"
        return [
            Violation("delete_policy", f"DeleteImage ({sent}) of an image of one's own succeeds", "success", detail)
        ]
    if assumptions.deletion_policy != "Delay":
        return []
    if after is None:
        return [
            Violation(
                "delete_policy",
                f"under the Delay deletion policy DeleteImage ({sent}) keeps the image, with status Deleted, "
                "until it is expunged",
                "status Deleted",
                "the image is gone",
                result.final,
            )
        ]
    if after.get("status") != "Deleted":
        return [
            Violation(
                "delete_policy",
                f"after DeleteImage ({sent}) the image's status is Deleted",
                "Deleted",
                str(after.get("status")),
                result.final,
            )
        ]
    return []


def check_invalid_delete_mode(
    mode: str, result: ApiResult, before: Mapping[str, Any], after: Mapping[str, Any] | None
) -> list[Violation]:
    """DeleteImage with a deleteMode that is not one: DeletionMode.valueOf fails in the handler, SYS.1000,
    and the image is as it was."""
    out: list[Violation] = []
    if result.error_code != "SYS.1000":
        actual = "success" if result.ok else (result.error_code or f"HTTP {result.final.status}")
        out.append(
            Violation(
                "delete_policy",
                f"an invalid deleteMode ({mode!r}) fails in the handler: SYS.1000 (DeletionMode.valueOf)",
                "SYS.1000",
                actual,
                result.final,
            )
        )
    out += [_as("delete_policy", "an invalid deleteMode", v) for v in check_failed_request(dict(before), _dict(after))]
    return out


def check_foreign_delete_refused(
    result: ApiResult, before: Mapping[str, Any], after: Mapping[str, Any] | None
) -> list[Violation]:
    """A normal account's DeleteImage of another account's image: SYS.1006, and the image as it was."""
    out: list[Violation] = []
    if result.error_code != "SYS.1006":
        actual = "success" if result.ok else (result.error_code or f"HTTP {result.final.status}")
        out.append(
            Violation(
                "delete_ownership",
                "a normal account may not delete another account's image: SYS.1006",
                "SYS.1006",
                actual,
                result.final,
            )
        )
    refused = "a normal account's DeleteImage of another account's image"
    out += [_as("delete_ownership", refused, v) for v in check_failed_request(dict(before), _dict(after))]
    return out


def check_validation_only(
    result: ApiResult, before: Mapping[str, Any], after: Mapping[str, Any] | None, *, json_schema: bool
) -> list[Violation]:
    """A valid request with the validationOnly system tag: a bare event (`{}`, or `{"schema": {}}` when the
    poll sent X-JSON-Schema), and nothing written."""
    out: list[Violation] = []
    bare: dict[str, Any] = {"schema": {}} if json_schema else {}
    if not result.ok or result.data != bare:
        actual = result.error_code or (result.final.text(120) if result.ok else f"HTTP {result.final.status}")
        out.append(
            Violation(
                "validation_only",
                "a validationOnly request is validated and not carried out: the job answers a bare event",
                str(bare).replace("'", '"'),
                actual,
                result.final,
            )
        )
    out += [
        _as("validation_only", "a validationOnly request", v) for v in check_failed_request(dict(before), _dict(after))
    ]
    return out


def check_api_timeout(accepted: Exchange, seconds: int) -> list[Violation]:
    """The 202 to a request sent with `X-API-Timeout: seconds` reports that timeout, in milliseconds."""
    data = accepted.json if isinstance(accepted.json, dict) else {}
    reported = data.get("apiTimeout")
    if accepted.status == 202 and reported == seconds * 1000:
        return []
    return [
        Violation(
            "api_timeout",
            f"X-API-Timeout: {seconds} (seconds) sets the job's timeout, which the 202 reports as apiTimeout in ms",
            str(seconds * 1000),
            f"HTTP {accepted.status}, apiTimeout {reported!r}",
            accepted,
        )
    ]


def check_job_result_kept(final: Exchange, again: Exchange) -> list[Violation]:
    """A finished api-job polled again answers its result again, the same status and body: ZStack keeps
    results until they expire (rest.completedApi.expiredPeriod, counted from the job's creation), so a
    client that polls twice (a retry after a lost answer) reads the same outcome."""
    if again.status == final.status and again.json == final.json and again.json is not None:
        return []
    return [
        Violation(
            "job_protocol",
            "a finished api-job polled again answers the same result until it expires",
            f"HTTP {final.status} {final.text(80)}",
            f"HTTP {again.status} {again.text(80)}",
            again,
        )
    ]


def _dict(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(image) if image is not None else None


def _as(check: str, what: str, violation: Violation) -> Violation:
    """A violation of the generic "nothing changed" rule, reported under the policy that was broken."""
    message = violation.message.replace("a failed request", what)
    return Violation(check, message, violation.expected, violation.actual, violation.exchange)
