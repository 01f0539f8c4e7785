"""A conformance run's plan: every option of `zscheck contract`, as one JSON document.

`zscheck contract` hands it to pytest as `--zs-plan`, as `zscheck load` hands locust its `LoadPlan`, so
an option is declared once (`zscheck.cli.options`) and reaches the suites unchanged; `pytest contracts`
without a plan builds the same document from its `--zs-*` options. The plan holds no secret: it names
the environment variable or file a password is read from, never the password.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck.control import RunControl
from zscheck.errors import ConfigError
from zscheck.events import Emit
from zscheck.target import DEFAULT_IMAGE_URL, TargetOptions

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
        """The run again: `zscheck contract` with every option of the run but where its reports go and
        --baseline-update, default ones left out, so that zscheck's own parser reads it back into this
        plan (a test holds it). The embedded server's faults and timing are part of it (without them the
        replay of a faulty server's run ran against a correct one), and so is --max-examples (the same
        seed with another count sends other requests). Names where a password is read, never one."""
        t = self.target
        given: list[tuple[str, object]] = [("--target", t.url)] if t.url else []
        given += [("--fault", f) for f in t.faults] if not t.url else []
        given += [("--timing", t.timing if not t.url and t.timing != "instant" else None)]
        given += [("--dialect", t.dialect), ("--account", t.account if t.account != "admin" else None)]
        given += [("--password-env", t.password_env if t.password_env != TargetOptions.password_env else None)]
        given += [("--password-file", t.password_file), ("--tenant", t.tenant)]
        given += [("--image", image) for image in t.images]
        given += [("--backup-storage", t.backup_storage)]
        given += [("--image-url", t.image_url if t.image_url != DEFAULT_IMAGE_URL else None)]
        given += [("--ca-bundle", t.ca_bundle), ("--insecure", True if t.insecure else None)]
        given += [("--timeout", t.timeout if t.timeout != TargetOptions.timeout else None)]
        given += [("--max-examples", self.max_examples if self.max_examples != NIGHTLY_MAX_EXAMPLES else None)]
        given += [("--workers", self.workers if self.workers != DEFAULT_WORKERS else None)]
        given += [("--create-images", self.create_images), ("--poll-deadline", self.poll_deadline)]
        given += [("--no-shrink", True if not self.shrink else None)]
        given += [("--shrink-budget", self.shrink_budget if self.shrink_budget != DEFAULT_SHRINK_BUDGET else None)]
        given += [("--no-schemathesis-report", True if not self.schemathesis_report else None)]
        given += [("--baseline", self.baseline), ("--seed", self.seed)]
        words = ["zscheck", "contract"]
        for option, value in given:
            if value is True:
                words.append(option)
            elif value is not None:
                words += [option, shlex.quote(f"{value:g}" if isinstance(value, float) else str(value))]
        return " ".join(words)

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
