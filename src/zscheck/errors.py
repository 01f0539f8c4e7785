"""The harness's own errors: every one means "could not run" (exit 2), never "the target is wrong".

Contract violations are not exceptions; they are verdicts in the report model. Keeping the two apart is
what lets exit code 1 mean "violations found" and nothing else.
"""

from __future__ import annotations


class ZscheckError(Exception):
    """Base of every error zscheck raises on purpose. `str()` is one line a user can act on."""


class ConfigError(ZscheckError):
    """Bad arguments or configuration: what was given, the rule, and how to fix it."""


class TargetError(ZscheckError):
    """The target could not be reached, or answered in a way that makes the run impossible."""


class LoginError(ZscheckError):
    """Login failed; the message names the account, never the password."""


class SetupFailed(TargetError):
    """Setting up failed: logging in, creating a fixture image or account. `result` is the call as it went
    (a `zscheck.ApiResult`; None if it never got an answer to judge) and `what` names it, so that the
    caller can judge the answer: a target that broke the contract while the harness set up has failed
    it (exit 1: setup is judged too); one that refused properly, or could not be reached, could not be
    used (exit 2)."""

    def __init__(self, message: str, result: object | None = None, what: str = "setup") -> None:
        super().__init__(message)
        self.result = result
        self.what = what
