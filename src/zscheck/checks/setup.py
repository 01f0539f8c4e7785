"""Setup is judged too: the answers a target gave while the harness logged in and made its fixtures.

A target that breaks the contract there (a malformed login answer, a 202 whose location does not poll,
an api-job that never ends) has failed it, and the run says so with exit 1, not "could not run". A
refusal with a proper ErrorCode (a wrong password, no backup storage) is the target's right, and an answer
that is not ZStack's at all (no JSON, no HTTP) or no answer is no verdict about it: exit 2.
"""

from __future__ import annotations

from zscheck._models import ApiResult
from zscheck.checks.response import judge_call
from zscheck.checks.violations import Violation
from zscheck.errors import SetupFailed


def judge_setup(error: SetupFailed) -> list[Violation]:
    """The violations in the call a failed setup step made (none: it could not run, exit 2)."""
    result = error.result
    if not isinstance(result, ApiResult) or not result.exchanges:
        return []
    found = judge_call(result, error.what)
    final = result.final
    login = error.what == "LogInByAccount" and final.error is None and final.status == 200
    if not found and login and isinstance(final.json, dict):
        inventory = final.json.get("inventory")
        if not (isinstance(inventory, dict) and isinstance(inventory.get("uuid"), str)):
            found.append(
                Violation(
                    "envelope",
                    "LogInByAccount: a successful login answers the session's inventory with its uuid",
                    '{"inventory": {"uuid": ...}}',
                    final.text(120),
                    final,
                )
            )
    return found
