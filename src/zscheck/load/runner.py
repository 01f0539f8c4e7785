"""`zscheck load` and `zscheck capacity`: fixtures in, locust out, a verdict back.

The orchestrating process never imports locust: it prepares the target (the embedded reference server
unless one is named), creates and journals the fixture images, starts locust as a subprocess with a
plan, follows its progress from locust's CSV, reads the merged raw results, checks linearizability,
evaluates the gates, writes `summary.json`, and restores every image, whatever happened in between.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zscheck import __version__, linearizability
from zscheck._transport import Timeouts
from zscheck.client import Client
from zscheck.credentials import read_password
from zscheck.errors import ConfigError, TargetError, ZscheckError
from zscheck.fixtures import FixtureImages, Journal, restore
from zscheck.load.plan import SCENARIOS, LoadPlan
from zscheck.load.recorder import HARNESS_ACTIONS, RunResults
from zscheck.slo import Gate, GateResult, evaluate, parse_gate

LOADTESTS_DIR = Path(__file__).resolve().parents[3] / "loadtests"
EMBEDDED_PASSWORD = "password"
GRACE = 45.0  # seconds past the duration before a locust that will not stop is killed
TIMINGS = ("instant", "realistic")  # the embedded server's job timing profiles
Progress = Callable[[str], None]


@dataclass(frozen=True)
class LoadRun:
    report_dir: Path
    scenario: str = "toggle"
    target: str | None = None  # None: the embedded reference server
    dialect: str = "rest"
    account: str = "admin"
    password_env: str = "ZSCHECK_PASSWORD"
    password_file: str | None = None
    users: int = 10
    spawn_rate: float | None = None  # None: every user within a second
    duration: float = 30.0
    rate: float | None = None
    slo: tuple[str, ...] = ()
    processes: int = 1
    seed: int | None = None
    images: tuple[str, ...] = ()  # images named by the user (on a real target)
    images_per_user: int = 1
    hot_images: int = 2
    query_ratio: float = 0.5
    error_ratio: float = 0.25
    read_after_write: float = 0.25  # share of acknowledged changes of an owned image read back at once
    faults: tuple[str, ...] = ()
    timing: str = "instant"  # the embedded server's job timing: "instant" or "realistic" (like a real node)
    master: bool = False  # run locust's master only; workers join from other machines
    expect_workers: int = 1
    master_bind_port: int = 5557
    master_bind_host: str = "*"
    clock_skew: float = 0.0  # seconds: histories from several machines are widened by this much
    ca_bundle: str | None = None
    insecure: bool = False
    timeout: float = 30.0  # seconds any one request may take

    def validate(self) -> list[Gate]:
        if self.scenario not in SCENARIOS:
            raise ConfigError(
                f"--scenario {self.scenario!r} is not a scenario; choose one of {', '.join(SCENARIOS)} "
                "(`zscheck load --help` says what each does)"
            )
        if self.faults and self.target is not None:
            raise ConfigError("--fault applies to the embedded reference server only; drop --target or --fault")
        if self.images and self.target is None:
            raise ConfigError("--image names images on a --target; the embedded server's run creates its own")
        if self.timing not in TIMINGS:
            raise ConfigError(f"--timing {self.timing!r} is not a profile; choose one of {', '.join(TIMINGS)}")
        if self.timing != "instant" and self.target is not None:
            raise ConfigError(
                "--timing applies to the embedded reference server only (a --target has its own); drop one of them"
            )
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

    @property
    def throughput(self) -> float:
        return self.measured.get(None, {}).get("rps", 0.0)

    @property
    def passed(self) -> bool:
        return not self.failures and self.linearizability.ok and all(g.passed for g in self.gates)

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "rate": self.rate,
            "duration": round(self.duration, 3),
            "passed": self.passed,
            "throughput": round(self.throughput, 2),
            "operations": {name or "all": _rounded(values) for name, values in self.measured.items()},
            "gates": [
                {"gate": g.gate.text, "measured": g.measured, "shown": g.line(), "passed": g.passed} for g in self.gates
            ],
            "failures": self.failures,
            "error_codes": self.error_codes,
            "harness": {name: self.harness.get(name, 0) for name in HARNESS_ACTIONS},
            "harness_actions": self.actions,
            "generators": self.generators,
            "distribution": self.distribution,
            "arrival": {"scheduled": self.scheduled, "late": self.late} if self.rate else None,
            "linearizability": {
                "ok": self.linearizability.ok,
                "images": self.linearizability.keys,
                "operations": self.linearizability.operations,
                "history_dropped": self.history_dropped,
                "undecided": self.linearizability.undecided,
                "violations": [
                    {
                        "image": v.key,
                        "initial": v.initial,
                        "text": v.describe(),
                        "window": [
                            {
                                "kind": o.kind,
                                "value": o.value,
                                "invoke": o.invoke,
                                "complete": o.complete,
                                "client": o.client,
                            }
                            for o in v.window
                        ],
                    }
                    for v in self.linearizability.violations
                ],
            },
            "timeline": self.timeline,
        }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in values.items()}


class Session:
    """The target for the length of a command: server, login, fixture images, journal; restored on close."""

    def __init__(self, run: LoadRun, images_needed: int, progress: Progress) -> None:
        self.run, self.progress = run, progress
        self._server: Any = None
        self.client: Client | None = None
        self.fixtures: FixtureImages | None = None
        self.journal: Journal | None = None
        self.images_needed = images_needed
        self.initial: dict[str, str] = {}  # each image's state before the command
        self.states: dict[str, str] = {}  # each image's state before the next locust run (capacity steps)
        self.url = ""
        # What the orchestrating client did on its own (re-logins, reconnects) while it set up and restored.
        self.actions: list[str] = []

    def __enter__(self) -> Session:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        run = self.run
        password = read_password(run.password_env, run.password_file)
        if run.target is None:
            from zscheck.refserver import ServerConfig, start_in_thread

            # The realistic profile (jobs take tens to hundreds of ms, seeded) is asked for only when chosen,
            # so an instant run works with a server that predates the profile.
            timing: dict[str, Any] = {}
            if run.timing != "instant":
                timing = {"timing": run.timing, "timing_seed": run.seed or 0}
            try:
                config = ServerConfig(
                    port=0,
                    db=":memory:",
                    dialect=run.dialect,  # type: ignore[arg-type]
                    faults=run.faults,
                    seed_images=0,
                    **timing,
                )
            except TypeError as exc:
                raise ConfigError(f"this reference server has no --timing {run.timing} profile ({exc})") from None
            self._server = start_in_thread(config)
            self.url = self._server.url
            password = password or EMBEDDED_PASSWORD
            os.environ.setdefault(run.password_env, password)  # the locust processes read it from here
        else:
            self.url = run.target.rstrip("/")
        if password is None:
            raise ConfigError(
                f"no password for account {run.account!r}: set {run.password_env}, or pass --password-file FILE"
            )
        verify: bool | str = run.ca_bundle or not run.insecure
        self.client = Client(
            self.url,
            dialect=run.dialect,  # type: ignore[arg-type]
            verify=verify,
            timeouts=Timeouts(connect=min(5.0, run.timeout), read=run.timeout),
        )
        self.client.login(run.account, password)
        self.journal = Journal.create(run.report_dir / "journal.jsonl", self.url)
        self.fixtures = FixtureImages(self.client, self.journal)
        for uuid in run.images:
            self.initial[uuid] = str(self.fixtures.adopt(uuid).get("state"))
        if not run.images:
            storage = self.client.backup_storage()
            if not storage:
                raise TargetError("the target has no backup storage to create fixture images on; pass --image UUID")
            self.progress(f"load: creating {self.images_needed} fixture images")
            for i in range(self.images_needed):
                image = self.fixtures.create(
                    f"zscheck-load-{i}", "http://zscheck.invalid/load.qcow2", storage[0]["uuid"]
                )
                self.initial[image["uuid"]] = str(image["state"])

    def close(self) -> list[str]:
        problems: list[str] = []
        if self.client is not None and self.journal is not None:
            try:
                report = restore(self.journal, self.client)
                problems = [f"{uuid}: {why}" for uuid, why in report.failed.items()]
            except ZscheckError as exc:
                problems = [str(exc)]
            finally:
                with suppress(ZscheckError):
                    self.client.logout()
                self.actions = [f"{a.kind}: {a.detail}" for a in self.client.actions]
                self.client.close()
                self.client = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        return problems

    def final_reads(self) -> list[linearizability.Operation]:
        """After the run, read every image once more: a lost update shows up as a read no order explains."""
        assert self.client is not None
        reads = []
        for uuid in self.initial:
            invoked = time.time()
            image = self.client.get_image(uuid)
            if image is not None:
                reads.append(
                    linearizability.Operation(uuid, "read", str(image["state"]), invoked, time.time(), "final")
                )
                self.states[uuid] = str(image["state"])  # where the next step starts from
        return reads


def images_needed(run: LoadRun, users: int) -> int:
    return max(run.hot_images, 1) if run.scenario == "contention" else max(users * run.images_per_user, 1)


def execute(
    session: Session,
    run: LoadRun,
    gates: list[Gate],
    *,
    users: int,
    rate: float | None,
    duration: float,
    out: Path,
    progress: Progress,
) -> StepResult:
    """One locust run against the prepared session; raises TargetError if locust could not run."""
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "raw-results.json"
    results_path.unlink(missing_ok=True)
    plan = LoadPlan(
        target=session.url,
        scenario=run.scenario,  # type: ignore[arg-type]
        images=dict(session.states or session.initial),
        dialect=run.dialect,  # type: ignore[arg-type]
        account=run.account,
        password_env=run.password_env,
        password_file=run.password_file,
        workers=run.workers,
        rate=rate,
        images_per_user=run.images_per_user,
        hot_images=run.hot_images,
        query_ratio=run.query_ratio,
        error_ratio=run.error_ratio,
        read_after_write=run.read_after_write,
        seed=run.seed or 0,
        origin=time.time(),
        horizon=duration + 600,
        results=str(results_path.resolve()),
        verify=run.ca_bundle or not run.insecure,
        request_timeout=run.timeout,
    )
    (out / "plan.json").write_text(json.dumps(asdict(plan), indent=2))
    spawn_rate = run.spawn_rate or float(users)
    args = [
        sys.executable, "-m", "locust",
        "-f", str(LOADTESTS_DIR / f"{run.scenario}.py"),
        "--headless", "--only-summary",
        "-u", str(users), "-r", f"{spawn_rate:g}", "-t", f"{max(duration, 1):.0f}s",
        "--host", session.url,
        "--stop-timeout", "5",
        "--html", str(out / "locust.html"),
        "--csv", str(out / "locust"),
        "--json-file", str(out / "locust"),
        "--logfile", str(out / "locust.log"), "--loglevel", "INFO",
        "--exit-code-on-error", "0",
        "--zscheck-plan", plan.to_json(),
    ]  # fmt: skip
    if run.master:
        args += [
            "--master",
            "--expect-workers",
            str(run.expect_workers),
            "--master-bind-port",
            str(run.master_bind_port),
        ]
    elif run.processes > 1:
        args += ["--processes", str(run.processes)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with open(out / "locust.out", "w") as sink:
        proc = subprocess.Popen(
            args, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        with _forward_signals(proc):
            _follow(proc, out / "locust_stats_history.csv", duration, started, progress)
    if not results_path.exists():
        tail = (out / "locust.out").read_text(errors="replace").strip().splitlines()[-5:]
        raise TargetError(
            f"locust exited with {proc.returncode} and wrote no results; last lines of {out / 'locust.out'}: "
            + " | ".join(tail)
        )
    results = RunResults.read(results_path)
    recorder = results.recorder
    initial = dict(plan.images)  # this run's start: a capacity step starts where the last one ended
    history = [_widen(op, run.clock_skew) for op in recorder.history] + session.final_reads()
    checked = linearizability.check(history, initial=initial)
    measured = recorder.metrics.measured(results.duration)
    codes: Counter[str] = Counter()
    for second in recorder.metrics.timeline.values():
        codes.update(second.codes)
    failures: list[dict[str, Any]] = [
        {"operation": g.operation, "check": g.check, "code": g.code, "count": g.count, "examples": g.examples}
        for g in sorted(recorder.failures.values(), key=lambda g: -g.count)
    ]
    return StepResult(
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
        history_dropped=recorder.history_dropped,
        harness=dict(recorder.harness),
        actions=list(recorder.actions),
        distribution={name: recorder.metrics.distribution(name) for name in ("put", "job", "e2e", "query", "invalid")},
        generators={
            "workers": len({op.client.split("u", 1)[0] for op in recorder.history if op.client}),
            "users": len({op.client for op in recorder.history if op.client}),
        },
    )


def _die_with_parent() -> None:
    """In the locust child, before exec: if `zscheck load` dies (even by kill -9), locust gets SIGTERM and
    stops, instead of loading the target for the rest of its duration with nobody to restore after it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _widen(op: linearizability.Operation, skew: float) -> linearizability.Operation:
    if not skew:
        return op
    return replace(op, invoke=op.invoke - skew, complete=None if op.complete is None else op.complete + skew)


_signals_received: list[int] = []  # every Ctrl-C or SIGTERM a load run was stopped by, in this process


def interrupted() -> bool:
    return bool(_signals_received)


@contextmanager
def _forward_signals(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """Ctrl-C or SIGTERM: locust is told to stop (it writes its results), then the caller restores."""
    before = len(_signals_received)

    def forward(signum: int, frame: object) -> None:
        _signals_received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if len(_signals_received) > before:
        raise KeyboardInterrupt(f"signal {_signals_received[before]}")


def _follow(
    proc: subprocess.Popen[Any], history_csv: Path, duration: float, started: float, progress: Progress
) -> None:
    """Wait for locust, printing a progress line every few seconds; kill it if it overstays."""
    deadline = started + duration + GRACE
    next_line = started + 5
    while proc.poll() is None:
        now = time.monotonic()
        if now > deadline:
            proc.kill()
            proc.wait()
            raise TargetError(f"locust did not stop within {GRACE:.0f} s of the end of the run; it was killed")
        if now >= next_line:
            next_line = now + 5
            progress(_progress_line(history_csv, now - started, duration))
        time.sleep(0.2)


def _progress_line(history_csv: Path, elapsed: float, duration: float) -> str:
    line = f"load: {min(elapsed, duration):3.0f}/{duration:.0f} s"
    try:
        with history_csv.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"]
    except OSError:
        rows = []
    if rows:
        last = rows[-1]
        line += (
            f"  {float(last.get('Requests/s') or 0):7.0f} req/s  {last.get('Total Request Count', '0')} requests"
            f"  {last.get('Total Failure Count', '0')} failures  users {last.get('User Count', '0')}"
        )
    return line


def verdict_code(step: StepResult, restore_problems: list[str]) -> int:
    if not step.passed:
        return 1
    # A history the checker could not decide is no verdict either way: the run could not finish its job.
    return 2 if restore_problems or step.linearizability.undecided else 0


def run_load(run: LoadRun, progress: Progress = print) -> int:
    """`zscheck load`: 0 every check, gate and history passed; 1 violations found; 2 could not run."""
    gates = run.validate()
    run.report_dir.mkdir(parents=True, exist_ok=True)
    seed = run.seed if run.seed is not None else random.randrange(2**32)
    run = replace(run, seed=seed)
    started = time.time()
    session = Session(run, images_needed(run, run.users), progress)
    step: StepResult | None = None
    error: str | None = None
    problems: list[str] = []
    try:
        with session:
            progress(
                f"load: {run.scenario} on {session.url}, {run.users} users"
                + (f" at {run.rate:g}/s" if run.rate else "")
                + f" for {run.duration:g} s, seed {seed}"
            )
            step = execute(
                session,
                run,
                gates,
                users=run.users,
                rate=run.rate,
                duration=run.duration,
                out=run.report_dir,
                progress=progress,
            )
            problems = session.close()
    except (TargetError, ConfigError) as exc:
        error = str(exc)
        problems = session.close()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: locust has stopped; the images go back before we exit
        error = "interrupted by a signal before the run could finish"
        step = None
        problems = session.close()
    code = 2 if step is None else verdict_code(step, problems)
    summary = _summary(run, session.url, started, step, error, problems, code)
    summary["setup_actions"] = session.actions
    (run.report_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    for line in _verdict_lines(summary, step, run.report_dir):
        progress(line)
    return code


def _summary(
    run: LoadRun, url: str, started: float, step: StepResult | None, error: str | None, problems: list[str], code: int
) -> dict[str, Any]:
    verdict = {0: "PASS", 1: "VIOLATIONS", 2: "COULD NOT RUN"}[code]
    return {
        "command": "load",
        "verdict": verdict,
        "exit_code": code,
        "harness_version": __version__,
        "target": run.target or f"embedded reference server ({url})",
        "dialect": run.dialect,
        "scenario": run.scenario,
        "timing": run.timing if run.target is None else None,
        "read_after_write": run.read_after_write,
        "users": run.users,
        "rate": run.rate,
        "processes": run.workers,
        "seed": run.seed,
        "started": started,
        "slo": list(run.slo),
        "error": error,
        "restore_problems": problems,
        "result": step.to_json() if step else None,
        "files": {
            "locust_html": "locust.html",
            "locust_csv": "locust_stats.csv",
            "locust_json": "locust.json",
            "journal": "journal.jsonl",
        },
    }


def _verdict_lines(summary: dict[str, Any], step: StepResult | None, report_dir: Path) -> list[str]:
    lines = [
        f"zscheck: {summary['verdict']} - {summary['target']}, scenario {summary['scenario']}, seed {summary['seed']}"
    ]
    if summary["error"]:
        lines.append(f"zscheck: could not run: {summary['error']}")
    if step is not None:
        for name in ("e2e", "put", "job", "query", "invalid"):
            m = step.measured.get(name)
            if m:
                lines.append(
                    f"zscheck: {name:8} {int(m['count']):7d} ops {m['rps']:8.1f}/s  p50 {m['p50'] * 1000:7.1f}ms  "
                    f"p99 {m['p99'] * 1000:7.1f}ms  p99.9 {m['p99.9'] * 1000:7.1f}ms  max {m['max'] * 1000:7.1f}ms  "
                    f"errors {m['error_rate'] * 100:.2f}%"
                )
        if step.rate:
            lines.append(
                f"zscheck: arrival rate {step.rate:g}/s: {step.late} of {step.scheduled} operations started late"
            )
        for gate in step.gates:
            lines.append(f"zscheck: gate {gate.line()}")
        done = {k: v for k, v in step.harness.items() if v and k not in ("connections", "read_after_write")}
        lines.append(
            f"zscheck: harness: {step.harness.get('read_after_write', 0)} reads after writes, "
            + (", ".join(f"{v} {k}" for k, v in sorted(done.items())) or "no reconnects, re-sends or re-logins")
        )
        for failure in step.failures[:10]:
            lines.append(
                f"zscheck: violation {failure['check']} on {failure['operation']} (code {failure['code']}): "
                f"{failure['count']}x, e.g. {failure['examples'][0]['message'] if failure['examples'] else ''}"
            )
        lin = step.linearizability
        lines.append(
            f"zscheck: linearizability: {'ok' if lin.ok else 'VIOLATED'} "
            f"({lin.operations} operations on {lin.keys} images)"
        )
        if lin.undecided:
            lines.append(f"zscheck: linearizability: undecided for {len(lin.undecided)} images (search budget spent)")
        for violation in lin.violations[:3]:
            lines.extend("zscheck:   " + text for text in violation.describe().splitlines())
    for problem in summary["restore_problems"]:
        lines.append(f"zscheck: could not restore {problem}")
    lines.append(f"zscheck: reports in {report_dir} (summary.json, locust.html)")
    return lines


def knee(steps: list[StepResult]) -> StepResult | None:
    """The highest throughput sustained with every gate met and no violation."""
    passing = [s for s in steps if s.passed]
    return max(passing, key=lambda s: s.throughput) if passing else None


def run_capacity(
    run: LoadRun,
    *,
    start: float,
    step: float,
    stop: float,
    step_duration: float,
    by_rate: bool,
    progress: Progress = print,
) -> int:
    """Raise the load step by step until a gate breaks (or `stop`); report the knee and every step."""
    gates = run.validate()
    if not gates:
        raise ConfigError("capacity needs at least one --slo gate to know when to stop, e.g. --slo 'p99<250ms'")
    if start <= 0 or step <= 0 or stop < start:
        raise ConfigError(
            f"steps from {start:g} by {step:g} up to {stop:g}: give --start > 0, --step > 0, --stop >= --start"
        )
    run.report_dir.mkdir(parents=True, exist_ok=True)
    seed = run.seed if run.seed is not None else random.randrange(2**32)
    run = replace(run, seed=seed)
    levels = [start + i * step for i in range(math.floor((stop - start) / step + 1e-9) + 1)]
    max_users = run.users if by_rate else int(max(levels))
    steps: list[StepResult] = []
    error: str | None = None
    problems: list[str] = []
    session = Session(run, images_needed(run, max_users), progress)
    try:
        with session:
            for i, level in enumerate(levels, 1):
                users = run.users if by_rate else int(level)
                rate = level if by_rate else run.rate
                progress(f"capacity: step {i}/{len(levels)}: " + (f"{level:g}/s" if by_rate else f"{users} users"))
                result = execute(
                    session,
                    run,
                    gates,
                    users=users,
                    rate=rate,
                    duration=step_duration,
                    out=run.report_dir / f"step-{i:02d}",
                    progress=progress,
                )
                steps.append(result)
                progress(
                    f"capacity: step {i}: {result.throughput:.1f} ops/s, "
                    + ("all gates met" if result.passed else "BROKEN: " + _why(result))
                )
                if not result.passed:
                    break
            problems = session.close()
    except (TargetError, ConfigError) as exc:
        error = str(exc)
        problems = session.close()
    except KeyboardInterrupt:
        error = "interrupted by a signal before the search could finish"
        problems = session.close()
    best = knee(steps)
    # A gate breaking is what a capacity search looks for; a contract or linearizability violation is not.
    violations = any(s.failures or not s.linearizability.ok for s in steps)
    code = 2 if error or problems or not steps else (1 if violations or best is None else 0)
    document = {
        "command": "capacity",
        "target": run.target or f"embedded reference server ({session.url})",
        "scenario": run.scenario,
        "by": "rate" if by_rate else "users",
        "seed": seed,
        "slo": list(run.slo),
        "error": error,
        "restore_problems": problems,
        "knee": None
        if best is None
        else {"users": best.users, "rate": best.rate, "throughput": round(best.throughput, 2)},
        "steps": [s.to_json() for s in steps],
    }
    (run.report_dir / "capacity.json").write_text(json.dumps(document, indent=2))
    progress("capacity: step  load        ops/s     p99 ms  verdict")
    for i, s in enumerate(steps, 1):
        load = f"{s.rate:g}/s" if by_rate else f"{s.users} users"
        p99 = s.measured.get(None, {}).get("p99", 0) * 1000
        progress(
            f"capacity: {i:4d}  {load:10} {s.throughput:8.1f} {p99:10.1f}  {'ok' if s.passed else 'broken: ' + _why(s)}"
        )
    if best is not None:
        progress(
            f"capacity: knee at {best.throughput:.1f} ops/s ({best.rate:g}/s offered)"
            if by_rate
            else f"capacity: knee at {best.throughput:.1f} ops/s with {best.users} users"
        )
    elif error is None:
        progress("capacity: no step met every gate: the knee is below the first step")
    if error:
        progress(f"zscheck: could not run: {error}")
    progress(f"capacity: report in {run.report_dir / 'capacity.json'}")
    return code


def _why(step: StepResult) -> str:
    reasons = [g.line() for g in step.gates if not g.passed]
    reasons += [f"{f['check']} x{f['count']}" for f in step.failures[:2]]
    if not step.linearizability.ok:
        reasons.append("linearizability violated")
    return "; ".join(reasons)
