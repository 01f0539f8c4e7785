"""Nothing the transport does hides a fault of the target: a request that got no answer is never re-sent
(by locust or geventhttpclient), it is a `transport` violation, and every reconnect is counted.

A loopback proxy in front of a correct reference server closes the connection of every Nth state change
after the server has answered it, without relaying the answer (the write happened; the client cannot
know). It counts every X-Job-UUID it is sent, so a re-send shows up as a job uuid seen twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.load.proxies import Proxy
from tests.load.test_runner import zscheck_load

pytestmark = pytest.mark.slow


class DroppingProxy(Proxy):
    def __init__(self, upstream: str, every: int) -> None:
        self.every = every
        self.jobs: Counter[str] = Counter()  # X-Job-UUID -> times sent
        self.changes = 0
        self.dropped = 0
        super().__init__(upstream)

    def handle(self, request: bytes) -> bool:
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        if not (head.startswith("PUT ") and "/actions" in head.split("\r\n", 1)[0]):
            return True
        job = next(
            (line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("x-job-uuid:")),
            "",
        )
        with self.lock:
            self.jobs[job] += 1
            self.changes += 1
            drop = self.changes % self.every == 0
            self.dropped += drop
        return not drop  # the server did it and answered; the client gets a closed connection


@pytest.fixture
def proxy(make_server: ServerFactory) -> Iterator[DroppingProxy]:
    p = DroppingProxy(make_server().url, every=40)
    yield p
    p.close()


def test_a_change_whose_connection_closes_unanswered_is_a_transport_violation_and_never_resent(
    proxy: DroppingProxy, tmp_path: Path
) -> None:
    code, out, summary = zscheck_load(tmp_path, "--target", proxy.url, "--users", "4", "--duration", "3s")
    assert code == 1, out
    result = summary["result"]
    assert proxy.dropped >= 3, "the run was too short to drop anything"
    transport = [f for f in result["failures"] if f["check"] == "transport"]
    # Every drop is a violation, except one that cut a user's last request as locust stopped it (4 users):
    # the user is gone before it can record the answer it never got (seen once: 61 of 62).
    assert proxy.dropped - 4 <= sum(f["count"] for f in transport) <= proxy.dropped, (transport, proxy.dropped)
    assert {f["check"] for f in result["failures"]} == {"transport"}
    assert "re-send was refused" in transport[0]["examples"][0]["message"]
    resent = {job: n for job, n in proxy.jobs.items() if n > 1}
    assert resent == {}, f"re-sent state changes: {resent}"
    harness = result["harness"]
    # geventhttpclient tried once per drop, refused; a user stopped by locust mid-drop never records its last
    assert proxy.dropped - 4 <= harness["resends_refused"] <= proxy.dropped
    # Each drop is followed by a new connection and a read of the image back by its owner before its next
    # change, except a drop that ended a user's last operation of the run (4 users).
    assert proxy.dropped - 4 <= harness["reconnects"] <= proxy.dropped
    assert harness["connections"] == 4 + harness["reconnects"]
    assert proxy.dropped - 4 <= harness["resyncs"] <= proxy.dropped
    assert result["linearizability"]["ok"]  # indeterminate writes: the history allows both outcomes
    assert "violation transport" in out
