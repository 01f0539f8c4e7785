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
import csv
import itertools
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.lock
import gevent.ssl
import locust.stats
from geventhttpclient.url import URL
from locust import FastHttpUser, constant, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from zscheck._models import Exchange
from zscheck._transport import Timeouts
from zscheck._wire import WireRequest, parse_json
from zscheck.checks import default_table
from zscheck.client import Client
from zscheck.credentials import read_password
from zscheck.errors import ConfigError, ZscheckError
from zscheck.expiry import Stamp
from zscheck.load import heap, selfcheck
from zscheck.load.driver import EVENT_FOR, SAME_EVENT, Driver, Sessions
from zscheck.load.plan import LoadPlan
from zscheck.load.recorder import Recorder, RunResults

PHASES = (0.02, 1.0)  # contention: race phase lengths, log-uniform between these (seconds)
SOLO_PHASES = (0.1, 0.6)  # contention: solo phases are long enough for reads to follow their one write
SOLO_SHARE = 0.3  # contention: share of phases in which one user writes once and everyone else reads
SAME_STATE_SHARE = 0.05  # toggle: share of an owned image's changes that repeat its state (lastOpDate stays)
LEADER = "w0u0"  # contention: the user that writes in solo phases (worker 0's first user always exists)
SOLO_STEP = 0.05  # contention: seconds LEADER waits after each write in a solo phase, for the reads
SOLO_READ_PAUSE = 0.005  # contention: seconds between a user's reads in a solo phase (enough to see, no flood)
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
    """Wall-clock phases shared by every process: the boundaries follow from the plan's seed and origin.

    Phase i writes Enabled when i is even and Disabled when odd. A race phase has every user write its
    value (races, lost updates). A solo phase has one user (LEADER) alone write, each hot image at a time,
    the other value every SOLO_STEP, while every other user reads: in a race phase the next write of the
    same value hides a write that was acknowledged but never stored; in a solo phase every write is a real
    change that nothing hides, and the reads after it show the state it did not set."""

    def __init__(self, seed: int, origin: float, horizon: float) -> None:
        rng = random.Random(f"phases:{seed}")
        self.bounds: list[float] = []
        self.solo: list[bool] = []
        t = origin
        while t < origin + horizon:
            solo = rng.random() < SOLO_SHARE
            low, high = SOLO_PHASES if solo else PHASES
            t += math.exp(rng.uniform(math.log(low), math.log(high)))
            self.bounds.append(t)
            self.solo.append(solo)

    def at(self, now: float) -> tuple[int, bool]:
        """The phase `now` falls in, and whether it is a solo phase."""
        index = bisect.bisect(self.bounds, now)
        return index, index < len(self.solo) and self.solo[index]

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
    login_lock: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)

    def relogin(self, failed: str) -> bool:
        """The target ended the process's session: log in again, once for all its users."""
        with self.login_lock:
            if self.sessions.live != failed:
                return False  # another user already did
            try:
                session = self.client.relogin()
            except ZscheckError as exc:  # a target that now refuses the credentials: judged, not a crash
                self.recorder.count("relogin_failures", f"{time.time():.3f}: the re-login failed: {exc}")
                return False
            self.sessions.live, self.sessions.accepted = session.uuid, Stamp.now()
            self.sessions.timeout = session.timeout
            return True


_state: ProcessState | None = None
_master = Recorder()  # the master's (or the only process's) total
_clock = {"started": 0.0, "stopped": 0.0, "opened": 0.0}
# locust flushes its CSVs every 5 s: the progress lines, read from the history CSV, would lag or start
# at nothing while work is done. Every second instead (it writes them every second anyway).
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1
WORKER_ERROR = "zscheck_worker_error"  # a worker's message to the master: it cannot run, and why
WORKER_READY = "zscheck_worker_ready"  # a worker's message to the master: logged in, its users start now
# The master measures each worker's clock against its own, NTP's way: it sends its time, the worker
# answers with it and its own, and the offset is the worker's time less the round trip's midpoint,
# true within half the round trip. The shortest of CLOCK_SAMPLES round trips bounds it best. A round is
# made when the worker is ready and again every CLOCK_INTERVAL (an eighth of the run, 1 to 30 s): clocks
# drift, and an 8-hour soak must not judge its last hour by its first minute's offset (selfcheck.WorkerClock).
CLOCK_PING, CLOCK_PONG = "zscheck_clock_ping", "zscheck_clock_pong"
CLOCK_SAMPLES = 5
CLOCK_INTERVAL = (1.0, 30.0)  # s: the least and the most between two rounds
MACHINE = selfcheck.machine_id()
# worker index -> its rounds: (the master's time, the worker's clock less the master's, the bound), s
_clocks: dict[str, list[tuple[float, float, float]]] = {}
_round: dict[str, tuple[int, float, float, float]] = {}  # node id -> (round trips, best's time, offset, bound)
_same_machine: set[str] = set()  # node ids of workers on the master's machine: never measured again
_worker_errors: list[str] = []
_released = {"times": 0, "seconds": 0.0}  # heap releases in this process, and the time they took


class NotResent(ConnectionError):
    """The connection closed after the request went out and before an answer: the HTTP library would send
    it again on a new connection, and that is refused here (a re-sent PUT is a second request)."""


class OneSendPerRequest:
    """Guards a geventhttpclient connection pool so that each request is sent at most once, and counts the
    connections it opens.

    geventhttpclient's `HTTPClient.request` re-sends an idempotent request (GET, PUT, DELETE) on another
    connection when the one it used is closed without an answer, up to the pool's size + 1 times, whatever
    the user agent's `max_retries` says: a server dropping connections would pass with nothing recorded.
    Every (re-)send takes a socket from the pool first, so refusing a request its second socket stops it,
    whichever retry path the library version takes. A kept-alive socket found dead before the send is
    replaced inside the first `get_socket`: a reconnect, counted, but not a re-send."""

    def __init__(self, pool: Any, recorder: Recorder) -> None:
        self.recorder = recorder
        self.taken = 0
        self.opened = 0
        self._get, self._create = pool.get_socket, pool._create_socket
        pool.get_socket, pool._create_socket = self._get_socket, self._create_socket

    def _get_socket(self) -> Any:
        self.taken += 1
        if self.taken > 1:
            self.recorder.count("resends_refused")
            raise NotResent(
                "the connection was closed after the request was sent, without an answer "
                "(the HTTP library's re-send was refused: zscheck sends each request once)"
            )
        return self._get()

    def _create_socket(self) -> Any:
        self.opened += 1
        self.recorder.count("connections")
        if self.opened > 1:
            self.recorder.count("reconnects")
        return self._create()


class LocustWire:
    """The `Wire` seam over FastHttpUser: requests go through locust's HTTP client, and each one's stats
    entry is fired only once the checks have judged it, so a contract violation is a locust failure.
    Each request is sent once: no retry by locust (`max_retries` 0) or by geventhttpclient (see
    OneSendPerRequest); an answer that never came is an exchange with an error (`transport`)."""

    def __init__(self, user: FastHttpUser, recorder: Recorder) -> None:
        self.agent = user.client.client  # geventhttpclient's user agent, without locust's own verdicts
        self.agent.max_retries = 0
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
        # The one host's client, made now (the pool makes it on first use) so its connections can be guarded.
        self.guard = OneSendPerRequest(self.agent.clientpool.get_client(URL(self.base))._connection_pool, recorder)

    def send(self, request: WireRequest, name: str) -> Exchange:
        started, t0 = time.time(), time.perf_counter()
        self.guard.taken = 0
        try:
            response = self.agent.urlopen(
                self.base + request.path,
                method=request.method,
                payload=request.body,
                headers=dict(request.headers),
                max_retries=0,
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
    max_retries = 0  # locust's own retry: never (geventhttpclient's is refused by OneSendPerRequest)

    def on_start(self) -> None:
        if _state is None:
            raise ConfigError("no load plan: start this locustfile with `zscheck load` (or pass --zscheck-plan)")
        self.state = _state
        number = next(_state.users)
        self.name = f"w{_state.worker}u{number}"
        self.rng = random.Random(f"{_state.plan.seed}:{self.name}")
        self.driver = Driver(
            LocustWire(self, _state.recorder),
            _state.recorder,
            _state.plan,
            _state.sessions,
            client=self.name,
            rng=self.rng,
            table=default_table(),
            sleep=gevent.sleep,
            relogin=_state.relogin,
        )
        self.solo_done = -1  # contention: the solo phase this user (LEADER) is writing in
        self.solo_event = "enable"  # contention: what LEADER writes next in it
        if _state.plan.scenario == "contention":
            self.own = list(_state.images)  # everyone fights over the same few
        else:  # each user owns its images; if the pool runs dry (uneven split), it shares one
            take = min(_state.plan.images_per_user, len(_state.pool))
            self.own = [_state.pool.pop() for _ in range(take)]
            for image in self.own:  # owned alone: judged in sequence from the image as first seen
                self.driver.adopt(image)
            self.own = self.own or [_state.images[number % len(_state.images)]]

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
        owned = self.driver.current(image)
        state = owned or self.state.states.get(image, "Enabled")
        event = EVENT_FOR[state]
        if owned is not None and self.rng.random() < SAME_STATE_SHARE:
            event = SAME_EVENT[state]  # a same-state change: it succeeds and writes nothing (lastOpDate stays)
        result = self.driver.change(image, event, intended=intended)
        if result.ok:
            self.state.states[image] = "Enabled" if event == "enable" else "Disabled"

    def phased_change(self, intended: float | None = None) -> None:
        """Change a shared image to the value of the current phase: every user, in every process, writes
        the same value until the phase ends, then the other. With only two states, random writes would
        explain almost any read; phases make a lost or stale write stand out as a read no order explains.
        Phase lengths are random (from the seed), so faults of any time scale line up. In a solo phase
        only LEADER writes, alternating values, and every other change becomes a read (see Phases)."""
        index, solo = self.state.phases.at(time.time())
        event = "enable" if index % 2 == 0 else "disable"
        if not solo:
            self.driver.change(self.rng.choice(self.own), event, intended=intended)
        elif self.name == LEADER:
            if self.solo_done != index:  # a new solo phase starts from its own value
                self.solo_done, self.solo_event = index, event
            for image in self.own:
                self.driver.change(image, self.solo_event, intended=intended)
            self.solo_event = "disable" if self.solo_event == "enable" else "enable"
            gevent.sleep(SOLO_STEP)  # the others read what it wrote before it writes again
        else:
            self.driver.read(self.rng.choice(self.own))
            gevent.sleep(SOLO_READ_PAUSE)

    def read(self, intended: float | None = None) -> None:
        self.driver.read(self.rng.choice(self.own))

    def invalid(self, intended: float | None = None) -> None:
        self.driver.invalid(self.rng.choice(self.own))


# ------------------------------------------------------------------------------------ event hooks


def _options(parser: Any) -> None:
    parser.add_argument("--zscheck-plan", default="", help="the load plan (JSON), written by `zscheck load`")


def _release_heap() -> None:
    """Every locust process, master and workers, hands its freed C-heap pages back every
    heap.RELEASE_EVERY seconds until the run stops: without it an hour-long soak grew ~51 MB/h
    (zscheck.load.heap says why)."""
    gevent.sleep(heap.RELEASE_FIRST)
    while not _clock["stopped"]:
        took = heap.release()
        if took is None:
            return
        _released["times"] += 1
        _released["seconds"] += took
        gevent.sleep(heap.RELEASE_EVERY)


def _test_start(environment: Environment, **_: Any) -> None:
    global _state
    _clock["started"] = time.time()
    if heap.available():
        gevent.spawn(_release_heap)
    if isinstance(environment.runner, MasterRunner):
        return  # the master generates no load; it only gathers
    options = environment.parsed_options
    if options is None or not options.zscheck_plan:
        raise ConfigError("no load plan: start the scenarios with `zscheck load` (it passes --zscheck-plan)")
    plan = LoadPlan.from_json(options.zscheck_plan)
    worker = environment.runner.worker_index if isinstance(environment.runner, WorkerRunner) else 0
    try:
        password = read_password(plan.password_env, plan.password_file)
        if password is None:
            raise ConfigError(f"no password: set {plan.password_env} (or a password file) on every worker machine")
    except ZscheckError as exc:
        _tell_the_master(environment, str(exc))
        raise
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
    # The session's timeout, as the client read it from the login answer (None: unknown; then only
    # ValidateSession can show that a rejected session was live).
    session_timeout = client.session.timeout
    dead = None
    if plan.scenario == "errors":
        dead = client.extra_session()
        client.logout(dead)
    images = plan.images_for(worker)
    _state = ProcessState(
        plan=plan,
        recorder=Recorder(
            plan.history_limit,
            history=Path(plan.history_dir) if plan.history_dir and plan.history_local else None,
            name=f"w{worker}",
        ),
        sessions=Sessions(client.session.uuid, dead, session_timeout),
        worker=worker,
        pacer=Pacer(plan.rate / max(plan.workers, 1)) if plan.rate else None,
        images=images,
        pool=list(reversed(images)),
        states={uuid: plan.images[uuid] for uuid in images},
        client=client,
        phases=Phases(plan.seed, plan.origin, plan.horizon),
    )
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message(WORKER_READY, {})
    else:
        _open_window(environment, plan.duration)


def _open_window(environment: Environment, duration: float) -> None:
    """The measured window opens when the first load-generating process has logged in, and lasts the
    plan's duration. Locust's own --run-time starts before that, at `runner.start`: on a starved machine
    its start-up (the login, the first users) ate 1.4 s of a 2 s run, which then measured nothing. Locust
    still gets a --run-time (the duration plus a start-up allowance) as the ceiling if no window opens."""
    if _clock["opened"]:
        return
    _clock["opened"] = _clock["started"] = time.time()
    runner = environment.runner
    if duration > 0 and runner is not None:
        # locust.log says "Run time limit set to" the ceiling; this line says when the run really began.
        logging.getLogger("zscheck.load").info("measured window opens: %g s of load from now", duration)
        gevent.spawn_later(duration, runner.quit)


def _tell_the_master(environment: Environment, reason: str) -> None:
    """A worker that cannot run says why: the master stops the run and `zscheck load` exits 2 with the
    reason, instead of judging a run in which nothing was measured."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(WORKER_ERROR, {"reason": f"worker {runner.client_id}: {reason}"})


def _init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(WORKER_ERROR, _worker_error)
        environment.runner.register_message(WORKER_READY, _worker_ready)
        environment.runner.register_message(CLOCK_PONG, _clock_pong)
        options = environment.parsed_options
        plan = LoadPlan.from_json(options.zscheck_plan) if options is not None and options.zscheck_plan else None
        if plan is not None and plan.history_dir and not plan.history_local:
            _master.history_dir = Path(plan.history_dir)  # workers elsewhere: their history lands here
    elif isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(CLOCK_PING, _clock_ping)


def _worker_error(environment: Environment, msg: Any, **_: Any) -> None:
    data = msg.data if isinstance(msg.data, dict) else {"reason": str(msg.data)}
    _worker_errors.append(str(data.get("reason")))
    runner = environment.runner
    if runner is not None:
        gevent.spawn_later(0.1, runner.quit)  # nothing this run measures can be judged now


def _worker_ready(environment: Environment, msg: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.zscheck_plan:
        _open_window(environment, LoadPlan.from_json(options.zscheck_plan).duration)
    if isinstance(environment.runner, MasterRunner):
        _clock_round(environment, msg.node_id)


def _clock_round(environment: Environment, node: str) -> None:
    """Start a round of CLOCK_SAMPLES round trips to one remote worker, and the next one an interval later
    (none once the run has stopped): each round starts on time whether or not the last one finished, so a
    ping or pong lost on the way never ends the measuring."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or _clock["stopped"] or node in _same_machine:
        return
    _round[node] = (0, 0.0, 0.0, math.inf)
    try:
        runner.send_message(CLOCK_PING, {"t0": time.time()}, client_id=node)
    except Exception:  # a worker gone meanwhile: its last round stands
        _round.pop(node, None)
        return
    options = environment.parsed_options
    duration = LoadPlan.from_json(options.zscheck_plan).duration if options and options.zscheck_plan else 0.0
    least, most = CLOCK_INTERVAL
    gevent.spawn_later(min(max(duration / 8, least), most), _clock_round, environment, node)


def _clock_ping(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        seen = time.time()
        runner.send_message(
            CLOCK_PONG, {"t0": msg.data["t0"], "t1": seen, "worker": runner.worker_index, "machine": MACHINE}
        )


def _clock_pong(environment: Environment, msg: Any, **_: Any) -> None:
    arrived = time.time()
    sent, seen, worker = float(msg.data["t0"]), float(msg.data["t1"]), str(msg.data["worker"])
    if msg.data.get("machine") == MACHINE:  # the master's own clock (--processes): nothing to correct
        _clocks[worker] = [(arrived, 0.0, 0.0)]
        _same_machine.add(msg.node_id)
        return
    offset, bound = selfcheck.clock_offset(sent, seen, arrived)
    n, at, best, best_bound = _round.get(msg.node_id, (0, 0.0, 0.0, math.inf))
    if bound < best_bound:
        at, best, best_bound = (sent + arrived) / 2, offset, bound
    runner = environment.runner
    if n + 1 < CLOCK_SAMPLES and isinstance(runner, MasterRunner):
        _round[msg.node_id] = (n + 1, at, best, best_bound)
        runner.send_message(CLOCK_PING, {"t0": time.time()}, client_id=msg.node_id)
        return
    _round.pop(msg.node_id, None)
    _clocks.setdefault(worker, []).append((at, best, best_bound))


def _final_csv(environment: Environment) -> None:
    """Write locust_stats.csv and locust_failures.csv once more from the final stats. locust 2.x's
    shutdown closes them without a last write: its writer rewrites them once a second, so they missed
    the last second and the workers' last reports (about 3% of a 30 s run; 10% of an 8 s one), while
    locust.json, written from the final stats, had everything. It must run after the runner quit (the
    workers' last reports are in) and before locust.json is saved: saving strips every entry's counts
    (`get_stripped_report`), so the `quit` event, which fires after, sees zeros."""
    options = environment.parsed_options
    prefix = getattr(options, "csv_prefix", None) if options is not None else None
    if not prefix:
        return
    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    with open(f"{prefix}_stats.csv", "w", newline="") as f:
        writer.requests_csv(csv.writer(f))
    with open(f"{prefix}_failures.csv", "w", newline="") as f:
        writer.failures_csv(csv.writer(f))


def _test_stop(environment: Environment, **_: Any) -> None:
    _clock["stopped"] = time.time()
    if _state is not None:
        _state.recorder.flush()  # the users are stopped: the history is complete
        try:
            _state.client.logout()  # a load run leaves no sessions behind
        finally:
            _state.client.close()


def _report(client_id: str, data: dict[str, Any]) -> None:
    if _state is not None:
        data["zscheck"] = _state.recorder.drain()


def _absorb(client_id: str, data: dict[str, Any]) -> None:
    if "zscheck" in data:
        _master.absorb(data["zscheck"], source=client_id)


def _quitting(environment: Environment, **_: Any) -> None:
    logging.getLogger("zscheck.load").info(
        "heap released to the OS %d times, %.0f ms in all", _released["times"], _released["seconds"] * 1000
    )
    if isinstance(environment.runner, WorkerRunner):
        if _state is not None:
            _state.recorder.flush()
        return
    runner = environment.runner
    if runner is not None:
        quit_runner = runner.quit

        def quit_then_write_csv() -> None:
            quit_runner()
            _final_csv(environment)

        runner.quit = quit_then_write_csv  # type: ignore[method-assign]
    if _state is not None:
        _state.recorder.flush()
        _master.absorb(_state.recorder.drain())
    _master.flush()
    options = environment.parsed_options
    plan = LoadPlan.from_json(options.zscheck_plan) if options is not None and options.zscheck_plan else None
    if plan is not None and plan.results:
        stopped = _clock["stopped"] or time.time()
        RunResults.write(
            Path(plan.results), _master, _clock["started"] or stopped, stopped, errors=_worker_errors, clocks=_clocks
        )


# locust's EventHook is untyped; registering in one place keeps the ignores to these lines.
events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_test_stop)  # type: ignore[no-untyped-call]
events.report_to_master.add_listener(_report)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_absorb)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_quitting)  # type: ignore[no-untyped-call]
