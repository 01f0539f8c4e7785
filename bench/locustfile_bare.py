"""The baseline for `load_efficiency.py`: a bare FastHttpUser sending the toggle scenario's requests with
no checks, no history and no histograms (the least a locust user can do for the same load).

Like `loadtests/toggle.py` it logs in once per process (its users share the session), gives each user
an image of its own, and alternates enable/disable: PUT actions, then GET the api-job until it is done.
Requests are built by `zscheck.wire`, so both sides send byte-identical requests.

`--no-cookies` turns locust's cookie jar off, as zscheck's users do (like ZStack's SDK): the bench uses it
to tell the cost of the checks alone from what the checked user saves by keeping no cookies.
"""

from __future__ import annotations

import itertools
import json
import os
import urllib.request
from typing import Any

from locust import FastHttpUser, constant, events, task
from locust.env import Environment

from zscheck import wire

_session: dict[str, Any] = {}
_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--no-cookies", action="store_true", help="no cookie jar (as zscheck's users)")


@events.test_start.add_listener
def _login(environment: Environment, **_: Any) -> None:
    host = environment.host or ""
    login = wire.login("admin", wire.hash_password(os.environ.get("ZSCHECK_PASSWORD", "password")))
    request = urllib.request.Request(host + login.path, login.body, dict(login.headers), method=login.method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        _session["uuid"] = json.loads(answer.read())["inventory"]["uuid"]
    query = wire.query_images(_session["uuid"], limit=1000)
    with urllib.request.urlopen(urllib.request.Request(host + query.path, headers=dict(query.headers))) as answer:
        _session["images"] = [i["uuid"] for i in json.loads(answer.read())["inventories"]]


class BareToggle(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        images = _session["images"]
        self.image = images[next(_numbers) % len(images)]
        self.toggles = 0
        options = self.environment.parsed_options
        if options is not None and options.no_cookies:
            self.client.client.cookiejar = None

    @task
    def toggle(self) -> None:
        event = wire.STATE_EVENTS[self.toggles % 2]
        self.toggles += 1
        put = wire.change_state(self.image, event, _session["uuid"])
        answer = self.client.request(put.method, put.path, headers=dict(put.headers), data=put.body, name="PUT")
        location = wire.job_location(answer.status_code, wire.parse_json(answer.content or b""))
        if location is None:
            return
        poll = wire.poll(location)
        for _ in range(100):
            answer = self.client.request(poll.method, poll.path, headers=dict(poll.headers), name="GET api-job")
            if answer.status_code != 202:
                return
