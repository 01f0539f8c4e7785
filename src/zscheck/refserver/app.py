"""The reference server's behaviour, composed: ZStack's REST layer and the APIs behind it.

This module only wires the nouns together; each follows sections of `../shared/zstack-api.md` (cited
as §n):

- routing.py      the route table and dispatch, both dialects; plain-text synchronous failures
- jobs.py         api-jobs: typed requests, the 202, running, results, polls, expiry
- images.py       the image APIs that write: actions (both dialects), AddImage, DeleteImage
- image_query.py  QueryImage
- accounts.py     accounts and sessions, and the authorization every API asks of them
- node.py         the node itself: GetVersion, its one backup storage
- timing.py       the timing profile (instant, or realistic: seeded delays like a real node's)
- hooks.py        the hook points where faults.py's deliberate faults act beside the correct path

The synchronous part of a request answers plain text on failure, exactly as RestServer does; everything
after the 202 runs as an api-job whose failures are ErrorCodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from zscheck.refserver import faults as faults_
from zscheck.refserver.accounts import Accounts
from zscheck.refserver.image_query import ImageQuery
from zscheck.refserver.images import Images
from zscheck.refserver.jobs import Jobs
from zscheck.refserver.node import Node, backup_storage_uuid
from zscheck.refserver.rest import Answer, Request
from zscheck.refserver.routing import Router
from zscheck.refserver.store import Store
from zscheck.refserver.timing import TimingProfile

Dialect = Literal["rest", "documented"]
Timing = Literal["instant", "realistic"]

__all__ = ["Answer", "App", "AppConfig", "Dialect", "Timing"]


@dataclass(frozen=True)
class AppConfig:
    dialect: Dialect = "rest"
    session_timeout: float = 7200.0  # identity.session.timeout
    max_sessions: int = 500  # session.maxConcurrent, per account
    job_delay: float = 0.0  # how long an api-job stays "processing" (real ZStack: a few ms)
    job_ttl: float = 10800.0  # rest.completedApi.expiredPeriod
    api_timeout_ms: int = 1_800_000  # the default 30m API timeout
    base_url: str = "http://127.0.0.1:8080"
    timing: Timing = "instant"
    timing_seed: int = 0


class App:
    def __init__(
        self,
        store: Store,
        config: AppConfig,
        schedule: Callable[[float, Callable[[], None]], Any],
        faults: Iterable[str] = (),
    ):
        self.store = store
        self.config = config
        self.backup_storage = backup_storage_uuid(store)
        self.admin = store.ensure_admin()  # its password is set by seed()
        self.timing = TimingProfile(config.timing == "realistic", config.timing_seed, config.job_delay)
        # The faults are made first (every noun takes the hooks), so what they call on the nouns is bound late.
        env = faults_.Env(
            store,
            schedule,
            self.admin.uuid,
            authorize=lambda session_uuid, image_uuid: self.accounts.authorize(session_uuid, image_uuid),
            location=lambda job_uuid: self.jobs.location(job_uuid),
        )
        self.hooks = faults_.make_hooks(faults, env)
        self.jobs = Jobs(
            store,
            self.hooks,
            self.timing,
            schedule,
            base_url=config.base_url,
            api_timeout_ms=config.api_timeout_ms,
            job_ttl=config.job_ttl,
        )
        self.accounts = Accounts(
            store, self.hooks, self.jobs, session_timeout=config.session_timeout, max_sessions=config.max_sessions
        )
        self.images = Images(
            store,
            self.hooks,
            self.jobs,
            self.accounts,
            backup_storage=self.backup_storage,
            documented=config.dialect == "documented",
        )
        node = Node(store, self.accounts, self.backup_storage)
        self.router = Router(
            self.timing, self.jobs, self.accounts, self.images, ImageQuery(store, self.hooks, self.accounts), node
        )
        self.handle: Callable[[Request], Answer] = self.router.handle

    def pending_after_restart(self) -> int:
        return self.jobs.pending_after_restart()

    def seed(self, count: int, tenant_name: str, tenant_password: str, admin_password: str = "password") -> None:
        """First start only: a normal account and `count` images, every fourth owned by the tenant."""
        self.store.set_password(self.admin.uuid, admin_password)
        tenant = self.store.ensure_account(tenant_name, tenant_password, "Normal")
        self.store.set_password(tenant.uuid, tenant_password)
        if self.store.meta("seeded") is not None:
            return
        for i in range(count):
            owner = tenant.uuid if i % 4 == 3 else self.admin.uuid
            media = "ISO" if i % 5 == 4 else "RootVolumeTemplate"
            params = {
                "name": f"seed-image-{i:03d}",
                "url": f"http://127.0.0.1/images/seed-{i:03d}.qcow2",
                "mediaType": media,
                "description": f"seeded image {i}" if i % 2 == 0 else None,
                "guestOsType": "CentOS 7" if i % 3 == 0 else None,
                "architecture": "aarch64" if i % 6 == 5 else "x86_64",
            }
            self.store.put_image(self.images.new_image(params, owner), owner)
        self.store.set_meta("seeded", str(count))

    def maintain(self) -> None:
        """The periodic sweep: expired api-jobs and sessions."""
        now = time.time()
        self.jobs.expire(now)
        self.store.drop_expired_sessions(now)
