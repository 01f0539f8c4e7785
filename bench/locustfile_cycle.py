"""One locust user class for `server_vs_locust.py`: the full ChangeImageState cycle, as fast as it goes.

Each user logs in once, takes one image of its own (so nearly every cycle is a real, durable state
change rather than an idempotent no-op), then loops with no wait time: `PUT actions` (alternating
enable/disable), then `GET api-job` on the returned location until the answer is not 202. Requests are
built by `zscheck.wire`, never by hand, so the load is exactly what the wire client sends.

The measurement window is kept here, where its edges are exact: it opens when the last user has
logged in (statistics are reset at that instant, so start-up and log-ins count on neither side) and
closes on `test_stop`, after every user has stopped but before locust's own shutdown. At both edges the
CPU time of this process and of the server is read from /proc/PID/stat. The statistics are written with
the window too: locust 2.47's `--csv` files are only rewritten once a second while running (not again at
exit), so they miss up to the last second of requests.

Driven by environment variables set by `server_vs_locust.py`:
  ZSCHECK_BENCH_USERS        how many users will log in (the -u given to locust)
  ZSCHECK_BENCH_SERVER_PID   the server process, whose CPU time is read at the window's edges
  ZSCHECK_BENCH_WINDOW_FILE  where the window (times, CPU seconds, statistics) is written as JSON
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.stats import StatsEntry, StatsError
from server_vs_locust import cpu_seconds, cpu_ticks  # locust puts this file's directory on sys.path

from zscheck import wire

USERS = int(os.environ.get("ZSCHECK_BENCH_USERS", "1"))
SERVER_PID = os.environ.get("ZSCHECK_BENCH_SERVER_PID")
WINDOW_FILE = os.environ.get("ZSCHECK_BENCH_WINDOW_FILE")
# What a successful job reports for each event (ZStack's ImageStateEvent -> ImageState).
EXPECTED_STATE = {"enable": "Enabled", "disable": "Disabled"}
# With --job-delay 0 a job is finished before its 202 is sent; the bound only stops a runaway loop.
MAX_POLLS = 100

_user_numbers = itertools.count()
_logged_in = 0
_window: dict[str, Any] = {}


def _sample(edge: str) -> None:
    _window[f"t{edge}"] = time.monotonic()
    _window[f"locust_cpu{edge}"] = cpu_seconds()
    _window[f"cores{edge}"] = cpu_ticks()
    if SERVER_PID:
        _window[f"server_cpu{edge}"] = cpu_seconds(SERVER_PID)


def _user_ready(environment: Environment) -> None:
    """Called when a user has logged in; the last one opens the window."""
    global _logged_in
    _logged_in += 1
    if _logged_in == USERS:
        environment.stats.reset_all()
        _sample("0")


def _entry(entry: StatsEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "method": entry.method,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "median_ms": entry.median_response_time,
        "p99_ms": entry.get_response_time_percentile(0.99),
    }


@events.test_stop.add_listener
def _close_window(environment: Environment, **_: Any) -> None:
    # Fired once every user has stopped, before the summary and CSV files are written.
    if "t0" not in _window:
        return  # some user never logged in: there is no window, and the parent says so
    _sample("1")
    stats = environment.stats
    _window["stats"] = [_entry(entry) for entry in [*stats.entries.values(), stats.total] if entry.num_requests]
    _window["errors"] = [
        f"{e.method} {e.name}: {StatsError.parse_error(e.error)} (x{e.occurrences})" for e in stats.errors.values()
    ]
    runner = environment.runner
    exceptions = runner.exceptions.values() if runner is not None else ()
    _window["exceptions"] = [f"{exc['msg']} (x{exc['count']})" for exc in exceptions]
    if WINDOW_FILE:
        Path(WINDOW_FILE).write_text(json.dumps(_window))


class CycleUser(FastHttpUser):
    wait_time = constant(0)  # no think time: measure the cost of requests only

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        self.toggles = 0
        login = wire.login("admin", wire.hash_password("password"))
        with self.client.request(
            login.method, login.path, headers=dict(login.headers), data=login.body, name="login", catch_response=True
        ) as resp:
            data = wire.parse_json(resp.content or b"")
            if resp.status_code != 200 or not isinstance(data, dict) or "inventory" not in data:
                resp.failure(f"login answered {resp.status_code}: {(resp.text or '')[:200]}")
                raise StopUser()
            self.session = str(data["inventory"]["uuid"])
        query = wire.query_images(self.session, limit=USERS)
        with self.client.request(
            query.method, query.path, headers=dict(query.headers), name="query images", catch_response=True
        ) as resp:
            data = wire.parse_json(resp.content or b"")
            inventories = data.get("inventories") if isinstance(data, dict) else None
            if resp.status_code != 200 or not inventories:
                resp.failure(f"image query answered {resp.status_code}: {(resp.text or '')[:200]}")
                raise StopUser()
        # One image per user while there are enough; beyond that users share (still correct, fewer writes).
        self.image = str(inventories[self.number % len(inventories)]["uuid"])
        _user_ready(self.environment)

    @task
    def cycle(self) -> None:
        event = wire.STATE_EVENTS[self.toggles % 2]
        self.toggles += 1
        put = wire.change_state(self.image, event, self.session)
        with self.client.request(
            put.method, put.path, headers=dict(put.headers), data=put.body, name="PUT actions", catch_response=True
        ) as resp:
            location = wire.job_location(resp.status_code, wire.parse_json(resp.content or b""))
            if location is None:
                resp.failure(f"expected 202 with a location, got {resp.status_code}: {(resp.text or '')[:200]}")
                return
        poll = wire.poll(location)  # the same request for every attempt: built once, outside the loop
        for attempt in range(MAX_POLLS):
            with self.client.request(
                poll.method, poll.path, headers=dict(poll.headers), name="GET api-job", catch_response=True
            ) as resp:
                if resp.status_code == 202 and attempt < MAX_POLLS - 1:
                    continue  # still processing: poll again (the last 202 counts as a failure below)
                data = wire.parse_json(resp.content or b"")
                inventory = data.get("inventory") if isinstance(data, dict) else None
                state = inventory.get("state") if isinstance(inventory, dict) else None
                if resp.status_code != 200:
                    resp.failure(f"job answered {resp.status_code}: {(resp.text or '')[:200]}")
                elif state != EXPECTED_STATE[event]:
                    resp.failure(f"job result state {state!r}, expected {EXPECTED_STATE[event]!r}")
                return
