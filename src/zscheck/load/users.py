"""Locust's side of a load run: the FastHttpUser every scenario in `loadtests/` builds on, and the event
hooks that set each process up and bring its results to the master.

Importing this module imports locust (and with it gevent's monkey-patching): only locustfiles import it,
never the `zscheck load` process that starts locust.

Flow: `zscheck load` passes the plan with `--zscheck-plan`; locust forwards custom options from the master
to every worker. On `test_start` each load-generating process logs in once (its users share the session),
and on each stats report a worker drains its recorder to the master, which absorbs it. When locust quits,
the master (or the only process) writes the raw results file named in the plan.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.ssl
from locust import FastHttpUser, constant, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from zscheck._models import Exchange
from zscheck._transport import Timeouts
from zscheck._wire import WireRequest, parse_json
from zscheck.checks import default_table
from zscheck.client import Client
from zscheck.credentials import read_password
from zscheck.errors import ConfigError
from zscheck.load.driver import EVENT_FOR, Driver, Sessions
from zscheck.load.plan import LoadPlan
from zscheck.load.recorder import Recorder, RunResults

PHASES = (0.02, 1.0)  # contention: phase lengths, log-uniform between these (seconds)
LATE = 0.01  # seconds behind its intended start before a scheduled operation counts as late
ALL_STATUSES = frozenset(range(100, 600))  # every status is an answer to judge, not an error to raise


@dataclass
class Pacer:
    """Arrival-rate mode: operation k of this process is due at start + k / rate, whoever sends it."""

    rate: float
    start: float = field(default_factory=time.perf_counter)
    issued: int = 0

    def next_due(self) -> float:
        due = self.start + self.issued / self.rate
        self.issued += 1
        return due


class Phases:
    """Wall-clock phases shared by every process: the boundaries follow from the plan's seed and origin."""

    def __init__(self, seed: int, origin: float, horizon: float) -> None:
        rng = random.Random(f"phases:{seed}")
        low, high = math.log(PHASES[0]), math.log(PHASES[1])
        self.bounds, t = [], origin
        while t < origin + horizon:
            t += math.exp(rng.uniform(low, high))
            self.bounds.append(t)

    def parity(self, now: float) -> int:
        return bisect.bisect(self.bounds, now) % 2


@dataclass
class ProcessState:
    plan: LoadPlan
    recorder: Recorder
    sessions: Sessions
    worker: int
    pacer: Pacer | None
    images: list[str]
    pool: list[str]  # images not yet claimed by a user of this process
    states: dict[str, str]
    client: Client
    phases: Phases
    users: itertools.count[int] = field(default_factory=itertools.count)


_state: ProcessState | None = None
_master = Recorder()  # the master's (or the only process's) total
_clock = {"started": 0.0, "stopped": 0.0}


class LocustWire:
    """The `Wire` seam over FastHttpUser: requests go through locust's HTTP client, and each one's stats
    entry is fired only once the checks have judged it, so a contract violation is a locust failure."""

    def __init__(self, user: FastHttpUser) -> None:
        self.agent = user.client.client  # geventhttpclient's user agent, without locust's own verdicts
        # Every status is an answer to judge, and a redirect is never followed (instance attributes: other
        # users in the process keep locust's defaults).
        setattr(self.agent, "valid_response_codes", ALL_STATUSES)  # noqa: B010
        setattr(self.agent, "redirect_response_codes", frozenset())  # noqa: B010
        # No cookies, like ZStack's own SDK (OkHttp's default): the JSESSIONID a real server sets plays no
        # part in authentication, and a cookie jar costs on every request.
        self.agent.cookiejar = None
        self.base = user.host.rstrip("/") if user.host else ""
        self.fire = user.environment.events.request.fire
        self.stats = user.environment.stats

    def send(self, request: WireRequest, name: str) -> Exchange:
        started, t0 = time.time(), time.perf_counter()
        try:
            response = self.agent.urlopen(
                self.base + request.path, method=request.method, payload=request.body, headers=dict(request.headers)
            )
            body = response.content or b""
            # Response headers are not copied: no check reads them, and copying costs on every request.
            exchange = Exchange(request, started, time.perf_counter() - t0, response.status_code)
            exchange.body = body
            exchange.json = parse_json(body)
        except Exception as exc:  # connection refused, reset, timeout: an answer that never came
            exchange = Exchange(request, started, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
        return exchange

    def settle(self, exchange: Exchange, name: str, failure: str | None) -> None:
        self.fire(
            request_type=exchange.request.method,
            name=name,
            response_time=exchange.elapsed * 1000,
            response_length=len(exchange.body),
            exception=None if failure is None else CheckFailed(failure),
            context={},
        )

    def measure(self, kind: str, name: str, seconds: float, failure: str | None) -> None:
        # A derived timing is not a request: it goes into its own entry but not into locust's request
        # total ("Aggregated" stays HTTP requests only), and not through the request event, which would
        # cost a second dispatch per state change on the generator's hot path.
        entry = self.stats.get(name, kind)
        entry.log(seconds * 1000, 0)
        if failure is not None:
            entry.log_error(failure)


class CheckFailed(Exception):
    """A locust failure named after the check: locust groups failures by this text, so it stays short."""


class ZscheckUser(FastHttpUser):
    """Base of every scenario: a driver over this user's connection, and this process's share of images."""

    abstract = True
    wait_time = constant(0)  # closed loop: the next operation as soon as the last one is judged

    def on_start(self) -> None:
        if _state is None:
            raise ConfigError("no load plan: start this locustfile with `zscheck load` (or pass --zscheck-plan)")
        self.state = _state
        number = next(_state.users)
        self.name = f"w{_state.worker}u{number}"
        self.rng = random.Random(f"{_state.plan.seed}:{self.name}")
        self.driver = Driver(
            LocustWire(self),
            _state.recorder,
            _state.plan,
            _state.sessions,
            client=self.name,
            rng=self.rng,
            table=default_table(),
            sleep=gevent.sleep,
        )
        if _state.plan.scenario == "contention":
            self.own = list(_state.images)  # everyone fights over the same few
        else:  # each user owns its images; if the pool runs dry (uneven split), it shares one
            take = min(_state.plan.images_per_user, len(_state.pool))
            self.own = [_state.pool.pop() for _ in range(take)] or [_state.images[number % len(_state.images)]]

    def paced(self, operation: Callable[[float | None], Any]) -> None:
        """Run one operation; in arrival-rate mode, at its intended time, and timed from it."""
        pacer = self.state.pacer
        if pacer is None:
            operation(None)
            return
        due = pacer.next_due()
        delay = due - time.perf_counter()
        metrics = self.state.recorder.metrics
        metrics.scheduled += 1
        if delay > 0:
            gevent.sleep(delay)
        elif -delay > LATE:
            metrics.late += 1
        operation(due)

    # ---------------------------------------------------------------- the scenarios' building blocks

    def toggle(self, intended: float | None = None, image: str | None = None) -> None:
        image = image or self.rng.choice(self.own)
        event = EVENT_FOR[self.state.states.get(image, "Enabled")]
        result = self.driver.change(image, event, intended=intended)
        if result is not None and result.ok:
            self.state.states[image] = "Enabled" if event == "enable" else "Disabled"

    def phased_change(self, intended: float | None = None) -> None:
        """Change a shared image to the value of the current phase: every user, in every process, writes
        the same value until the phase ends, then the other. With only two states, random writes would
        explain almost any read; phases make a lost or stale write stand out as a read no order explains.
        Phase lengths are random (20 ms to 1 s, from the seed), so faults of any time scale line up."""
        event = "enable" if self.state.phases.parity(time.time()) == 0 else "disable"
        self.driver.change(self.rng.choice(self.own), event, intended=intended)

    def read(self, intended: float | None = None) -> None:
        self.driver.read(self.rng.choice(self.own))

    def invalid(self, intended: float | None = None) -> None:
        self.driver.invalid(self.rng.choice(self.own))


# ------------------------------------------------------------------------------------ event hooks


def _options(parser: Any) -> None:
    parser.add_argument("--zscheck-plan", default="", help="the load plan (JSON), written by `zscheck load`")


def _test_start(environment: Environment, **_: Any) -> None:
    global _state
    _clock["started"] = time.time()
    if isinstance(environment.runner, MasterRunner):
        return  # the master generates no load; it only gathers
    options = environment.parsed_options
    if options is None or not options.zscheck_plan:
        raise ConfigError("no load plan: start the scenarios with `zscheck load` (it passes --zscheck-plan)")
    plan = LoadPlan.from_json(options.zscheck_plan)
    worker = environment.runner.worker_index if isinstance(environment.runner, WorkerRunner) else 0
    password = read_password(plan.password_env, plan.password_file)
    if password is None:
        raise ConfigError(f"no password: set {plan.password_env} (or a password file) on every worker machine")
    timeouts = Timeouts(connect=min(5.0, plan.request_timeout), read=plan.request_timeout)
    client = Client(plan.target, dialect=plan.dialect, verify=plan.verify, auto_relogin=False, timeouts=timeouts)
    # Users are created after test_start: they take the plan's timeouts and TLS settings from the class.
    ZscheckUser.network_timeout = ZscheckUser.connection_timeout = plan.request_timeout
    ZscheckUser.insecure = plan.verify is False  # locust's default is not to verify: zscheck verifies
    if isinstance(plan.verify, str):
        cafile = plan.verify
        # A class attribute: locust calls it as a method, so it takes (and ignores) the user.
        ZscheckUser.ssl_context_factory = lambda *_: gevent.ssl.create_default_context(cafile=cafile)
    client.login(plan.account, password)
    assert client.session is not None
    dead = None
    if plan.scenario == "errors":
        dead = client.extra_session()
        client.logout(dead)
    images = plan.images_for(worker)
    _state = ProcessState(
        plan=plan,
        recorder=Recorder(plan.history_limit),
        sessions=Sessions(client.session.uuid, dead),
        worker=worker,
        pacer=Pacer(plan.rate / max(plan.workers, 1)) if plan.rate else None,
        images=images,
        pool=list(reversed(images)),
        states={uuid: plan.images[uuid] for uuid in images},
        client=client,
        phases=Phases(plan.seed, plan.origin, plan.horizon),
    )


def _test_stop(environment: Environment, **_: Any) -> None:
    _clock["stopped"] = time.time()
    if _state is not None:
        try:
            _state.client.logout()  # a load run leaves no sessions behind
        finally:
            _state.client.close()


def _report(client_id: str, data: dict[str, Any]) -> None:
    if _state is not None:
        data["zscheck"] = _state.recorder.drain()


def _absorb(client_id: str, data: dict[str, Any]) -> None:
    if "zscheck" in data:
        _master.absorb(data["zscheck"])


def _quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    if _state is not None:
        _master.absorb(_state.recorder.drain())
    options = environment.parsed_options
    plan = LoadPlan.from_json(options.zscheck_plan) if options is not None and options.zscheck_plan else None
    if plan is not None and plan.results:
        stopped = _clock["stopped"] or time.time()
        RunResults.write(Path(plan.results), _master, _clock["started"] or stopped, stopped)


# locust's EventHook is untyped; registering in one place keeps the ignores to these lines.
events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_test_stop)  # type: ignore[no-untyped-call]
events.report_to_master.add_listener(_report)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_absorb)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_quitting)  # type: ignore[no-untyped-call]
