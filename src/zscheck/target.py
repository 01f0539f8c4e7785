"""The target of a run, in one place: where it is (a real ZStack, or the embedded reference server started
for the run), how to reach it, the logged-in clients, the journal of every image the run touches, the
fixture images, and putting everything back at the end.

Every command (`contract`, `load`, `capacity`, `drift`, `run`, `restore`) and the pytest plugin open a
target through this module, so the rules are written once: which password applies and what to say when
there is none, which options only the embedded server takes, which backup storage fixture images go to,
which login failures end a run, what is restored and in which order.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from zscheck._transport import Timeouts
from zscheck._wire import Dialect
from zscheck.client import Client, RequestLimiter
from zscheck.cmdline import unless
from zscheck.control import restoring
from zscheck.credentials import read_password
from zscheck.errors import ConfigError, LoginError, TargetError, ZscheckError
from zscheck.fixtures import FixtureImages, Journal, RestoreReport, restore

EMBEDDED_PASSWORD = "password"  # the embedded server's accounts, as a fresh ZStack's admin
TIMINGS = ("instant", "realistic")  # the embedded server's job timing profiles
DIALECTS = ("rest", "documented")
TENANT_PASSWORD_ENV = "ZSCHECK_TENANT_PASSWORD"
DEFAULT_IMAGE_URL = "http://127.0.0.1/zscheck-fixture.qcow2"
Timing = Literal["instant", "realistic"]


@dataclass(frozen=True)
class TargetOptions:
    """What every command needs to reach a target: the `target` option group, declared once."""

    url: str | None = None  # None: start the embedded reference server on a free port
    dialect: str = "rest"
    account: str = "admin"
    password_env: str = "ZSCHECK_PASSWORD"
    password_file: str | None = None
    tenant: str | None = None  # a normal account to use (its password from ZSCHECK_TENANT_PASSWORD)
    images: tuple[str, ...] = ()  # existing images the run may change (restored at the end)
    backup_storage: str | None = None  # where fixture images are created (default: the first connected one)
    image_url: str = DEFAULT_IMAGE_URL  # what AddImage downloads fixture images from
    ca_bundle: str | None = None
    insecure: bool = False
    timeout: float = 30.0  # seconds any one request may take to connect or to answer
    timing: str = "instant"  # embedded server only: its api-jobs finish at once, or like a real node's
    faults: tuple[str, ...] = ()  # embedded server only: break it on purpose

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def verify(self) -> bool | str:
        return self.ca_bundle or not self.insecure

    def given(self) -> list[tuple[str, object]]:
        """The options that name this target, for a replay command (`zscheck.cmdline`): default ones as
        None; the embedded server's faults and timing when it is the target. Where a password is read,
        never one."""
        plain = TargetOptions()
        embedded = [("--fault", f) for f in self.faults] + [("--timing", unless(self.timing, plain.timing))]
        return [
            ("--target", self.url),
            *(embedded if self.embedded else []),
            ("--dialect", self.dialect),
            ("--account", unless(self.account, plain.account)),
            ("--password-env", unless(self.password_env, plain.password_env)),
            ("--password-file", self.password_file),
            ("--tenant", self.tenant),
            *(("--image", image) for image in self.images),
            ("--backup-storage", self.backup_storage),
            ("--image-url", unless(self.image_url, plain.image_url)),
            ("--ca-bundle", self.ca_bundle),
            ("--insecure", self.insecure),
            ("--timeout", unless(self.timeout, plain.timeout)),
        ]

    def validate(self) -> TargetOptions:
        """Refuse combinations that cannot mean anything, before anything runs."""
        if self.dialect not in DIALECTS:
            raise ConfigError(f"--dialect {self.dialect!r} is not a dialect; choose one of {', '.join(DIALECTS)}")
        if self.timing not in TIMINGS:
            raise ConfigError(f"--timing {self.timing!r} is not a profile; choose one of {', '.join(TIMINGS)}")
        if self.faults:
            from zscheck.refserver.faults import ALL_FAULTS

            unknown = [f for f in self.faults if f not in ALL_FAULTS]
            if unknown:
                raise ConfigError(
                    f"--fault {', '.join(unknown)}: no such fault mode; `zscheck faults` lists them "
                    f"(e.g. {next(iter(ALL_FAULTS))})"
                )
        if not self.embedded:
            if self.faults:
                raise ConfigError("--fault applies to the embedded reference server only; drop --target or --fault")
            if self.timing != "instant":
                raise ConfigError(
                    "--timing applies to the embedded reference server only (a --target has its own); drop one of them"
                )
            check_target_url(str(self.url))
        return self

    def password(self) -> str:
        """The main account's password; the embedded server's own when none is given. Never printed."""
        password = read_password(self.password_env, self.password_file)
        if password is not None:
            return password
        if self.embedded:
            return EMBEDDED_PASSWORD
        raise ConfigError(f"no password for account {self.account!r}: {self.no_password()}")

    def no_password(self) -> str:
        """What to do when the password is missing (the one wording of it)."""
        return (
            f"the environment variable {self.password_env} is not set. Set it (export {self.password_env}=...) "
            "or pass --password-file FILE"
        )

    def require_password(self) -> None:
        """Say now, not after the embedded parts ran, that a real target's password is missing."""
        if not self.embedded:
            self.password()
        self.tenant_password()

    def tenant_password(self) -> str | None:
        if self.tenant is None:
            return None
        password = os.environ.get(TENANT_PASSWORD_ENV)
        if password is None:
            raise ConfigError(
                f"--tenant {self.tenant}: set {TENANT_PASSWORD_ENV} to its password, or leave --tenant out and the "
                "run creates a normal account of its own"
            )
        return password

    def label(self, url: str) -> str:
        """How reports name the target (the embedded server's URL changes every run, so it is said so). An
        embedded server's fault modes are part of its name: a faulty server is another build, and the run
        store groups runs by this name less the URL (zscheck.history.record.series_target keeps what follows
        the URL's `; `)."""
        if not self.embedded:
            return masked_url(url)
        faults = f"; faults: {', '.join(sorted(self.faults))}" if self.faults else ""
        return f"embedded reference server ({url}{faults})"


def masked_url(text: str) -> str:
    """`text` with any user:password@ of a URL in it masked, whatever the password holds (`@`, `/`, `:`):
    everything from `//` to the last `@` before the next blank goes."""
    return re.sub(r"//[^\s]*@", "//***@", text)


def check_target_url(url: str) -> str:
    """A `--target` as the harness can use it: http(s), a host, an optional port, no credentials, no query.
    Raises ConfigError naming the value (masked), the rule and an example."""
    example = "write e.g. http://10.0.0.5:8080"
    if "@" in url.partition("://")[2]:
        # httpx would send user:password@ as Basic auth, replacing the session header; and the URL is
        # written to journals and reports. The password has its own ways in.
        raise ConfigError(
            f"--target {masked_url(url)!r} carries credentials: give the URL without user:password@ and the "
            "password in ZSCHECK_PASSWORD (or --password-env VAR, --password-file FILE), the account with --account"
        )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(f"--target {url!r} has blanks or control characters in it; {example}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"--target {url!r} is not a valid URL ({exc}); {example}") from None
    if parts.scheme not in ("http", "https") or not url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"--target {url!r} is not an http:// or https:// URL; {example}")
    if not parts.hostname:
        raise ConfigError(f"--target {url!r} names no host; {example}")
    if port == 0:
        raise ConfigError(f"--target {url!r}: port 0 is not a port; {example}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ConfigError(f"--target {url!r}: a target is a node's address, without ?query or #fragment; {example}")
    return url


@dataclass(frozen=True)
class EmbeddedServer:
    """How a command wants the embedded server: a session timeout short enough to let sessions expire in
    a conformance run, images seeded for it, the seed of the realistic profile's delays."""

    session_timeout: float | None = None  # None: ZStack's own (7200 s)
    seed_images: int = 0
    timing_seed: int = 0


@dataclass
class Target:
    """An open target for the length of a command: `with Target(options, journal_path) as t: ...`."""

    options: TargetOptions
    journal_path: Path
    embedded: EmbeddedServer = field(default_factory=EmbeddedServer)
    poll_deadline: float | None = None  # None: the client's default
    session_timeout: float | None = None  # known for the embedded server; a real target's is read at login
    limiter: RequestLimiter | None = None  # shared by every client of this target: a bound on requests in flight
    url: str = ""
    client: Client | None = None
    journal: Journal | None = None
    fixtures: FixtureImages | None = None
    clients: list[Client] = field(default_factory=list)  # every client logged in through this target
    actions: list[str] = field(default_factory=list)  # what the clients did on their own (re-logins...)
    requests_sent: int = 0  # by the clients this target closed (a client's own count while it is open)
    restore_problems: list[str] = field(default_factory=list)  # what close() could not put back
    _server: Any = None

    # ------------------------------------------------------------------------------- lifecycle

    def open(self) -> Target:
        """Start or reach the target, log in as the main account, open the journal. On any failure what
        was opened is closed again before the error goes up."""
        options = self.options.validate()
        try:
            password = options.password()
            if options.embedded:
                self._start_embedded()
            else:
                assert options.url is not None
                self.url = options.url.rstrip("/")
            try:
                self.client = self.login(options.account, password)
            except LoginError as exc:
                source = f"the file {options.password_file}" if options.password_file else f"${options.password_env}"
                raise LoginError(f"{exc}; check the account (--account) and the password in {source}") from None
            self.journal = Journal.create(self.journal_path, self.url)
            self.fixtures = FixtureImages(self.client, self.journal)
        except BaseException:
            self.close()
            raise
        return self

    def _start_embedded(self) -> None:
        from zscheck.refserver import ServerConfig, start_in_thread

        options, embedded = self.options, self.embedded
        config = ServerConfig(
            port=0,
            db=":memory:",
            dialect=cast(Dialect, options.dialect),
            faults=options.faults,
            seed_images=embedded.seed_images,
            # The embedded server takes the run's password: with ZSCHECK_PASSWORD exported (for a real node,
            # for the locust workers) every embedded-server command would otherwise fail to log in.
            admin_password=options.password(),
        )
        if embedded.session_timeout is not None:
            config = dataclasses.replace(config, session_timeout=embedded.session_timeout)
        if options.timing != "instant":  # the realistic profile (facts §10): seeded job delays like a node's
            config = dataclasses.replace(config, timing=cast(Timing, options.timing), timing_seed=embedded.timing_seed)
        self._server = start_in_thread(config)
        self.url = self._server.url
        self.session_timeout = embedded.session_timeout

    def __enter__(self) -> Target:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self, account: str, password: str) -> Client:
        """A client of this target logged in as `account`; a refused or failed login closes it and raises
        (LoginError or TargetError: the run cannot go on without it)."""
        client = Client(
            self.url,
            dialect=cast(Dialect, self.options.dialect),
            verify=self.options.verify,
            timeouts=Timeouts(connect=min(5.0, self.options.timeout), read=self.options.timeout),
            session_timeout=self.session_timeout,
            limiter=self.limiter,
        )
        if self.poll_deadline is not None:
            client.poll_deadline = self.poll_deadline
        try:
            client.login(account, password)
        except (LoginError, TargetError):
            client.close()
            raise
        self.clients.append(client)
        return client

    @property
    def main(self) -> Client:
        assert self.client is not None, "Target.open() first"
        return self.client

    @property
    def label(self) -> str:
        return self.options.label(self.url)

    def backup_storage(self) -> str:
        """Where fixture images go: the one named, else the first connected and enabled backup storage."""
        if self.options.backup_storage is not None:
            return self.options.backup_storage
        usable = [
            bs["uuid"]
            for bs in self.main.backup_storage()
            if bs.get("status") == "Connected" and bs.get("state") == "Enabled"
        ]
        if not usable:
            raise TargetError(
                "the target has no connected backup storage to create fixture images on; name images with "
                "--image UUID or a backup storage with --backup-storage UUID"
            )
        return str(usable[0])

    def close(self, owners: Mapping[str, Client] | None = None) -> list[str]:
        """Restore every journalled image and account, log every client out, stop the embedded server.
        Safe to call twice: what could not be restored, one line each, the same list both times."""
        with restoring():
            return self._close(owners)

    def _close(self, owners: Mapping[str, Client] | None) -> list[str]:
        if self.journal is not None and self.client is not None:
            try:
                report = restore(self.journal, self.client, owners=owners)
                self.restore_problems = [f"{uuid}: {why}" for uuid, why in report.failed.items()]
                self.actions.extend(f"restore retried alone: {uuid}: {why}" for uuid, why in report.retried.items())
            except ZscheckError as exc:
                self.restore_problems = [str(exc)]
            self.journal.close()
            self.journal = None
        for client in reversed(self.clients):
            if client.session is not None:
                with suppress(ZscheckError):
                    client.logout()
            self.actions.extend(f"{a.kind}: {a.detail}" for a in client.actions)
            self.requests_sent += client.requests_sent
            client.close()
        self.clients.clear()  # `client` stays readable (its counts) but is closed
        if self._server is not None:
            self._server.stop()
            self._server = None
        return self.restore_problems


def journal_of(path: Path, options: TargetOptions) -> Journal:
    """A run's journal on disk, refused if it belongs to another target than the one named."""
    options.validate()
    journal = Journal.load(path)
    if not options.embedded and str(options.url).rstrip("/") != str(journal.target).rstrip("/"):
        raise ConfigError(
            f"journal {path} belongs to {journal.target}, not {options.url}: refusing to touch another target's images"
        )
    return journal


def restore_journal(path: Path, options: TargetOptions, *, password: str | None = None) -> RestoreReport:
    """Finish a run's restore from its journal on disk (`zscheck restore`, and the last resort of an
    interrupted run): log in to the journal's own target and put back what is still pending."""
    journal = journal_of(path, options)
    if not journal.pending() or journal.target is None:
        return RestoreReport()
    password = password or read_password(options.password_env, options.password_file)
    if password is None:
        raise ConfigError(f"no password for account {options.account!r}: {options.no_password()}")
    timeouts = Timeouts(min(5.0, options.timeout), options.timeout)
    journal.lock()  # refused while the run that writes it is still going (the same process may go on)
    try:
        with Client(journal.target, verify=options.verify, timeouts=timeouts) as client:
            client.login(options.account, password)
            return restore(journal, client)
    finally:
        journal.close()
