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
