"""What every load-generating process needs to know, and nothing secret.

`zscheck load` writes the plan; locust carries it to each worker process (as a custom command-line
option, which locust forwards from the master to its workers, on this machine or another). The password
never travels in it: each process reads it from the environment variable or file the plan names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from zscheck._wire import Dialect
from zscheck.errors import ConfigError

Scenario = Literal["toggle", "contention", "mixed", "errors"]
SCENARIOS: dict[str, str] = {
    "toggle": "each user owns its images and alternates enable/disable on them (5% repeat the state)",
    "contention": "every user changes and reads the same few images at once",
    "mixed": "queries and state changes at a configurable ratio (--query-ratio)",
    "errors": "a steady share of invalid requests (--error-ratio) whose error codes are checked",
}
INVALID_KINDS = ("bad-event", "unknown-image", "dead-session")


@dataclass(frozen=True)
class LoadPlan:
    target: str
    scenario: Scenario
    images: dict[str, str]  # fixture image uuid -> state before the run
    dialect: Dialect = "rest"
    account: str = "admin"
    password_env: str = "ZSCHECK_PASSWORD"
    password_file: str | None = None
    workers: int = 1  # load-generating processes; the rate and the images are shared out among them
    rate: float | None = None  # state changes per second over all workers (open model); None: closed loop
    images_per_user: int = 1
    hot_images: int = 2  # contention: how many images everyone fights over
    query_ratio: float = 0.5  # mixed: share of operations that are queries
    error_ratio: float = 0.25  # errors: share of operations that are invalid requests
    read_after_write: float = 0.25  # share of acknowledged changes of an owned image read back at once
    poll_deadline: float = 30.0  # a job still at 202 after this is a timeout (indeterminate)
    request_timeout: float = 30.0
    seed: int = 0
    origin: float = 0.0  # wall-clock time the plan was made: shared timelines (contention phases) start here
    duration: float = 0.0  # seconds of load from the first process logged in; 0: locust's --run-time alone
    horizon: float = 3600.0  # seconds after `origin` the shared timelines must cover
    history_limit: int = 2_000_000  # operations kept per process when the history is kept in memory (no history_dir)
    results: str = ""  # where the master (or the only process) writes the raw results
    history_dir: str = (
        ""  # where the history files go (zscheck.linearizability.HistoryFile); "": kept in memory instead
    )
    history_local: bool = True  # the workers share the master's disk (else they send their history to it)
    verify: bool | str = True
    # --baseline's known load findings (fingerprints, zscheck.report.load_findings): an operation that fails
    # only those is counted apart, so a known finding does not break an error_rate gate either
    known: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        try:
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("known"), list):
                data["known"] = tuple(data["known"])  # JSON has no tuples
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"the load plan given to locust is not valid ({exc}); it is written by `zscheck load`"
            ) from None

    def images_for(self, worker: int) -> list[str]:
        """This worker's share of the fixture images (all of them for the contention scenario)."""
        uuids = sorted(self.images)
        if self.scenario == "contention":
            return uuids[: self.hot_images]
        mine = uuids[worker % max(self.workers, 1) :: max(self.workers, 1)]
        return mine or uuids
