"""A conformance run's world: the target (the embedded reference server or a real ZStack), the logged-in
clients, the fixture images and their journal, and `probe()`, which turns a described request into a
real one, sends it, and judges the answer.

The suites in `contracts/` stay thin: they decide *what* to send (Hypothesis), this module knows *how*.
"""

from __future__ import annotations

import threading
import time
import uuid as uuidlib
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from zscheck import _wire
from zscheck._models import ApiResult, Exchange, Outcome, Session
from zscheck._wire import Dialect, WireRequest
from zscheck.checks import (
    FACETS,
    JOB_POLICY_CLASSES,
    POLICY_CLASSES,
    ErrorTable,
    Facets,
    Probe,
    Violation,
    check_logins_issue_new_sessions,
    check_sessions_survive_logins,
    default_table,
    judge,
    judge_call,
)
from zscheck.client import CALLS, Client, RequestLimiter
from zscheck.conformance.plan import ContractPlan
from zscheck.control import RunControl
from zscheck.errors import TargetError
from zscheck.expiry import TIMESTAMP_RESOLUTION, describe_age, provably_live
from zscheck.expiry import Stamp as Stamp  # the suites' (the plugin interface): when a write was done
from zscheck.fixtures import FixtureImages, Journal, SetupError, fixture_names
from zscheck.target import EmbeddedServer, Target

# Short, so the "expired session" class can be exercised in seconds; longer under the realistic profile,
# whose jobs check the session up to 1.5 s after the request (a session must not lapse in between).
EMBEDDED_SESSION_TIMEOUT = {"instant": 3.0, "realistic": 4.0}
# Time a request may take to reach the target's session check beyond the job delay: threads of a busy
# machine can be kept from running for a while, and a session must not lapse meanwhile.
SCHEDULING_MARGIN = 1.0
# A refusal of a session is the target's fault only when the session was provably live when the target
# checked it (`zscheck.expiry`: the last renewal the harness saw, plus the timeout, less the timestamps'
# resolution, read on both clocks). A harness that stalled longer than that (a busy machine, a paused VM)
# proves nothing: it logs in again, re-sends once, and says so in the run's notes.
# The longest a job of the embedded server may wait before it checks the session (the realistic cap).
EMBEDDED_MAX_JOB_DELAY = {"instant": 0.0, "realistic": 1.5}
# How long an api-job may stay processing. The instant reference server finishes jobs at once, so a job
# still running after a second is a fault; a real node (and the realistic profile) takes tens to hundreds
# of milliseconds, with a tail.
EMBEDDED_POLL_DEADLINE = {"instant": 1.0, "realistic": 10.0}
TARGET_POLL_DEADLINE = 10.0
FAST_DEADLINE = 0.2  # after three job timeouts in a run


# Request classes that go to the normal account's own fixture image.
TENANT_IMAGE_FACETS = ("tenants-own", "admin-on-tenants")

# The test a request is made for. Parts of a run go out side by side (the state machine's lanes run beside
# the other suites), so "the test running now" is not one thing: each thread's context names its own, and a
# violation is recorded against it, never against whichever test the main thread is in.
CURRENT_TEST: ContextVar[str] = ContextVar("zscheck_current_test", default="")


@dataclass
class ShrinkClock:
    """The run's shrink budget (`--shrink-budget`), spent while any test searches for a shortest failing
    example, counted from its first failure to its end. Searches that overlap in time spend it once: the
    budget bounds what searching adds to the run's wall time. Hypothesis reads it as
    `perf_counter() + MAX_SHRINKING_SECONDS` when a search starts (hence `__radd__`): what is left then,
    at least 1 s, so every search gets a chance."""

    seconds: float
    closed: list[tuple[float, float]] = field(default_factory=list)
    searching: dict[str, tuple[float, float]] = field(default_factory=dict)  # test -> (first failure, left then)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spent(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            spans = sorted([*self.closed, *((start, now) for start, _ in self.searching.values())])
        total, reach = 0.0, float("-inf")
        for start, end in spans:  # the length of the union: overlapping searches count once
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    def left(self, now: float | None = None) -> float:
        return max(1.0, self.seconds - self.spent(now))

    def failed(self, test: str) -> None:
        """`test` saw a violation: its search (if any) starts from here."""
        now = time.monotonic()
        with self._lock:
            if not test or test in self.searching:  # outside any test (setting up): no search follows
                return
        left = self.left(now)
        with self._lock:
            self.searching.setdefault(test, (now, left))

    def finish(self, test: str, end: float | None = None) -> tuple[float, float] | None:
        """`test` ended at `end`: (seconds it spent from its first failure, what was left for it then), or None."""
        with self._lock:
            found = self.searching.pop(test, None)
            if found is None:
                return None
            start, left = found
            end = time.monotonic() if end is None else max(start, end)
            self.closed.append((start, end))
        return end - start, left

    def __radd__(self, other: float) -> float:
        return other + self.left()

    def __int__(self) -> int:
        return int(self.left())


class SetupViolation(SetupError):
    """The target broke a rule while the run set up (two logins answered with one session...): a
    violation of the contract (exit 1), carried with what was found."""

    def __init__(self, message: str, violations: list[Violation], result: ApiResult | None = None) -> None:
        super().__init__(message, result)
        self.violations = violations


@dataclass(frozen=True)
class RawStep:
    """One request of a sequence the typed client does not build (the protocol suite's), as sent: the
    report records the sequence so that `zscheck replay` and the reproducer can send it again."""

    request: WireRequest
    follow: bool = False  # its api-job was polled to the end
    schema: bool = True  # with X-JSON-Schema on those polls


@dataclass
class Sent:
    """One judged request: what was asked, what came back, what was wrong with it. `raw`: the exchange
    sequence as sent, when it was not one request of an input class (the last is the judged one)."""

    probe: Probe
    result: ApiResult
    violations: list[Violation]
    facets: Facets
    raw: tuple[RawStep, ...] = ()


def sequence_to(calls: list[tuple[WireRequest, bool]], sent: Sent) -> tuple[RawStep, ...]:
    """The kept calls on the judged request's image, up to and including it; () when it is not among them
    (a probe left out of the sequence, see `Harness.probe`: it replays as one request of its class)."""
    judged = sent.result.exchanges[0].request
    image = sent.probe.image_uuid
    for n, (request, _) in enumerate(calls):
        if request is judged:
            return tuple(RawStep(r, follow=f) for r, f in calls[: n + 1] if image and image in r.path)
    return ()


class ContractViolation(AssertionError):
    """The target answered wrongly. Carries the judged request so the report can show and replay it."""

    def __init__(self, sent: Sent, base_url: str) -> None:
        self.sent = sent
        self.base_url = base_url
        lines = [str(v) for v in sent.violations]
        request = sent.result.exchanges[0].request
        super().__init__(
            f"{len(lines)} violation(s) for {request.method} {request.path} "
            f"(rule {sent.probe.expected.rule}, event {sent.probe.event!r}):\n  "
            + "\n  ".join(lines)
            + f"\nreproduce: {request.curl(base_url)}"
        )


@dataclass
class Harness:
    plan: ContractPlan
    control: RunControl = field(default_factory=RunControl)
    table: ErrorTable = field(default_factory=default_table)
    target: Target | None = None
    tenant: Client | None = None
    admin_images: list[str] = field(default_factory=list)  # fixture images the main account owns
    tenant_images: list[str] = field(default_factory=list)  # fixture images the normal account owns
    created_texts: dict[str, dict[str, str]] = field(default_factory=dict)  # uuid -> the name (...) it was given
    _expiring: list[tuple[Stamp, str]] = field(default_factory=list)
    _session_timeout: float | None = None
    _last_used: dict[int, Stamp] = field(default_factory=dict)  # client -> its session's last renewal seen
    _sessions_lock: threading.Lock = field(default_factory=threading.Lock)  # a stale session renewed once
    started: float = field(default_factory=time.time)
    probes: int = 0  # judged requests, for the run's rate
    notes: list[str] = field(default_factory=list)  # things the report should mention
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # each fixture image before any change
    _job_timeouts: int = 0
    _tenant_account: str | None = None  # the normal account the run created (deleted at the end)
    coverage: Counter[str] = field(default_factory=Counter)  # judged requests per rule of the table
    raised: dict[str, list[Any]] = field(default_factory=dict)  # each test's ContractViolations, as raised
    shrink: ShrinkClock = field(default_factory=lambda: ShrinkClock(300.0))  # the run's shrink budget
    limiter: RequestLimiter | None = None  # the run's bound on requests in flight (`--workers`), made at start
    scratch: dict[str, list[str]] = field(default_factory=dict)  # scratch images made, by the prefix asked for
    _backup: str | None = None  # the backup storage fixture images go to (None: the run creates none)

    # ------------------------------------------------------------------------------- what the suites read

    @property
    def dialect(self) -> Dialect:
        return self.plan.target.dialect  # type: ignore[return-value]

    @property
    def workers(self) -> int:
        return self.plan.workers

    @property
    def url(self) -> str:
        return self.target.url if self.target is not None else ""

    @property
    def client(self) -> Client | None:
        return self.target.client if self.target is not None else None

    @property
    def journal(self) -> Journal | None:
        return self.target.journal if self.target is not None else None

    @property
    def fixtures(self) -> FixtureImages | None:
        return self.target.fixtures if self.target is not None else None

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> Harness:
        plan, options = self.plan, self.plan.target
        timing = options.timing
        if self.limiter is None:
            self.limiter = RequestLimiter(max(1, plan.workers))
        if options.embedded:
            self._session_timeout = EMBEDDED_SESSION_TIMEOUT.get(timing, EMBEDDED_SESSION_TIMEOUT["instant"])
        self.target = Target(
            options,
            plan.report_dir / "journal.jsonl",
            embedded=EmbeddedServer(
                session_timeout=self._session_timeout,
                seed_images=4,
                timing_seed=plan.timing_seed if plan.timing_seed is not None else plan.seed or 0,
            ),
            poll_deadline=self._poll_deadline(),
            # Known for the embedded server (a 1 s timeout cannot be read from one-second timestamps); a
            # real target's is read from the login answer.
            session_timeout=self._session_timeout,
            # Shared by every client of the run: whatever runs side by side, no more than `--workers`
            # requests are in flight at once (a load a management node carries easily).
            limiter=self.limiter,
        )
        before = Stamp.now()  # the main account logs in inside open(): a lower bound of its session's start
        self.target.open()
        self._last_used[id(self.main)] = before
        if self._session_timeout is not None:
            # Sessions left to expire, for the "expired" class: opened first, so they lapse while the
            # fixtures are made.
            for _ in range(2):
                session = self.main.extra_session()
                self._expiring.append((Stamp.now(), session))
            self._check_setup_sessions(right_after_logins=True)
        fixtures = self.target.fixtures
        assert fixtures is not None
        for uuid in options.images:
            self.snapshots[uuid] = fixtures.adopt(uuid)
        creating = options.embedded or not options.images
        backup = self._backup = self.target.backup_storage() if creating else None
        count = (plan.workers if plan.create_images is None else plan.create_images) if backup is not None else 0
        # Named as ZStack's users name images, in Chinese as well as ASCII: the text must round-trip. Each
        # AddImage waits for its job (tens to hundreds of milliseconds on a real node), and the images are
        # independent, so they are made `--workers` at a time, and the normal account's meanwhile.
        names = list(fixture_names(count))
        pool = ThreadPoolExecutor(max_workers=max(1, self.workers))
        try:
            tenant = pool.submit(self._start_tenant, backup)
            made: list[Future[dict[str, Any]]] = []
            if backup is not None:
                made = [
                    pool.submit(fixtures.create, name, options.image_url, backup, description=description)
                    for name, description in names
                ]
            errors = [future.exception() for future in [*made]] + [tenant.exception()]  # each waited for
        except BaseException:
            # A signal while they were in flight: what was started finishes and is journalled before the
            # restore reads the journal (an account created after it was left behind); the rest never starts.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for error in errors:
            if error is not None:
                raise error  # the first failure, in the order the work was given; the rest are journalled
        created_uuids = []
        for (name, description), future in zip(names, made, strict=True):
            created = future.result()
            self.snapshots[created["uuid"]] = created
            self.created_texts[created["uuid"]] = {"name": name, "description": description}
            created_uuids.append(created["uuid"])
        # The run's order of images is the order they were named in, whichever AddImage finished first:
        # the suites pick images by position, and a replay must pick the same ones.
        adopted = [u for u in fixtures.uuids if u in options.images]
        fixtures.uuids[:] = adopted + created_uuids
        self.admin_images = list(fixtures.uuids)
        self._check_setup_sessions(right_after_logins=False)
        return self

    def _check_setup_sessions(self, *, right_after_logins: bool) -> None:
        """The run's own logins must each have got a session of their own, and the later ones must have left
        the run's session valid (facts §4, §10: identity.enable.unique.session is false by default). The
        run relies on both (it logs extra sessions out), so a target that breaks them is judged here,
        before anything else is sent."""
        issued: dict[str, str | None] = {"the run's login": self.main.session.uuid if self.main.session else None}
        for i, (_, session) in enumerate(self._expiring):
            issued[f"the run's extra login {i + 1}"] = session
        if self.tenant is not None and self.tenant.session is not None:
            issued["the normal account's login"] = self.tenant.session.uuid
        violations = check_logins_issue_new_sessions(issued)
        if right_after_logins and not violations and self.main.session is not None:
            # Right after the extra logins, before anything else could have logged the run in again.
            valid = self.main.session_valid(self.main.session.uuid)
            violations += check_sessions_survive_logins({"the run's session": valid})
        if violations:
            raise SetupViolation("; ".join(v.message for v in violations), violations)

    def _start_tenant(self, backup: str | None) -> None:
        """The normal account for the ownership rules, on any target: the one named with --tenant, or one
        the run creates (CreateAccount as the admin, journalled, deleted at the end). It gets an image of
        its own when the run creates images. What cannot be had is a note, and its classes are listed as
        not exercised; a target that breaks the contract while doing it is a violation (SetupError)."""
        assert self.target is not None and self.target.fixtures is not None
        options, fixtures = self.plan.target, self.target.fixtures
        if options.tenant is not None:
            password = options.tenant_password()
            assert password is not None
            self.tenant = self._login(options.tenant, password)
        else:
            try:
                account = fixtures.create_account()
            except SetupError as exc:
                if exc.result is not None and judge_call(exc.result, "CreateAccount"):
                    raise
                self.notes.append(f"no normal account: {exc}; the ownership classes were not exercised")
                return
            self._tenant_account = account.uuid
            self.tenant = self._login(account.name, account.password)
        if backup is None:
            return
        name, description = next(fixture_names(1, prefix="zscheck-tenant"))
        try:
            created = fixtures.create(name, options.image_url, backup, description=description, client=self.tenant)
        except SetupError as exc:
            if exc.result is not None and judge_call(exc.result, "AddImage by the normal account"):
                raise
            self.notes.append(
                f"the normal account could not create an image ({exc}); its own-image classes were not exercised"
            )
            return
        self.snapshots[created["uuid"]] = created
        self.created_texts[created["uuid"]] = {"name": name, "description": description}
        self.tenant_images = [created["uuid"]]
        fixtures.uuids.remove(created["uuid"])  # FixtureImages lists every image; this one is the tenant's

    @property
    def can_create_images(self) -> bool:
        """Whether the run makes images of its own (the embedded server, or a target given no --image)."""
        return self._backup is not None and self.fixtures is not None

    def scratch_images(self, count: int, prefix: str) -> list[str]:
        """`count` more images of the main account for requests that may destroy them (deletes), made
        `--workers` at a time, outside the fixture images the other suites use; journalled and removed at
        the end like them. Empty when the run creates no images (a real target given only --image)."""
        fixtures = self.fixtures
        if self._backup is None or fixtures is None:
            return []
        backup, url = self._backup, self.plan.target.image_url
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, count))) as pool:
            made = [
                pool.submit(fixtures.create, name, url, backup, description=description)
                for name, description in fixture_names(count, prefix=prefix)
            ]
            images = [future.result() for future in made]
        for image in images:
            fixtures.uuids.remove(image["uuid"])  # not one of the fixture images the suites share
            self.snapshots[image["uuid"]] = image
        self.scratch.setdefault(prefix, []).extend(image["uuid"] for image in images)
        return [image["uuid"] for image in images]

    def _login(self, account: str, password: str) -> Client:
        assert self.target is not None
        before = Stamp.now()  # the session is made after this: a lower bound of its start
        client = self.target.login(account, password)
        self._last_used[id(client)] = before
        return client

    def _poll_deadline(self) -> float:
        options = self.plan.target
        if self.plan.poll_deadline is not None:
            return self.plan.poll_deadline
        if options.embedded:
            return EMBEDDED_POLL_DEADLINE.get(options.timing, TARGET_POLL_DEADLINE)
        return TARGET_POLL_DEADLINE

    def stop(self) -> list[str]:
        """Restore every fixture image and account, log out, stop the embedded server. Returns restore
        problems. Safe to call twice."""
        if self.target is None:
            return []
        owners = {self._tenant_account: self.tenant} if self._tenant_account and self.tenant else None
        return self.target.close(owners=owners)

    @property
    def requests_sent(self) -> int:
        """Every HTTP request of the run's clients, open or closed."""
        if self.target is None:
            return 0
        return self.target.requests_sent + sum(c.requests_sent for c in self.target.clients)

    def actions(self) -> list[str]:
        """What the clients did on their own while the run set up, probed and restored (re-logins...)."""
        return list(self.target.actions) if self.target is not None else []

    # ------------------------------------------------------------------------------- probing

    @property
    def main(self) -> Client:
        assert self.client is not None, "Harness.start() first"
        return self.client

    def available(self, facets: Facets) -> bool:
        """Whether this target can produce a request of this class (no tenant: no foreign images...)."""
        if facets.image == "foreign" and (self.tenant is None or not self.admin_images):
            return False
        if facets.image in TENANT_IMAGE_FACETS and (self.tenant is None or not self.tenant_images):
            return False
        return not (facets.session == "expired" and self._session_timeout is None)

    def not_covered(self) -> dict[str, str]:
        """Each input class this target could not be sent, and each rule of the table (or protocol entry)
        no request exercised, with why: a class that could not be tried is never a silent pass."""
        reasons = {
            ("session", "expired"): "the target's session timeout is unknown, so no session can be let expire",
            ("image", "foreign"): "no normal account with a session (see the run's notes)",
            ("image", "tenants-own"): "the normal account has no image of its own (see the run's notes)",
            ("image", "admin-on-tenants"): "the normal account has no image of its own (see the run's notes)",
        }
        out = {
            f"{facet}={value}": reasons.get((facet, value), "not available on this target")
            for facet, values in FACETS.items()
            for value in values
            if not self.available(Facets(**{facet: value}))
        }
        names = [rule.name for rule in self.table.rules] + list(self.table.protocol) + list(POLICY_CLASSES)
        for name in names:
            if not self.coverage[name]:
                jobless = self.dialect == "documented" and (name.startswith("job-") or name in JOB_POLICY_CLASSES)
                out[name] = "the documented dialect has no api-jobs" if jobless else "no request of this class was sent"
        return out

    def image_for(self, facets: Facets, image: str) -> str:
        """The image a request of this class goes to: `image`, unless the class needs the normal account's."""
        if facets.image in TENANT_IMAGE_FACETS and image not in self.tenant_images:
            return self.tenant_images[sum(map(ord, image)) % len(self.tenant_images)]
        return image

    def probe(self, facets: Facets, image: str, event: Any, *, job_uuid: str | None = None) -> Sent:
        """Send a ChangeImageState request of the given class and judge the answer against the table."""
        self.control.check()
        dialect = self.dialect
        image = self.image_for(facets, image)
        session, renewed = self._session_for(facets)
        request = self._request(facets, image, event, session, job_uuid)
        sent = Stamp.now()
        # A kept sequence is re-sent with the replay's own session on its own image: a probe with another
        # session, auth or image would be re-sent as a different request, so it is left out of it.
        kept = CALLS.set(None) if (facets.session, facets.auth, facets.image) != ("valid", "oauth", "own") else None
        try:
            result = self.main.call(request)
            if result.error_code == "ID.1001" and renewed is not None and not self._provably_live(renewed):
                owner = self.tenant if facets.image in ("foreign", "tenants-own") else self.main
                assert owner is not None
                session, renewed = self._stalled(owner, renewed, f"{request.method} {request.path}")
                request = self._request(facets, image, event, session, job_uuid)
                sent = Stamp.now()
                result = self.main.call(request)
        finally:
            if kept is not None:
                CALLS.reset(kept)
        if result.outcome is Outcome.SUCCESS and session is not None:
            owner = self.tenant if facets.image in ("foreign", "tenants-own") else self.main
            if owner is not None and owner.session is not None and owner.session.uuid == session:
                self._renewed(owner, sent)
        if result.outcome is Outcome.TIMEOUT:
            self._job_timeouts += 1
            if self._job_timeouts == 3:
                # The class of fault is established; waiting the full deadline again adds time, not facts.
                self.notes.append(
                    f"api-jobs stayed processing past {self.main.poll_deadline} s three times; later jobs were "
                    f"given {FAST_DEADLINE} s"
                )
                self.main.poll_deadline = min(self.main.poll_deadline, FAST_DEADLINE)
        expected = self.table.expect(facets, dialect)
        probe = Probe(dialect, image, event, expected, request.headers.get("X-Job-UUID"))
        violations = judge(probe, result)
        if violations and result.error_code == "ID.1001" and facets.auth == "oauth" and facets.session == "valid":
            # Whatever the probe meant to test, it sent a session the run keeps live: the answer is that
            # fault first (the query's rule, for every request), and the wrong code second.
            violations.insert(0, self._rejected("the answer", result, renewed))
        return Sent(probe, result, violations, facets)

    def _rejected(self, what: str, result: ApiResult, renewed: Stamp | None) -> Violation:
        timeout = self._session_timeout
        within = "its timeout" if timeout is None else f"its {timeout:g} s timeout less {TIMESTAMP_RESOLUTION:g} s"
        since = "" if renewed is None else f" {describe_age(renewed)} after the target last accepted it,"
        return Violation(
            "session_rejected",
            f"a live session was refused{since} well within {within}",
            what,
            "ID.1001",
            result.final,
        )

    def _session_for(self, facets: Facets) -> tuple[str | None, Stamp | None]:
        """The session a probe of this class sends, and for a live one its last renewal the harness saw."""
        if facets.auth != "oauth":
            return None, None
        if facets.session == "unknown":
            return uuidlib.uuid4().hex, None
        if facets.session == "logged-out":
            session = self.main.extra_session()
            self.main.logout(session)
            return session, None
        if facets.session == "expired":
            return self._expired_session(), None
        if facets.image in ("foreign", "tenants-own"):
            assert self.tenant is not None
            live, renewed = self._live(self.tenant)
        else:
            live, renewed = self._live(self.main)
        return live.uuid, renewed

    def live_session(self, client: Client) -> Session:
        """The client's session, renewed by logging in again if it may lapse before the target checks it: a
        probe that means to send a valid session must not send a stale one. A session is renewed only by a
        request that reaches the target's session check (a success), so that is what counts as use, from
        the moment such a request was sent; invalid probes fail before the check and renew nothing."""
        return self._live(client)[0]

    def _live(self, client: Client) -> tuple[Session, Stamp]:
        """live_session, with the renewal it counts from (taken together: another thread may log in anew)."""
        with self._sessions_lock:
            now = Stamp.now()
            renewed = self._last_used.get(id(client))
            stale = renewed is None or (self._session_timeout is not None and renewed.age(now) > self._fresh_for())
            if client.session is None or renewed is None or stale:
                session = client.relogin()
                self._last_used[id(client)] = now
                return session, now
            return client.session, renewed

    def _provably_live(self, renewed: Stamp) -> bool:
        """Was a session last renewed at `renewed` live whenever the target checked a request answered
        just now? (`zscheck.expiry`.)"""
        return provably_live(renewed, self._session_timeout)

    def _stalled(self, client: Client, renewed: Stamp, what: str) -> tuple[str, Stamp]:
        """A refusal the harness cannot hold against the target (it stalled past the session's provable
        life): said in the run's notes; a new session to re-send with, once."""
        self.notes.append(
            f"{what}: a session refused {describe_age(renewed)} after its last renewal, later than the "
            f"{self._session_timeout:g} s timeout less {TIMESTAMP_RESOLUTION:g} s allow to prove it was live (a "
            "stalled harness or a paused host): not judged; logged in again and re-sent once"
        )
        with self._sessions_lock:
            before = Stamp.now()
            session = client.relogin()
            self._last_used[id(client)] = before
        return session.uuid, before

    def _fresh_for(self) -> float:
        """How long after its last renewal a session may still be sent: it must outlive the wait before the
        target's job checks it (half the timeout, less the embedded server's longest job delay)."""
        assert self._session_timeout is not None
        options = self.plan.target
        delay = EMBEDDED_MAX_JOB_DELAY.get(options.timing, 0.0) if options.embedded else 0.0
        return max(0.1, min(self._session_timeout / 2, self._session_timeout - delay - SCHEDULING_MARGIN))

    def _renewed(self, client: Client, sent: Stamp) -> None:
        """A request with the client's session, sent at `sent`, passed the session check."""
        last = self._last_used.get(id(client))
        self._last_used[id(client)] = sent if last is None else last.later(sent)

    def _expired_session(self) -> str:
        assert self._session_timeout is not None and self._expiring
        created, session = self._expiring[0]
        # Expired on both clocks (the target counts on its wall clock); a wall clock stepped back adds at most
        # one more timeout.
        now = Stamp.now()
        waits = (created.monotonic - now.monotonic, created.wall - now.wall)
        wait = min(max(waits) + self._session_timeout + 0.3, self._session_timeout + 0.3)
        if wait > 0:
            time.sleep(wait)  # once per run at most: these sessions are never used while alive
        return session

    def _request(
        self, facets: Facets, image: str, event: Any, session: str | None, job_uuid: str | None
    ) -> WireRequest:
        dialect = self.dialect
        base = _wire.change_state(image, event, session, dialect=dialect, job_uuid=job_uuid)
        headers = dict(base.headers)
        if facets.auth == "missing":
            headers.pop("Authorization", None)
        elif facets.auth == "not-oauth":
            headers["Authorization"] = "Bearer zscheck"
        key = "changeImageState" if dialect == "rest" else "params"
        params: dict[str, Any] = {} if facets.event == "missing" else {"stateEvent": event}
        top: dict[str, Any] = {}
        # Tags as the Java SDK sends them (inside the action map) in the rest dialect, at the top level in
        # the documented one; `not-string-top` is the one placement ZStack does not read element by element.
        tagged = params if dialect == "rest" else top
        if facets.tags == "null-element":
            tagged["systemTags"] = ["zscheck::probe", None]
        elif facets.tags == "not-string-in-action":
            params["userTags"] = [{"zscheck": "probe"}]
        elif facets.tags == "not-string-top":
            top["userTags"] = [{"zscheck": "probe"}]
        bodies: dict[str, bytes] = {
            "action": _wire.json_body({key: params, **top}),
            "wrong-key": _wire.json_body({"params" if dialect == "rest" else "changeImageState": params}),
            "empty": b"",
            "not-json": b'{"changeImageState": {"stateEvent": ',
            "not-object": _wire.json_body({key: event if isinstance(event, str) else "enable"}),
            "bad-tags": _wire.json_body({key: params, "systemTags": "not-a-list"}),
            # An inherited long (NeedReplyMessage.timeout) that Gson cannot read as one.
            "field-wrong-kind": _wire.json_body({key: {**params, "timeout": "zscheck"}, **top}),
        }
        return WireRequest(base.method, base.path, headers, bodies[facets.body])

    def keep_calls(self) -> None:
        """From here on in this context (a state machine's example, after its reset to the same start), keep
        the calls made: a violation raised here carries the sequence of calls on its image up to the judged
        one (`Sent.raw`), which `zscheck replay` and the reproducer re-send on an image of their own."""
        CALLS.set([])

    def violation(self, sent: Sent) -> ContractViolation:
        """The exception for a judged request that broke the contract, recorded for the report (and for the
        shrink budget, which counts from the first failure) as `require` records it: raise it."""
        kept = CALLS.get()
        if kept is not None and not sent.raw:
            sent.raw = sequence_to(kept, sent)
        exc = ContractViolation(sent, self.url)
        test = CURRENT_TEST.get()
        self.raised.setdefault(test, []).append(exc)
        self.shrink.failed(test)
        return exc

    def success_probe(self, image: str, event: Any = None) -> Probe:
        """What a correct request to `image` expects (for writes the suites make other than probes)."""
        return Probe(self.dialect, image, event, self.table.expect(Facets(), self.dialect))

    def send_raw(self, request: WireRequest) -> Exchange:
        """One request as given, not followed (the protocol suite's own requests)."""
        self.control.check()
        self.probes += 1
        return self.main.send(request)

    def query(self, image: str) -> dict[str, Any] | None:
        """The image as the main account's query shows it. A live session refused (ID.1001) is the
        target's fault, never a reason to log in again and carry on: it is a violation."""
        self.control.check()
        session, renewed = self._live(self.main)
        used, sent = session.uuid, Stamp.now()
        result = self.main.call(_wire.get_image(image, used))
        if result.error_code == "ID.1001" and not self._provably_live(renewed):
            used, renewed = self._stalled(self.main, renewed, f"GET /zstack/v1/images/{image}")
            sent = Stamp.now()
            result = self.main.call(_wire.get_image(image, used))
        if result.error_code == "ID.1001":
            rejected = self._rejected("the query's answer", result, renewed)
            raise self.violation(Sent(self.success_probe(image), result, [rejected], Facets()))
        listed = result.data.get("inventories") if isinstance(result.data, dict) else None
        if not result.ok or not isinstance(listed, list):
            detail = result.error_code or result.final.error or f"HTTP {result.final.status}"
            raise TargetError(f"query of image {image} failed: {detail}")
        if self.main.session is not None and self.main.session.uuid == used:  # not one logged in since
            self._renewed(self.main, sent)  # a query answered with the session renewed it (ZStack, §4.2)
        return listed[0] if listed and isinstance(listed[0], dict) else None
