"""What the reference server's front-end limits and durable answers cost per request, against the code
before them, measured in the same run.

Issue 15 items 5 and 6 put work on every request: counting URL, header and body bytes, stamping the
request's start for the 408 sweep, and holding each answer until its group-commit batch has committed (so
a 202 is never sent for a job a crash could lose), plus a savepoint per write. This bench runs the same
workload against both versions of `src/` (the baseline taken from git), each in its own process, in
alternating rounds, and reports CPU seconds per request (process time: both sides share this machine, so
wall time would measure the neighbours) and the ratio new / baseline:

- `front`: the HTTP front end alone (httptools, the limits, the answer path) over a stub application that
  answers at once: the worst case, where the front end is the whole cost;
- `put`: ChangeImageState through the whole server (the real App on an in-memory store), pipelined 16
  deep, each batch committed before its answers go out, as `zscheck load` drives it.

No sockets: requests are fed to the connection object as a socket would deliver them, so the numbers are
the server's CPU and nothing else.

    python bench/front_overhead.py                       # baseline: the commit before the limits
    python bench/front_overhead.py --baseline 3d0e2df --rounds 7 --requests 40000

Exit 0 when the `put` ratio is at most 1.10 (the goal: the limits and durable 202s cost at most 10% of a
real request), 1 when it is above, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASELINE = "3d0e2df"  # the commit before issue 15's front-end limits and durable answers
GOAL = 1.10

WORKER = r"""
import asyncio, inspect, json, sys, time
from zscheck.refserver import server as srv
from zscheck.refserver.app import App, AppConfig
from zscheck.refserver.rest import Response
from zscheck.refserver.store import Store

class Transport:
    def __init__(self): self.sent = 0
    def write(self, data): self.sent += len(data)
    def close(self): pass
    def abort(self): pass
    def is_closing(self): return False
    def pause_reading(self): pass
    def resume_reading(self): pass
    def can_write_eof(self): return True
    def write_eof(self): pass
    def get_extra_info(self, name, default=None): return default

class StubStore:
    uncommitted = False

class StubApp:
    store = StubStore()
    answer = Response(202, b'{"location":"http://127.0.0.1:8080/zstack/v1/api-jobs/0","apiTimeout":1800000}')
    def handle(self, request): return self.answer

def connection(app):
    params = inspect.signature(srv._Connection).parameters
    args = [app, set()] + ([srv.Limits()] if len(params) > 2 else [])
    conn = srv._Connection(*args)
    conn.connection_made(Transport())
    return conn

async def run(kind, requests):
    loop = asyncio.get_running_loop()
    if kind == "front":
        app = StubApp()
        head = (b"PUT /zstack/v1/images/0123456789abcdef0123456789abcdef/actions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: OAuth 0123456789abcdef0123456789abcdef\r\nContent-Type: application/json\r\n"
                b"User-Agent: python-httpx/0.27\r\nAccept: */*\r\nContent-Length: 45\r\n\r\n")
        batch = (head + b'{"changeImageState":{"stateEvent":"disable"}}') * 16
    else:
        store = Store(":memory:")
        store.enable_group_commit(loop.call_soon)
        app = App(store, AppConfig(), loop.call_later)
        app.seed(16, "tenant", "password")
        session = store.add_session(app.admin.uuid, 7200).uuid
        images = sorted(store.images)
        def put(image, event):
            body = json.dumps({"changeImageState": {"stateEvent": event}}).encode()
            return (f"PUT /zstack/v1/images/{image}/actions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: OAuth {session}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        batches = [b"".join(put(i, e) for i in images) for e in ("disable", "enable")]
    conn = connection(app)
    rounds = requests // 16
    started = time.process_time()
    for n in range(rounds):
        conn.data_received(batch if kind == "front" else batches[n % 2])
        if kind == "put":
            await asyncio.sleep(0)  # the next turn: the batch commits, held answers go out
            await asyncio.sleep(0)
    took = time.process_time() - started
    return took / (rounds * 16)

kind, requests = sys.argv[1], int(sys.argv[2])
print(json.dumps(asyncio.run(run(kind, requests))))
"""


def measure(src: str, kind: str, requests: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, kind, str(requests)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode != 0:
        raise SystemExit(f"front_overhead: the worker failed on {src}: {proc.stderr.strip()[-800:]}")
    return float(json.loads(proc.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the code before (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=32000, help="per round and side")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="front-overhead-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", args.baseline, "src"], capture_output=True, timeout=60
        )
        if archive.returncode != 0:
            print(f"front_overhead: cannot read {args.baseline} from git: {archive.stderr.decode().strip()}")
            return 2
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True, timeout=60)
        sides = {"baseline": str(Path(tmp) / "src"), "new": str(root / "src")}
        results: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in ("front", "put")}
        for _ in range(args.rounds):
            for kind in results:
                for side, src in sides.items():  # alternating: drift in the machine's load hits both
                    results[kind][side].append(measure(src, kind, args.requests))
    ratios = {}
    for kind, sides_ in results.items():
        base, new = statistics.median(sides_["baseline"]), statistics.median(sides_["new"])
        ratios[kind] = new / base
        print(
            f"{kind:5}  baseline {base * 1e6:7.2f} us CPU/request   new {new * 1e6:7.2f} us   "
            f"ratio {new / base:.3f}   (medians of {args.rounds} rounds of {args.requests})"
        )
    print(json.dumps({"baseline": args.baseline, "ratios": ratios, "samples": results}))
    return 0 if ratios["put"] <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
