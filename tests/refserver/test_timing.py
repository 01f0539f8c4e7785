"""The timing profiles: `instant` (the default) and `realistic` (api-jobs finish after a seeded log-normal
delay like a real node's; synchronous answers after 1-5 ms), and when a job's write happens."""

from __future__ import annotations

import statistics
import time
import urllib.request

from tests.conftest import PASSWORD, ServeProcess, ServerFactory, image_uuids
from tests.refserver.helpers import action, send_json
from zscheck import Client, _wire
from zscheck.refserver.app import App
from zscheck.refserver.timing import JOB_DELAY_CAP


def draws(app: App, n: int) -> list[float]:
    return [app.timing.job_delay() for _ in range(n)]


def test_realistic_job_delays_look_like_a_real_node(make_server: ServerFactory) -> None:
    server = make_server(timing="realistic", timing_seed=1)
    delays = sorted(server.call(lambda: draws(server.server.app, 4000)))
    median, p90 = statistics.median(delays), delays[int(0.9 * len(delays))]
    assert 0.045 < median < 0.080, median
    assert 0.150 < p90 < 0.260, p90
    assert max(delays) <= JOB_DELAY_CAP and min(delays) > 0.0


def test_the_profile_is_seeded_per_server(make_server: ServerFactory) -> None:
    a, b, c = (make_server(timing="realistic", timing_seed=seed) for seed in (7, 7, 8))
    first, second, other = (s.call(lambda s=s: draws(s.server.app, 50)) for s in (a, b, c))
    assert first == second
    assert first != other


def test_instant_jobs_take_no_time(make_server: ServerFactory) -> None:
    server = make_server()
    assert server.call(lambda: draws(server.server.app, 10)) == [0.0] * 10


def test_realistic_jobs_are_processing_then_done(make_server: ServerFactory) -> None:
    server = make_server(timing="realistic", timing_seed=3)
    with Client(server.url, poll_interval=0.005, poll_max_interval=0.02) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        pending = 0
        for event in ("disable", "enable") * 5:
            accepted = zs.send(_wire.change_state(image, event, zs.session.uuid))
            assert accepted.status == 202
            first = zs.send(_wire.poll(accepted.json["location"]))
            pending += first.status == 202
            deadline = time.monotonic() + 3.0  # the cap is 1.5 s
            answer = first
            while answer.status == 202 and time.monotonic() < deadline:
                time.sleep(0.01)
                answer = zs.send(_wire.poll(accepted.json["location"]))
            assert answer.status == 200, answer.text()
        assert pending >= 5  # a job rarely finishes within the 1-5 ms of a round trip


def test_realistic_sync_answers_take_a_few_milliseconds(make_server: ServerFactory) -> None:
    server = make_server(timing="realistic")
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        started = time.perf_counter()
        for _ in range(20):
            assert zs.query_images().ok
        mean = (time.perf_counter() - started) / 20
    assert 0.001 <= mean < 0.03, mean


def test_last_op_date_is_the_time_of_the_write_after_the_delay(make_server: ServerFactory) -> None:
    """The job writes when it finishes, not when it is accepted: lastOpDate is at least the acceptance plus
    the delay, to the second."""
    server = make_server(job_delay=1.05)
    with Client(server.url, poll_interval=0.05) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[1]
        accepted_at = time.time()
        result = action(zs, image, "updateImage", {"name": "later"})
        assert result.ok
        stored = server.call(lambda: server.server.app.store.images[image]["lastOpDate"])
        assert stored >= int(accepted_at + 1.05)
        assert stored == int(stored)


def test_serve_takes_the_timing_options(serve_process: type[ServeProcess]) -> None:
    proc = serve_process("--db", ":memory:", "--timing", "realistic", "--timing-seed", "4")
    request = urllib.request.Request(
        f"{proc.url}/zstack/v1/management-nodes/actions", data=b'{"getVersion": {}}', method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
    with Client(proc.url) as zs:
        zs.login("admin", PASSWORD)
        assert send_json(zs, "GET", "/zstack/v1/images").ok
