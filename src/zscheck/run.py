"""`zscheck run`: the one command. Conformance, a short load run with default gates, and drift, into one
timestamped report directory with one `index.html`.

Each phase is the same code as its own command (`contract`, `load`, `drift`) writing into a
subdirectory; this module only sequences them, keeps going when one phase cannot run, and combines
their verdicts: any violation is exit 1; otherwise, any phase that could not run is exit 2; else 0.
Drift is reported, never a violation: the REST server departs from the published page by design.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck import __version__
from zscheck.checks import CHECKS, ErrorTable
from zscheck.conformance.drift import run_drift
from zscheck.conformance.harness import ContractConfig
from zscheck.conformance.harness import interrupted as contract_interrupted
from zscheck.conformance.runner import ContractRun, run_contract
from zscheck.credentials import read_password
from zscheck.errors import ZscheckError
from zscheck.load.runner import LoadRun, run_load
from zscheck.load.runner import interrupted as load_interrupted
from zscheck.report.html import write_index

DEFAULT_GATES = ("error_rate<1%", "e2e:p99<1s")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunAll:
    reports: Path = Path("reports")
    target: str | None = None
    dialect: str = "rest"
    account: str = "admin"
    password_env: str = "ZSCHECK_PASSWORD"
    password_file: str | None = None
    images: tuple[str, ...] = ()
    seed: int | None = None
    max_examples: int = 100
    scenario: str = "toggle"
    users: int = 10
    duration: float = 20.0
    rate: float | None = None
    slo: tuple[str, ...] = DEFAULT_GATES
    skip: tuple[str, ...] = ()  # phases to leave out: contract, load, drift
    ca_bundle: str | None = None
    insecure: bool = False
    quiet: bool = False
    timeout: float = 30.0
    timing: str = "instant"  # embedded server only: instant, or realistic (jobs like a real node's)

    def target_options(self) -> dict[str, Any]:
        """What the contract and load phases share, under the same names: where and how to connect."""
        return {
            "target": self.target,
            "dialect": self.dialect,
            "account": self.account,
            "password_env": self.password_env,
            "password_file": self.password_file,
            "images": self.images,
            "ca_bundle": self.ca_bundle,
            "insecure": self.insecure,
            "timeout": self.timeout,
            "timing": self.timing,
        }


@dataclass
class Phase:
    name: str
    exit_code: int
    seconds: float  # its report directory is the run's directory / name
    error: str | None = None


@dataclass
class RunAllResult:
    directory: Path
    phases: list[Phase] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        codes = [p.exit_code for p in self.phases if p.name != "drift" or p.exit_code == 2]
        if 1 in codes:
            return 1
        return 2 if 2 in codes or not self.phases else 0


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def run_all(run: RunAll, progress: Progress = print) -> RunAllResult:
    seed = run.seed if run.seed is not None else random.randrange(2**32)
    directory = run.reports / _stamp()
    directory.mkdir(parents=True, exist_ok=True)
    _point_latest(run.reports, directory)
    result = RunAllResult(directory)
    started = time.time()
    phases: list[tuple[str, Callable[[Path], int]]] = [
        ("contract", lambda out: _contract(run, seed, out)),
        ("load", lambda out: _load(run, seed, out, progress)),
        ("drift", lambda out: _drift(run, out)),
    ]
    todo = [(name, step) for name, step in phases if name not in run.skip]
    for number, (name, step) in enumerate(todo, 1):
        progress(f"run: [{number}/{len(todo)}] {name} ...")
        t0 = time.monotonic()
        error = None
        try:
            code = step(directory / name)
        except ZscheckError as exc:
            code, error = 2, str(exc)
            progress(f"run: {name} could not run: {exc}")
        phase = Phase(name, code, time.monotonic() - t0, error)
        result.phases.append(phase)
        progress(f"run: [{number}/{len(todo)}] {name}: {_word(name, code)} in {phase.seconds:.0f} s")
        if contract_interrupted() or load_interrupted():  # Ctrl-C or SIGTERM: the phase restored; stop here
            phase.exit_code, phase.error = 2, "interrupted by a signal"
            progress("run: interrupted: the remaining phases were not run")
            break
    summary = {
        "command": "run",
        "verdict": {0: "PASS", 1: "VIOLATIONS", 2: "COULD NOT RUN"}[result.exit_code],
        "exit_code": result.exit_code,
        "target": run.target or "embedded reference server",
        "dialect": run.dialect,
        "seed": seed,
        "harness_version": __version__,
        "started": started,
        "duration_s": round(time.time() - started, 1),
        "gates": list(run.slo),
        "phases": [vars(p) for p in result.phases],
    }
    (directory / "summary.json").write_text(json.dumps(summary, indent=2))
    index = write_index(directory, error_table=_error_table(), checks=CHECKS)
    progress(f"zscheck: {summary['verdict']} (exit {result.exit_code}) - {summary['target']}, seed {seed}")
    progress(f"zscheck: report {index.resolve()}")
    return result


def _word(name: str, code: int) -> str:
    if name == "drift":
        return {0: "no drift", 1: "drift found (reported)", 2: "could not run"}[code]
    return {0: "pass", 1: "VIOLATIONS", 2: "could not run"}.get(code, "could not run")


def _point_latest(reports: Path, directory: Path) -> None:
    """reports/latest -> the newest run (a relative link, so the tree can be copied or archived)."""
    link = reports / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(directory.name, target_is_directory=True)
    except OSError:
        pass  # a file system without links: the timestamped directory is still printed


def _contract(run: RunAll, seed: int, out: Path) -> int:
    return run_contract(
        ContractRun(report_dir=out, max_examples=run.max_examples, seed=seed, quiet=True, **run.target_options())
    )


def _load(run: RunAll, seed: int, out: Path, progress: Progress) -> int:
    return run_load(
        LoadRun(
            report_dir=out,
            scenario=run.scenario,
            users=run.users,
            duration=run.duration,
            rate=run.rate,
            slo=run.slo,
            seed=seed,
            **run.target_options(),
        ),
        progress=(lambda line: None) if run.quiet else progress,
    )


def _drift(run: RunAll, out: Path) -> int:
    result = run_drift(
        ContractConfig(
            report_dir=out,
            target=run.target,
            account=run.account,
            password=read_password(run.password_env, run.password_file),
            images=run.images,
            create_images=0 if run.images else 1,
            verify=run.ca_bundle or not run.insecure,
            timeout=run.timeout,
        )
    )
    return result.exit_code


def _error_table() -> list[dict[str, Any]]:
    """The error-code table as the report shows it: each rule, its input classes and its answers."""
    table = ErrorTable.load()
    rows = []
    for rule in table.rules:
        rows.append(
            {
                "rule": rule.name,
                "description": rule.description,
                "when": {facet: sorted(values) for facet, values in rule.when.items()},
                "answers": {
                    dialect: f"{e.stage} {e.status} {e.body}" + (f" {e.code}" if e.code else "")
                    for dialect, e in rule.answers.items()
                },
            }
        )
    return rows
