"""kill -9 under writers: does every acknowledged change and every accepted job survive a crash?

Each trial starts `zscheck serve` on one SQLite file (the same file across trials, so every trial also
restarts on what the previous crash left), runs N writers on loopback for a few seconds, kills the server
with SIGKILL while they write, restarts it on the file, and checks:

- accepted jobs: every job whose 202 a writer read must still answer after the restart (200, 503, or 202
  while pending); a 404 "the job has been expired" is an accepted job lost (issue 15 item 6);
- acknowledged changes: every image whose last change was acknowledged (its job polled 200) must hold that
  state, or a state requested after it (a change in flight at the kill may or may not have landed).

Each writer owns its images and pipelines one change per image, then polls them, so requests from many
writers share a group-commit batch, as under real load.

    python bench/soak_kill9.py                          # 10 trials, 16 writers, 2 s each
    python bench/soak_kill9.py --trials 37 --fsync       # the issue's probe, with --fsync
    python bench/soak_kill9.py --trials 3 --seconds 1 --json   # quick, machine-readable

Exit 0 when nothing was lost, 1 when something was, 2 when the bench could not run. Everything is
loopback and bounded: trials x (seconds + restart), each socket with a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IMAGES_PER_WRITER = 4
EVENTS = {"disable": "Disabled", "enable": "Enabled"}


@dataclass
class Trial:
    accepted: int = 0  # 202s read before the kill
    accepted_lost: int = 0  # of those, answering 404 after the restart
    acknowledged: int = 0  # changes whose job polled 200
    checked: int = 0  # images with an acknowledged change (its last one), checked after the restart
    lost: int = 0  # of those, holding neither the acknowledged state nor a later requested one
    examples: list[str] = field(default_factory=list)


class Server:
    def __init__(self, db: str, extra: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "serve", "--port", "0", "--db", db, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.proc.kill()
            raise SystemExit(f"soak_kill9: the server did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[-1].strip()
        host, port = self.url.split("//", 1)[1].rsplit(":", 1)
        self.address = (host, int(port))

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _read(sock: socket.socket, buffer: bytearray, count: int) -> list[tuple[int, bytes]]:
    answers: list[tuple[int, bytes]] = []
    while len(answers) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if len(buffer) >= end + 4 + length:
                answers.append((int(head.split(" ", 2)[1]), bytes(buffer[end + 4 : end + 4 + length])))
                del buffer[: end + 4 + length]
                continue
        chunk = sock.recv(262144)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    return answers


def _exchange(address: tuple[str, int], requests: list[bytes]) -> list[tuple[int, bytes]]:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"".join(requests))
        return _read(sock, bytearray(), len(requests))


def _login(address: tuple[str, int]) -> str:
    import hashlib

    body = json.dumps(
        {"logInByAccount": {"accountName": "admin", "password": hashlib.sha512(b"password").hexdigest()}}
    ).encode()
    request = (
        f"PUT /zstack/v1/accounts/login HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    ((status, answer),) = _exchange(address, [request])
    if status != 200:
        raise SystemExit(f"soak_kill9: login failed: {status} {answer[:200]!r}")
    return str(json.loads(answer)["inventory"]["uuid"])


def _images(address: tuple[str, int], session: str) -> dict[str, str]:
    request = f"GET /zstack/v1/images?limit=100000 HTTP/1.1\r\nHost: x\r\nAuthorization: OAuth {session}\r\n\r\n"
    ((status, answer),) = _exchange(address, [request.encode()])
    if status != 200:
        raise SystemExit(f"soak_kill9: query failed: {status} {answer[:200]!r}")
    return {inv["uuid"]: inv["state"] for inv in json.loads(answer)["inventories"]}


def _put(image: str, event: str, session: str) -> bytes:
    body = json.dumps({"changeImageState": {"stateEvent": event}}).encode()
    return (
        f"PUT /zstack/v1/images/{image}/actions HTTP/1.1\r\nHost: x\r\nAuthorization: OAuth {session}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _poll(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


class Writer(threading.Thread):
    """Changes its own images, one pipelined round at a time, until the server dies or time is up."""

    def __init__(self, address: tuple[str, int], session: str, images: list[str], until: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.address, self.session, self.images, self.until = address, session, images, until
        self.random = random.Random(seed)
        self.accepted: list[str] = []  # job paths whose 202 was read
        self.acked: dict[str, str] = {}  # image -> the state of its last acknowledged change
        self.acks = 0  # acknowledged changes, all of them
        self.later: dict[str, set[str]] = {image: set() for image in images}  # states asked after that

    def run(self) -> None:
        try:
            with socket.create_connection(self.address, timeout=10) as sock:
                buffer = bytearray()
                while time.monotonic() < self.until:
                    events = [self.random.choice(tuple(EVENTS)) for _ in self.images]
                    for image, event in zip(self.images, events, strict=True):
                        self.later[image].add(EVENTS[event])
                    sock.sendall(b"".join(_put(i, e, self.session) for i, e in zip(self.images, events, strict=True)))
                    paths = []
                    for status, body in _read(sock, buffer, len(self.images)):
                        if status != 202:
                            raise ConnectionError(f"{status} {body[:100]!r}")
                        location = json.loads(body)["location"]
                        paths.append(location[location.index("/zstack/") :])
                    self.accepted.extend(paths)
                    sock.sendall(b"".join(_poll(p) for p in paths))
                    for image, (status, body) in zip(self.images, _read(sock, buffer, len(paths)), strict=True):
                        if status == 200:
                            self.acks += 1
                            self.acked[image] = json.loads(body)["inventory"]["state"]
                            self.later[image] = set()
        except (OSError, ConnectionError, ValueError):
            return  # the kill (or an answer cut by it)


def trial(db: str, writers: int, seconds: float, extra: list[str], seed: int) -> Trial:
    server = Server(db, extra)
    try:
        session = _login(server.address)
        images = sorted(_images(server.address, session))
        if len(images) < writers * IMAGES_PER_WRITER:
            raise SystemExit("soak_kill9: too few images: the first trial seeds them (--seed-images)")
        until = time.monotonic() + seconds * 2
        team = [
            Writer(
                server.address, session, images[k * IMAGES_PER_WRITER : (k + 1) * IMAGES_PER_WRITER], until, seed + k
            )
            for k in range(writers)
        ]
        for writer in team:
            writer.start()
        time.sleep(seconds * random.Random(seed).uniform(0.5, 1.0))  # kill at a random moment
        server.kill()
        for writer in team:
            writer.join(15)
    finally:
        server.stop()
    result = Trial()
    again = Server(db, extra)
    try:
        session = _login(again.address)
        states = _images(again.address, session)
        accepted = [path for writer in team for path in writer.accepted]
        result.accepted = len(accepted)
        for start in range(0, len(accepted), 500):
            chunk = accepted[start : start + 500]
            for path, (status, _) in zip(chunk, _exchange(again.address, [_poll(p) for p in chunk]), strict=True):
                if status == 404:
                    result.accepted_lost += 1
                    if len(result.examples) < 5:
                        result.examples.append(f"accepted job {path} answers 404 after the restart")
        for writer in team:
            result.acknowledged += writer.acks
            for image, state in writer.acked.items():
                result.checked += 1
                if states.get(image) != state and states.get(image) not in writer.later[image]:
                    result.lost += 1
                    if len(result.examples) < 5:
                        result.examples.append(f"image {image}: {states.get(image)}, acknowledged {state}")
    finally:
        again.stop()
    return result


def soak(trials: int, writers: int, seconds: float, *, fsync: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run the trials on one fresh database; the totals, and each trial."""
    extra = ["--seed-images", str(writers * IMAGES_PER_WRITER), *(["--fsync"] if fsync else [])]
    with tempfile.TemporaryDirectory(prefix="soak-kill9-") as tmp:
        db = str(Path(tmp) / "soak.db")
        results = [trial(db, writers, seconds, extra, seed + 1000 * n) for n in range(trials)]
    totals = {
        key: sum(getattr(r, key) for r in results)
        for key in ("accepted", "accepted_lost", "acknowledged", "checked", "lost")
    }
    return {
        "trials": trials,
        "writers": writers,
        "seconds": seconds,
        "fsync": fsync,
        **totals,
        "each": [asdict(r) for r in results],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0, help="at most this long before each kill")
    parser.add_argument("--fsync", action="store_true", help="run the server with --fsync")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if not (1 <= args.trials <= 1000 and 1 <= args.writers <= 256 and 0.1 <= args.seconds <= 60):
        print("soak_kill9: --trials 1-1000, --writers 1-256, --seconds 0.1-60", file=sys.stderr)
        return 2
    result = soak(args.trials, args.writers, args.seconds, fsync=args.fsync, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['trials']} kill -9 trials, {result['writers']} writers, fsync={result['fsync']}: "
            f"accepted jobs {result['accepted']}, lost {result['accepted_lost']}; "
            f"acknowledged changes {result['acknowledged']} (the last of each image checked: "
            f"{result['checked']}), lost {result['lost']}"
        )
        for each in result["each"]:
            for example in each["examples"]:
                print(f"  {example}")
    return 1 if result["accepted_lost"] or result["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
