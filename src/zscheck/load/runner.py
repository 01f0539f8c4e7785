"""`zscheck load` (and each run of `zscheck capacity`, in search.py): fixtures in, locust out, a verdict back.

The orchestrating process never imports locust: it prepares the target (the embedded reference server
unless one is named), creates and journals the fixture images, starts locust as a subprocess with a
plan, follows its progress from locust's CSV, reads the merged raw results, checks linearizability,
evaluates the gates, writes `summary.json`, and restores every image, whatever happened in between.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from zscheck import __version__, linearizability
from zscheck.checks.setup import judge_setup
from zscheck.checks.violations import Violation
from zscheck.cmdline import render, unless
from zscheck.control import RunControl
from zscheck.errors import ConfigError, SetupFailed, TargetError, ZscheckError
from zscheck.events import Emit, LoadTick, Note, VerdictReached, ViolationFound, discard
from zscheck.load import selfcheck
from zscheck.load.plan import SCENARIOS, LoadPlan
from zscheck.load.recorder import HARNESS_ACTIONS, RunResults
from zscheck.report import DocumentError
from zscheck.report.baseline import Baseline
from zscheck.report.documents import (
    Arrival,
    FailureGroup,
    GateOutcome,
    GeneratorCpu,
    Generators,
    HistoryOperation,
    Linearizability,
    LinearizabilityViolation,
    LoadOptions,
    LoadResult,
    LoadSummary,
    OperationStats,
    SelfCheck,
    TimelineSecond,
)
from zscheck.report.documents import Verdict as VerdictWord
from zscheck.report.junit import write_junit
from zscheck.report.load_findings import HISTORY, fingerprint, junit_cases, load_findings
from zscheck.slo import Gate, GateResult, evaluate, parse_gate
from zscheck.target import EmbeddedServer, Target, TargetOptions
from zscheck.verdict import Verdict

LOADTESTS_DIR = Path(__file__).resolve().parents[3] / "loadtests"
GRACE = 45.0  # seconds past the duration before a locust that will not stop is killed
# The measured window opens once the first process has logged in (users.py, `_open_window`); locust's
# --run-time, counted from its own start, is the duration plus this, a ceiling if start-up never ends.
STARTUP_ALLOWANCE = 60.0


@dataclass(frozen=True)
class LoadRun:
    report_dir: Path
    target: TargetOptions = field(default_factory=TargetOptions)
    scenario: str = "toggle"
    users: int = 10
    spawn_rate: float | None = None  # None: every user within a second
    duration: float = 30.0
    rate: float | None = None
    slo: tuple[str, ...] = ()
    processes: int = 1
    seed: int | None = None
    images_per_user: int = 1
    hot_images: int = 2
    query_ratio: float = 0.5
    error_ratio: float = 0.25
    read_after_write: float = 0.25  # share of acknowledged changes of an owned image read back at once
    master: bool = False  # run locust's master only; workers join from other machines
    expect_workers: int = 1
    master_bind_port: int = 5557
    master_bind_host: str = "*"
    clock_skew: float = 0.0  # seconds: histories from several machines are widened by this much
    baseline: str | None = None  # known findings (zscheck.report.baseline): reported, not failing the run
    baseline_update: bool = False  # rewrite the load entries of `baseline` from the run's findings

    def validate(self) -> list[Gate]:
        self.target.validate()
        if self.baseline_update and self.baseline is None:
            raise ConfigError("--baseline-update writes the --baseline FILE: give --baseline FILE with it")
        self.known_findings()  # a baseline that cannot be read is refused before anything runs
        if self.scenario not in SCENARIOS:
            raise ConfigError(
                f"--scenario {self.scenario!r} is not a scenario; choose one of {', '.join(SCENARIOS)} "
                "(`zscheck load --help` says what each does)"
            )
        if self.target.images and self.target.embedded:
            raise ConfigError("--image names images on a --target; the embedded server's run creates its own")
        for name, value in (
            ("--query-ratio", self.query_ratio),
            ("--error-ratio", self.error_ratio),
            ("--read-after-write", self.read_after_write),
        ):
            if not 0 <= value <= 1:
                raise ConfigError(f"{name} {value} is not a share: give a number from 0 to 1, e.g. 0.25")
        if not (LOADTESTS_DIR / f"{self.scenario}.py").exists():
            raise ConfigError(f"the scenarios were not found in {LOADTESTS_DIR}; run zscheck from a checkout")
        return [parse_gate(text) for text in self.slo]

    @property
    def workers(self) -> int:
        return self.expect_workers if self.master else self.processes

    def given(self, command: str = "load") -> list[tuple[str, object]]:
        """Every option of the run but where its reports go and --baseline-update, default ones as None
        (`zscheck.cmdline`); capacity's runs have no --duration (each step has --step-duration)."""
        plain = LoadRun(Path("."))
        distributed = [
            ("--expect-workers", unless(self.expect_workers, plain.expect_workers)),
            ("--master-bind-port", unless(self.master_bind_port, plain.master_bind_port)),
            ("--master-bind-host", unless(self.master_bind_host, plain.master_bind_host)),
        ]
        return [
            *self.target.given(),
            ("--scenario", unless(self.scenario, plain.scenario)),
            ("--users", unless(self.users, plain.users)),
            ("--spawn-rate", self.spawn_rate),
            ("--duration", unless(self.duration, plain.duration) if command == "load" else None),
            ("--rate", self.rate),
            *(("--slo", gate) for gate in self.slo),
            ("--processes", unless(self.processes, plain.processes)),
            ("--images-per-user", unless(self.images_per_user, plain.images_per_user)),
            ("--hot-images", unless(self.hot_images, plain.hot_images)),
            ("--query-ratio", unless(self.query_ratio, plain.query_ratio)),
            ("--error-ratio", unless(self.error_ratio, plain.error_ratio)),
            ("--read-after-write", unless(self.read_after_write, plain.read_after_write)),
            ("--master", self.master),
            *(distributed if self.master else []),
            ("--clock-skew", unless(self.clock_skew, plain.clock_skew)),
            ("--baseline", self.baseline),
            ("--seed", self.seed),
        ]

    def command_line(self) -> str:
        """The run again (the same seed: the same users' choices; a load run's timing is never the same)."""
        return render("load", self.given())

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            images_per_user=self.images_per_user,
            hot_images=self.hot_images,
            query_ratio=self.query_ratio,
            error_ratio=self.error_ratio,
            spawn_rate=self.spawn_rate,
            remote=self.master,
        )

    def known_findings(self) -> Baseline | None:
        """The --baseline file (None without one); ConfigError naming the file and the entry when it is not
        a baseline. A first --baseline-update may name a file that does not exist yet."""
        if self.baseline is None:
            return None
        try:
            return Baseline.read(Path(self.baseline), missing_ok=self.baseline_update)
        except DocumentError as exc:
            raise ConfigError(f"--baseline {exc}") from None


@dataclass
class StepResult:
    """One locust run: what it measured and what it concluded."""

    users: int
    rate: float | None
    duration: float
    measured: dict[str | None, dict[str, float]]
    gates: list[GateResult]
    failures: list[dict[str, Any]]
    linearizability: linearizability.Result
    late: int = 0
    scheduled: int = 0
    timeline: list[dict[str, Any]] = field(default_factory=list)
    error_codes: dict[str, int] = field(default_factory=dict)
    history_dropped: int = 0
    harness: dict[str, int] = field(default_factory=dict)  # what the harness did on its own (HARNESS_ACTIONS)
    actions: list[str] = field(default_factory=list)  # a line for some of them (re-logins)
    generators: dict[str, int] = field(default_factory=dict)  # workers and users whose operations were seen
    distribution: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # op -> (percentile, s)
    checks: list[selfcheck.Finding] = field(default_factory=list)  # can the numbers be trusted (selfcheck.py)
    cpu: list[selfcheck.ProcessCpu] = field(default_factory=list)  # each load process, second by second
    known: frozenset[str] = frozenset()  # --baseline's load fingerprints: reported, and no failure of the step

    @property
    def new_failures(self) -> list[dict[str, Any]]:
        """The failure groups that are no known finding of the --baseline."""
        return [f for f in self.failures if fingerprint(f["check"], f["operation"], f["code"]) not in self.known]

    @property
    def history_ok(self) -> bool:
        """The history is linearizable, or its violation is a known finding."""
        return self.linearizability.ok or fingerprint("linearizability", HISTORY, "-") in self.known

    @property
    def generator_bound(self) -> selfcheck.Finding | None:
        return selfcheck.generator_bound(self.checks)

    @property
    def unjudged_gates(self) -> str | None:
        """Why the gates that broke are no verdict on the target (the generator was the limit), or None."""
        bound = self.generator_bound
        broken = [g.gate.text for g in self.gates if not g.passed]
        if bound is None or not broken:
            return None
        return f"{', '.join(broken)} broke while {bound.text}; do: {bound.advice}"

    @property
    def undelivered(self) -> str | None:
        """Why a passing run is no verdict at the rate it was asked for (`--rate`: the offered rate was not
        delivered, so its gates were met at a lower load), or None. A gate that broke at the lower load
        stands: the target failed it at less than it was asked to carry."""
        short = next((c for c in self.checks if c.check == "delivered_rate" and not c.ok), None)
        if short is None or not all(g.passed for g in self.gates):
            return None
        return f"{short.text}: its gates were met at that load, not at the rate asked; do: {short.advice}"

    @property
    def unjudged_history(self) -> str | None:
        """Why the history is no verdict on the target (the workers' clocks disagreed by more than the run
        allows, so wall-clock order across machines says nothing either way), or None."""
        skew = next((c for c in self.checks if c.check == "clock_skew" and not c.ok), None)
        return None if skew is None else f"{skew.text}; do: {skew.advice}"

    @property
    def throughput(self) -> float:
        return self.measured.get(None, {}).get("rps", 0.0)

    @property
    def passed(self) -> bool:
        return not self.new_failures and self.history_ok and all(g.passed for g in self.gates)

    def to_result(self) -> LoadResult:
        """This step as the report's typed `LoadResult` (summary.json's `result`, capacity.json's steps)."""
        lin = self.linearizability
        return LoadResult(
            users=self.users,
            rate=self.rate,
            duration=round(self.duration, 3),
            passed=self.passed,
            throughput=round(self.throughput, 2),
            operations={
                name or "all": OperationStats(**{k.replace(".", "_"): round(v, 6) for k, v in values.items()})
                for name, values in self.measured.items()
            },
            gates=[
                GateOutcome(gate=g.gate.text, measured=g.measured, shown=g.line(), passed=g.passed) for g in self.gates
            ],
            failures=[FailureGroup(**f) for f in self.failures],
            error_codes=self.error_codes,
            harness={name: self.harness.get(name, 0) for name in HARNESS_ACTIONS},
            harness_actions=self.actions,
            generators=Generators(workers=self.generators.get("workers", 0), users=self.generators.get("users", 0)),
            distribution=self.distribution,
            arrival=Arrival(scheduled=self.scheduled, late=self.late) if self.rate else None,
            linearizability=Linearizability(
                ok=lin.ok,
                images=lin.keys,
                operations=lin.operations,
                history_dropped=self.history_dropped,
                undecided=list(lin.undecided),
                violations=[
                    LinearizabilityViolation(
                        image=v.key,
                        initial=v.initial,
                        text=v.describe(),
                        window=[
                            HistoryOperation(
                                kind=o.kind, value=o.value, invoke=o.invoke, complete=o.complete, client=o.client
                            )
                            for o in v.window
                        ],
                    )
                    for v in lin.violations
                ],
            ),
            timeline=[TimelineSecond(**row) for row in self.timeline],
            self_checks=[SelfCheck(check=c.check, ok=c.ok, text=c.text, advice=c.advice) for c in self.checks],
            generator_cpu=[
                GeneratorCpu(
                    pid=p.pid,
                    role=p.role,
                    mean_cpu=round(p.mean_cpu, 3),
                    mean_wait=round(p.mean_wait, 3),
                    saturated_share=round(p.saturated_share, 3),
                    seconds=[(s.t, round(s.cpu, 3), round(s.wait, 3)) for s in p.seconds],
                )
                for p in self.cpu
            ],
        )


class Session:
    """The target for the length of a load command (`zscheck.target.Target`), with the fixture images the
    users share out and each image's state before the next locust run; restored on close."""

    def __init__(self, run: LoadRun, images_needed: int, emit: Emit) -> None:
        self.run, self.emit = run, emit
        self.target = Target(
            run.target,
            run.report_dir / "journal.jsonl",
            embedded=EmbeddedServer(timing_seed=run.seed or 0),
        )
        self.images_needed = images_needed
        self.initial: dict[str, str] = {}  # each image's state before the command
        self.states: dict[str, str] = {}  # each image's state before the next locust run (capacity steps)

    @property
    def url(self) -> str:
        return self.target.url

    @property
    def actions(self) -> list[str]:
        """What the orchestrating client did on its own (re-logins, reconnects) while it set up and restored."""
        return self.target.actions

    def __enter__(self) -> Session:
        self.target.open()
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(self) -> None:
        run, fixtures = self.run, self.target.fixtures
        assert fixtures is not None
        if run.target.embedded:
            # The locust processes read the password where the plan says; the embedded server's is known.
            os.environ.setdefault(run.target.password_env, run.target.password())
        for uuid in run.target.images:
            self.initial[uuid] = str(fixtures.adopt(uuid).get("state"))
        if not run.target.images:
            storage = self.target.backup_storage()
            self.emit(Note("load", f"creating {self.images_needed} fixture images"))
            for i in range(self.images_needed):
                image = fixtures.create(f"zscheck-load-{i}", run.target.image_url, storage)
                self.initial[image["uuid"]] = str(image["state"])

    def close(self) -> list[str]:
        """Restore, log out, stop the embedded server; the restore problems (the same list when called again)."""
        return self.target.close()

    def final_reads(self) -> list[linearizability.Operation]:
        """After the run, read every image once more: a lost update shows up as a read no order explains."""
        client = self.target.main
        reads = []
        for uuid in self.initial:
            invoked = time.time()
            image = client.get_image(uuid)
            if image is not None:
                reads.append(
                    linearizability.Operation(uuid, "read", str(image["state"]), invoked, time.time(), "final")
                )
                self.states[uuid] = str(image["state"])  # where the next step starts from
        return reads


def images_needed(run: LoadRun, users: int) -> int:
    return max(run.hot_images, 1) if run.scenario == "contention" else max(users * run.images_per_user, 1)


def load_fingerprints(baseline: Baseline | None) -> tuple[str, ...]:
    """The --baseline's load fingerprints a finding is known under today (none without a baseline)."""
    return () if baseline is None else tuple(baseline.accepted(command="load"))


def execute(
    session: Session,
    run: LoadRun,
    gates: list[Gate],
    *,
    control: RunControl,
    users: int,
    rate: float | None,
    duration: float,
    out: Path,
    emit: Emit,
    known: tuple[str, ...] = (),
) -> StepResult:
    """One locust run against the prepared session; raises TargetError if locust could not run. `known`:
    the --baseline's load fingerprints (`load_fingerprints`), counted apart from the failures."""
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "raw-results.json"
    results_path.unlink(missing_ok=True)
    history_dir = out / "history"  # each locust process's operations, appended as they complete
    shutil.rmtree(history_dir, ignore_errors=True)
    history_dir.mkdir()
    plan = LoadPlan(
        target=session.url,
        scenario=run.scenario,  # type: ignore[arg-type]
        images=dict(session.states or session.initial),
        dialect=run.target.dialect,  # type: ignore[arg-type]
        account=run.target.account,
        password_env=run.target.password_env,
        password_file=run.target.password_file,
        workers=run.workers,
        rate=rate,
        images_per_user=run.images_per_user,
        hot_images=run.hot_images,
        query_ratio=run.query_ratio,
        error_ratio=run.error_ratio,
        read_after_write=run.read_after_write,
        seed=run.seed or 0,
        origin=time.time(),
        duration=duration,
        horizon=duration + STARTUP_ALLOWANCE + 600,
        results=str(results_path.resolve()),
        history_dir=str(history_dir.resolve()),
        history_local=not run.master,
        verify=run.target.verify,
        request_timeout=run.target.timeout,
        known=known,
    )
    (out / "plan.json").write_text(json.dumps(asdict(plan), indent=2))
    args = locust_command(run, plan, out, users=users, duration=duration)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with open(out / "locust.out", "w") as sink:
        proc = subprocess.Popen(
            args, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        sampler = selfcheck.Sampler(proc.pid, started)
        with _forward_signals(proc, control):
            _follow(
                proc, out / "locust_stats_history.csv", duration, started, emit, sampler,
                workers=run.expect_workers if run.master else 0, log=out / "locust.log",
            )  # fmt: skip
    if not results_path.exists():
        tail = (out / "locust.out").read_text(errors="replace").strip().splitlines()[-5:]
        raise TargetError(
            f"locust exited with {proc.returncode} and wrote no results; last lines of {out / 'locust.out'}: "
            + " | ".join(tail)
        )
    results = RunResults.read(results_path)
    if results.errors:  # a worker could not run: nothing this run measured can be judged
        raise TargetError("; ".join(results.errors))
    recorder = results.recorder
    initial = dict(plan.images)  # this run's start: a capacity step starts where the last one ended
    # The history files, a stretch at a time, each image cut where nothing is in flight: memory and time
    # that do not grow with the run's length (bench/soak.py). Each worker's operations go on the master's
    # clock; the final reads come after everything.
    clocks = {w: selfcheck.WorkerClock(tuple(r), results.stopped) for w, r in results.clocks.items() if r}
    unlocated: set[str] = set()  # --master: workers whose operations came in with no clock measured
    shifts = [run.clock_skew] + [c.reach + run.clock_skew for c in clocks.values()]
    checked, seen = linearizability.check_files(
        history_dir,
        initial,
        transform=lambda op: _on_master_clock(op, clocks, run.clock_skew, unlocated if run.master else None),
        lag=max(shifts),
        extra=session.final_reads(),
    )
    measured = recorder.metrics.measured(results.duration)
    if not measured.get("e2e", {}).get("count") and not recorder.failures:
        # No change was answered: a PASS would say the target held under load that never reached it (seen
        # on a starved CI machine, where start-up ate a 2 s run). Neither verdict is true; say why.
        sent = seen.writes
        raise TargetError(
            f"the run measured no state change in its {results.duration:.1f} s ({sent} sent, none answered): "
            f"every answer takes longer than that (the request timeout is {run.target.timeout:g} s), or locust's "
            f"start-up took over {STARTUP_ALLOWANCE:.0f} s; give it a longer --duration, and see locust.log"
        )
    codes: Counter[str] = Counter()
    for second in recorder.metrics.timeline.values():
        codes.update(second.codes)
    failures: list[dict[str, Any]] = [
        {"operation": g.operation, "check": g.check, "code": g.code, "count": g.count, "examples": g.examples}
        for g in sorted(recorder.failures.values(), key=lambda g: -g.count)
    ]
    checks = selfcheck.judge(
        sampler,
        processes=run.processes,
        users=users,
        rate=rate,
        delivered=measured.get(None, {}).get("rps", 0.0),
        scheduled=recorder.metrics.scheduled,
        late=recorder.metrics.late,
        history_dropped=recorder.history_dropped + seen.torn,
        remote_workers=run.master,
        skew_allowed=run.clock_skew,
        clocks=clocks or None,
        unlocated=sorted(unlocated),
    )
    return StepResult(
        checks=checks,
        cpu=sampler.generators(),
        users=users,
        rate=rate,
        duration=results.duration,
        measured=measured,
        gates=evaluate(gates, measured),
        failures=failures,
        linearizability=checked,
        late=recorder.metrics.late,
        scheduled=recorder.metrics.scheduled,
        timeline=recorder.metrics.timeline_rows(),
        error_codes=dict(codes),
        history_dropped=recorder.history_dropped + seen.torn,
        harness=dict(recorder.harness),
        actions=list(recorder.actions),
        known=frozenset(plan.known),
        distribution={name: recorder.metrics.distribution(name) for name in ("put", "job", "e2e", "query", "invalid")},
        generators={
            "workers": len({client.split("u", 1)[0] for client in seen.clients if client}),
            "users": len({client for client in seen.clients if client}),
        },
    )


def locust_command(run: LoadRun, plan: LoadPlan, out: Path, *, users: int, duration: float) -> list[str]:
    """The locust command line of one run: every option of the run that locust itself takes is here."""
    spawn_rate = run.spawn_rate or float(users)
    args = [
        sys.executable, "-m", "locust",
        "-f", str(LOADTESTS_DIR / f"{run.scenario}.py"),
        "--headless", "--only-summary",
        "-u", str(users), "-r", f"{spawn_rate:g}", "-t", f"{max(duration, 1) + STARTUP_ALLOWANCE:.0f}s",
        "--host", plan.target,
        "--stop-timeout", "5",
        "--html", str(out / "locust.html"),
        "--csv", str(out / "locust"), "--csv-full-history",
        "--json-file", str(out / "locust"),
        "--logfile", str(out / "locust.log"), "--loglevel", "INFO",
        "--exit-code-on-error", "0",
        "--zscheck-plan", plan.to_json(),
    ]  # fmt: skip
    if run.master:
        args += [
            "--master",
            "--expect-workers", str(run.expect_workers),
            "--master-bind-port", str(run.master_bind_port),
            "--master-bind-host", run.master_bind_host,
        ]  # fmt: skip
    elif run.processes > 1:
        args += ["--processes", str(run.processes)]
    return args


def _die_with_parent() -> None:
    """In the locust child, before exec: if `zscheck load` dies (even by kill -9), locust gets SIGTERM and
    stops, instead of loading the target for the rest of its duration with nobody to restore after it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _on_master_clock(
    op: linearizability.Operation,
    clocks: dict[str, selfcheck.WorkerClock],
    allowed: float,
    unlocated: set[str] | None = None,
) -> linearizability.Operation:
    """An operation timed by a worker, on the master's clock (which also times the final reads): less the
    worker's offset at that time, widened by its bound then and by --clock-skew (drift the rounds of
    measurement cannot see). Widening can only make more orders possible, so a skewed clock never makes a
    violation."""
    worker = op.client[1:].split("u", 1)[0] if op.client.startswith("w") else ""
    clock = clocks.get(worker)
    if clock is None and worker and unlocated is not None:
        unlocated.add(worker)  # a worker elsewhere whose clock was never measured: no order to judge by
    offset, bound = (0.0, 0.0) if clock is None else clock.at(op.invoke - clock.offset)
    widen = bound + allowed
    if not offset and not widen:
        return op
    complete = None if op.complete is None else op.complete - offset + widen
    return replace(op, invoke=op.invoke - offset - widen, complete=complete)


@contextmanager
def _forward_signals(proc: subprocess.Popen[Any], control: RunControl) -> Iterator[None]:
    """Ctrl-C or SIGTERM: locust is told to stop (it writes its results), then the caller restores."""

    def forward(signum: int) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    with control.handling_signals(forward):
        yield
    control.check()


def _follow(
    proc: subprocess.Popen[Any],
    history_csv: Path,
    duration: float,
    started: float,
    emit: Emit,
    sampler: selfcheck.Sampler | None = None,
    *,
    workers: int = 0,
    log: Path | None = None,
) -> None:
    """Wait for locust, with a progress event every few seconds and its CPU sampled every second; kill it
    if it overstays."""
    deadline = started + duration + STARTUP_ALLOWANCE + GRACE
    next_tick = started + 5
    next_sample = started
    stats = StatsTail(history_csv)
    while proc.poll() is None:
        now = time.monotonic()
        if sampler is not None and now >= next_sample:
            next_sample = now + 1.0
            sampler.sample(now)
        if now > deadline:
            proc.kill()
            proc.wait()
            raise TargetError(
                f"locust did not stop within {GRACE:.0f} s of the end of the run (and {STARTUP_ALLOWANCE:.0f} s "
                "allowed for its start-up); it was killed"
            )
        if now >= next_tick:
            next_tick = now + 5
            # Start-up is outside the measured window: the time so far, never past the duration.
            tick = stats.tick(min(now - started, duration), duration)
            joined = _joined(log) if workers and log is not None and tick.rps is None else None
            if joined is not None and joined < workers:
                emit(Note("load", f"waiting for workers ({joined}/{workers} joined)"))
            else:
                emit(tick)
        time.sleep(0.2)


_READY = re.compile(r"reported as ready\. (\d+) workers? connected|Waiting for workers to be ready, (\d+) of")


def _joined(log: Path) -> int:
    """How many workers the master has seen ready so far, from its log."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    found = _READY.findall(text)
    return int(found[-1][0] or found[-1][1]) if found else 0


def _tick(history_csv: Path, elapsed: float, duration: float) -> LoadTick:
    """Where the run is, from locust's per-second CSV read whole (see StatsTail, which `_follow` uses)."""
    return StatsTail(history_csv).tick(elapsed, duration)


class StatsTail:
    """Where the run is, in operations (the unit of the `rps` gate and the summary), from locust's
    per-second CSV with a row per entry (--csv-full-history): state changes and invalid requests are the
    `E2E` entries, queries the `images/{uuid}` reads; HTTP requests (PUTs, polls) are not operations.

    The CSV gains a dozen rows a second: an 8-hour soak's is some 400,000 rows. Read whole at every tick,
    it cost the `zscheck load` process memory and time that grew with the run; so each tick reads only
    the lines added since the last and keeps the last KEEP seconds, more than the rate needs."""

    KEEP = 60  # seconds of totals kept: the rate is taken over the last few moves (worker reports, 3 s)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""  # a line locust has not finished writing
        self.header: list[str] | None = None
        self.seconds: dict[int, dict[str, float]] = {}

    def _read(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        text = [line.decode(errors="replace") for line in lines]
        if self.header is None and text:
            self.header = next(csv.reader(text[:1]), [])
            text = text[1:]
        for values in csv.reader(text):
            self._add(dict(zip(self.header or [], values, strict=False)))
        if self.seconds:
            newest = max(self.seconds)
            for t in [t for t in self.seconds if t < newest - self.KEEP]:
                del self.seconds[t]

    def _add(self, row: dict[str, str]) -> None:
        try:
            t = int(float(row.get("Timestamp") or 0))
            count = float(row.get("Total Request Count") or 0)
            failed = float(row.get("Total Failure Count") or 0)
        except ValueError:
            return
        second = self.seconds.setdefault(t, {"operations": 0.0, "failures": 0.0, "users": 0.0})
        if row.get("Name") == "Aggregated":
            second["users"] = float(row.get("User Count") or 0)
        elif row.get("Type") == "E2E" or row.get("Name") == "images/{uuid}":
            second["operations"] += count
            second["failures"] += failed

    def tick(self, elapsed: float, duration: float) -> LoadTick:
        self._read()
        seconds = self.seconds
        # locust writes rows of zeros until its first stats arrive: those are no news, not a rate of 0
        done = sorted((t, s) for t, s in seconds.items() if s["operations"])
        if not done:
            return LoadTick("load", elapsed, duration)
        _, last = done[-1]
        # The rate between the seconds where the count moved: with --processes or workers the master's
        # totals move only when a worker reports (every 3 s), so a one-second delta reads 0 in between.
        moved = [done[0]] + [b for a, b in itertools.pairwise(done) if b[1]["operations"] != a[1]["operations"]]
        (t0, first), (t1, latest) = moved[max(len(moved) - 4, 0)], moved[-1]
        rate = (
            (latest["operations"] - first["operations"]) / (t1 - t0)
            if t1 > t0
            else last["operations"] / max(elapsed, 1.0)  # one report so far: what was done in the time so far
        )
        return LoadTick(
            "load",
            elapsed,
            duration,
            rps=rate,
            requests=int(last["operations"]),
            failures=int(last["failures"]),
            users=int(last["users"]),
        )


def verdict_of(step: StepResult, restore_problems: list[str], *, accepted: bool = False) -> Verdict:
    """`accepted`: every violation the run found is a known finding of the --baseline (reported, not failing)."""
    if step.failures and not accepted:
        return Verdict.VIOLATIONS
    if step.unjudged_history:
        return Verdict.COULD_NOT_RUN  # a worker's clock could not be located: the history's order is unknown
    if not step.linearizability.ok and not accepted:
        return Verdict.VIOLATIONS
    if step.unjudged_gates:
        return Verdict.COULD_NOT_RUN  # a gate broke while the generator was the limit: no verdict on the target
    if not all(g.passed for g in step.gates):
        return Verdict.VIOLATIONS
    if step.undelivered:
        return Verdict.COULD_NOT_RUN  # --rate: a pass at less than the offered rate is no pass at that rate
    # A history the checker could not decide is no verdict either way: the run could not finish its job.
    return Verdict.COULD_NOT_RUN if restore_problems or step.linearizability.undecided else Verdict.PASS


def seeded(run: LoadRun) -> LoadRun:
    return run if run.seed is not None else replace(run, seed=random.randrange(2**32))


def run_load(run: LoadRun, *, control: RunControl, emit: Emit = discard) -> Verdict:
    """`zscheck load`: PASS every check, gate and history passed; VIOLATIONS found; COULD NOT RUN. Whatever
    happens after the options are valid, summary.json is written and every image is restored."""
    gates = run.validate()
    baseline = run.known_findings()
    run = seeded(run)
    run.report_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    session = Session(run, images_needed(run, run.users), emit)
    step: StepResult | None = None
    error: str | None = None
    setup_violations: list[Violation] = []
    try:
        with session:
            emit(
                Note(
                    "load",
                    f"{run.scenario} on {session.url}, {run.users} users"
                    + (f" at {run.rate:g}/s" if run.rate else "")
                    + f" for {run.duration:g} s, seed {run.seed}",
                )
            )
            step = execute(
                session,
                run,
                gates,
                control=control,
                users=run.users,
                rate=run.rate,
                duration=run.duration,
                out=run.report_dir,
                emit=emit,
                known=load_fingerprints(baseline),
            )
    except SetupFailed as exc:  # setup is judged too: a target that broke the contract there has failed it
        error, setup_violations = str(exc), judge_setup(exc)
    except ZscheckError as exc:  # a refused login, an unreachable target, locust that would not run, ...
        error = str(exc)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: locust has stopped; the images went back on the way out
        error = "interrupted by a signal before the run could finish"
        step = None
    problems = session.close()
    result = step.to_result() if step else None
    findings = load_findings(result)
    fixed: list[str] = []
    if baseline is not None:
        findings = baseline.classify(findings, command="load")
        fixed = baseline.fixed(findings, command="load")
    accepted = baseline is not None and all(f.status == "known" for f in findings)
    verdict = Verdict.COULD_NOT_RUN if step is None else verdict_of(step, problems, accepted=accepted)
    if setup_violations:
        verdict = Verdict.VIOLATIONS
        error = f"the target broke the contract while the run set up: {setup_violations[0]}"
    elif step is not None and error is None and verdict is Verdict.COULD_NOT_RUN and step.unjudged_history:
        error = f"no verdict on the history: {step.unjudged_history}"
    elif step is not None and error is None and verdict is Verdict.COULD_NOT_RUN and step.unjudged_gates:
        error = f"no verdict on the target's gates: {step.unjudged_gates}"
    elif step is not None and error is None and verdict is Verdict.COULD_NOT_RUN and step.undelivered:
        error = f"no verdict at the offered rate: {step.undelivered}"
    summary = LoadSummary(
        verdict=cast(VerdictWord, verdict.word),
        exit_code=verdict.exit_code,
        harness_version=__version__,
        target=session.target.label,
        dialect=run.target.dialect,
        scenario=run.scenario,
        timing=run.target.timing if run.target.embedded else None,
        read_after_write=run.read_after_write,
        users=run.users,
        rate=run.rate,
        processes=run.workers,
        seed=run.seed,
        started=started,
        slo=list(run.slo),
        error=error,
        restore_problems=problems,
        result=result,
        files=dict(REPORT_FILES),
        setup_actions=session.actions,
        findings=findings,
        fixed=fixed,
        baseline=run.baseline,
        load=run.load_options(),
        duration=run.duration,
        replay=run.command_line(),
    )
    summary.files.update(draw_load(summary, run.report_dir, emit))
    summary.write(run.report_dir / "summary.json")
    write_junit(run.report_dir / "junit.xml", "zscheck load", cases=junit_cases(summary))
    if baseline is not None and run.baseline_update and step is not None:  # the verdict was the old file's
        written = baseline.updated(findings, command="load").write()
        emit(Note("load", f"baseline {written} written: {len(findings)} load finding(s) accepted"))
    for violation in setup_violations:
        emit(ViolationFound("load", violation.check, f"while setting up: {violation}"))
    for finding in findings[:10]:
        known = f" - {finding.status.upper()} ({finding.reason})" if finding.status != "new" else ""
        emit(
            ViolationFound(
                "load",
                finding.check,
                f"[{finding.id}] on {finding.operation} (code {finding.code}): {finding.count}x, "
                f"e.g. {finding.message}{known}",
            )
        )
    emit(
        VerdictReached(
            "load",
            verdict,
            summary.target,
            seed=run.seed,
            details=tuple(_verdict_lines(summary, step)),
            report=f"{run.report_dir} ({', '.join(_written(run.report_dir))})",
            reason=error,
        )
    )
    return verdict


def draw_load(summary: LoadSummary, directory: Path, emit: Emit) -> dict[str, str]:
    """Throughput and latency over time as PNG and SVG beside summary.json; what -> file name."""
    if summary.result is None or not summary.result.timeline:
        return {}
    from zscheck.report import plots

    try:
        return plots.write_figures(plots.load_figures(summary), directory)
    except Exception as exc:  # a chart that cannot be drawn never costs the verdict
        emit(Note("load", f"charts not drawn: {type(exc).__name__}: {exc}"))
        return {}


REPORT_FILES = {
    "locust_html": "locust.html",
    "locust_csv": "locust_stats.csv",
    "locust_json": "locust.json",
    "journal": "journal.jsonl",
    "junit": "junit.xml",
}


def _written(directory: Path) -> list[str]:
    """The report files that are there (locust's are not when it could not run)."""
    names = ("summary.json", "junit.xml", "locust.html", "journal.jsonl")
    return [name for name in names if (directory / name).exists()]


def _verdict_lines(summary: LoadSummary, step: StepResult | None) -> list[str]:
    """What explains a load verdict, one line each (the headline and the report path are the event's)."""
    lines = [f"scenario {summary.scenario}"]
    if summary.error:
        lines.append(f"could not run: {summary.error}")
    if step is not None:
        for name in ("e2e", "put", "job", "query", "invalid"):
            m = step.measured.get(name)
            if m:
                lines.append(
                    f"{name:8} {int(m['count']):7d} ops {m['rps']:8.1f}/s  p50 {m['p50'] * 1000:7.1f}ms  "
                    f"p99 {m['p99'] * 1000:7.1f}ms  p99.9 {m['p99.9'] * 1000:7.1f}ms  max {m['max'] * 1000:7.1f}ms  "
                    f"errors {m['error_rate'] * 100:.2f}%"
                    + (f" (+{int(m['known_failures'])} known)" if m.get("known_failures") else "")
                )
        if step.rate:
            lines.append(f"arrival rate {step.rate:g}/s: {step.late} of {step.scheduled} operations started late")
        for gate in step.gates:
            lines.append(f"gate {gate.line()}")
        done = {k: v for k, v in step.harness.items() if v and k not in ("connections", "read_after_write")}
        lines.append(
            f"harness: {step.harness.get('read_after_write', 0)} reads after writes, "
            + (", ".join(f"{v} {k}" for k, v in sorted(done.items())) or "no reconnects, re-sends or re-logins")
        )
        for check in step.checks:
            lines.append(f"self-check: {check.text}" + (f"; do: {check.advice}" if check.advice else ""))
        lin = step.linearizability
        lines.append(
            f"linearizability: {'ok' if lin.ok else 'VIOLATED'} ({lin.operations} operations on {lin.keys} images)"
        )
        if lin.undecided:
            lines.append(f"linearizability: undecided for {len(lin.undecided)} images (search budget spent)")
        for violation in lin.violations[:3]:
            lines.extend("  " + text for text in violation.describe().splitlines())
    if summary.baseline is not None:
        known = sum(1 for f in summary.findings if f.status == "known")
        lines.append(
            f"baseline {summary.baseline}: {known} known, {len(summary.findings) - known} new or expired, "
            f"{len(summary.fixed)} fixed" + (f" ({', '.join(summary.fixed)})" if summary.fixed else "")
        )
    for problem in summary.restore_problems:
        lines.append(f"could not restore {problem}")
    return lines
