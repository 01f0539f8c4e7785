"""A conformance run's plan: every option of `zscheck contract`, as one JSON document.

`zscheck contract` hands it to pytest as `--zs-plan`, as `zscheck load` hands locust its `LoadPlan`, so
an option is declared once (`zscheck.cli.options`) and reaches the suites unchanged; `pytest contracts`
without a plan builds the same document from its `--zs-*` options. The plan holds no secret: it names
the environment variable or file a password is read from, never the password.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck.cmdline import render, unless
from zscheck.control import RunControl
from zscheck.errors import ConfigError
from zscheck.events import Emit
from zscheck.target import TargetOptions

NIGHTLY_MAX_EXAMPLES = 100  # Hypothesis examples per property: the nightly profile, for every entry point
DEFAULT_WORKERS = 8  # probes in flight at once: gentle for a management node, enough to overlap job waits
DEFAULT_SHRINK_BUDGET = 30.0  # seconds the run's failing tests may spend, together, searching for shortest forms
PLAN_VERSION = 1


@dataclass(frozen=True)
class ContractPlan:
    report_dir: Path
    target: TargetOptions = field(default_factory=TargetOptions)
    max_examples: int = NIGHTLY_MAX_EXAMPLES
    seed: int | None = None  # Hypothesis' seed; None: chosen at random and reported
    create_images: int | None = None  # None: as many as `workers` (one state-machine lane per image)
    poll_deadline: float | None = None  # seconds a job may stay 202; default 10 (1 for the instant embedded one)
    workers: int = DEFAULT_WORKERS  # independent probes in flight at once (each image's sequence in order)
    shrink: bool = True  # search for the shortest failing example (Hypothesis' shrink phase)
    shrink_budget: float = DEFAULT_SHRINK_BUDGET
    schemathesis_report: bool = True  # schemathesis' own JUnit and HAR after the suites (informational)
    timing_seed: int | None = None  # the realistic profile's delays; default: the run's seed
    baseline: str | None = None  # known findings (zscheck.report.baseline): reported, not failing the run
    baseline_update: bool = False  # rewrite `baseline` from the run's findings

    def validate(self) -> ContractPlan:
        self.target.validate()
        checks = (
            ("--max-examples", self.max_examples >= 1, "at least 1"),
            ("--workers", 1 <= self.workers <= 64, "from 1 to 64"),
            ("--create-images", self.create_images is None or 0 <= self.create_images <= 50, "from 0 to 50"),
            ("--shrink-budget", self.shrink_budget >= 1, "at least 1 (seconds)"),
            ("--poll-deadline", self.poll_deadline is None or self.poll_deadline > 0, "a positive number of seconds"),
            ("--baseline-update", self.baseline is not None or not self.baseline_update, "given with --baseline FILE"),
        )
        for name, ok, rule in checks:
            if not ok:
                value = {"--max-examples": self.max_examples, "--workers": self.workers}.get(name, "given")
                raise ConfigError(f"{name} {value}: it must be {rule}")
        return self

    def command_line(self) -> str:
        """The run again: `zscheck contract` with every option of the command but where its reports go and
        --baseline-update (and the pytest plugin's own --zs-timing-seed, which the commands never set),
        default ones left out, so that zscheck's own parser reads it back into this
        plan (a test holds it). The embedded server's faults and timing are part of it (without them the
        replay of a faulty server's run ran against a correct one), and so is --max-examples (the same
        seed with another count sends other requests). Names where a password is read, never one."""
        return render(
            "contract",
            [
                *self.target.given(),
                ("--max-examples", unless(self.max_examples, NIGHTLY_MAX_EXAMPLES)),
                ("--workers", unless(self.workers, DEFAULT_WORKERS)),
                ("--create-images", self.create_images),
                ("--poll-deadline", self.poll_deadline),
                ("--no-shrink", not self.shrink),
                ("--shrink-budget", unless(self.shrink_budget, DEFAULT_SHRINK_BUDGET)),
                ("--no-schemathesis-report", not self.schemathesis_report),
                ("--baseline", self.baseline),
                ("--seed", self.seed),
            ],
        )

    def to_json(self) -> str:
        document: dict[str, Any] = {"version": PLAN_VERSION, **dataclasses.asdict(self)}
        document["report_dir"] = str(self.report_dir)
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str) -> ContractPlan:
        try:
            document = json.loads(text)
            if document.pop("version", None) != PLAN_VERSION:
                raise ConfigError(f"this contract plan is not version {PLAN_VERSION}: write it with this zscheck")
            target = document.pop("target")
            target["images"] = tuple(target.get("images", ()))
            target["faults"] = tuple(target.get("faults", ()))
            return cls(report_dir=Path(document.pop("report_dir")), target=TargetOptions(**target), **document)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"--zs-plan is not a contract plan written by zscheck ({exc})") from None


@dataclass(eq=False)  # pluggy keeps plugins in sets: hashed by identity
class Wiring:
    """What `zscheck contract` hands the pytest plugin besides the plan: the run's control object
    (interrupts) and where events go. Under plain `pytest contracts` the plugin makes its own: a control
    of the session's, and events written as lines by pytest's terminal reporter."""

    control: RunControl
    emit: Emit
