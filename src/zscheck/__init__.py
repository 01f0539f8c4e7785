"""zscheck: contract and load testing for ZStack's ChangeImageState API.

The public surface is small on purpose (ARCHITECTURE.md, "Public API tiers"): these names, `zscheck.wire`,
`zscheck.checks`, `zscheck.linearizability`, `zscheck.verdict` and `zscheck.events` are stable; the plugin
interface (`zscheck.conformance.plugin`, `zscheck.conformance.harness`, `zscheck.load.users`) is for
suites and locustfiles; everything else is internal and may change.
"""

from zscheck._models import ApiResult, Exchange, Outcome, Session, read_outcome
from zscheck._transport import Timeouts
from zscheck._wire import Dialect, WireRequest
from zscheck.client import Client
from zscheck.errors import ConfigError, LoginError, TargetError, ZscheckError

__version__ = "0.1.0"

__all__ = [
    "ApiResult",
    "Client",
    "ConfigError",
    "Dialect",
    "Exchange",
    "LoginError",
    "Outcome",
    "Session",
    "TargetError",
    "Timeouts",
    "WireRequest",
    "ZscheckError",
    "__version__",
    "read_outcome",
]
