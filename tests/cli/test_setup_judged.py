"""Setup is judged too (issue #10): a target that breaks the contract while the harness logs in or creates
its fixtures has failed it, exit 1 with that violation, in contract, load and run; exit 2 stays for a
target that cannot be reached, refuses the password, or is no ZStack at all.

The broken targets are the reference server behind a small rewriting proxy: one answers the login with a
200 that carries no session, one answers AddImage's 202 with a location that does not poll.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck import Client

pytestmark = pytest.mark.slow


@contextmanager
def rewriting_proxy(upstream: str, breaks: str) -> Iterator[str]:
    """`upstream` behind a proxy that breaks one answer: `login` (a 200 without the session's inventory)
    or `add-image` (AddImage's 202 names an api-job that does not exist)."""
    up = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            status, data = answer.status, answer.read()
            own = f"http://127.0.0.1:{self.server.server_address[1]}"
            data = data.replace(upstream.encode(), own.encode())  # api-job locations point at the proxy
            if breaks == "login" and self.path.endswith("/accounts/login") and status == 200:
                data = json.dumps({"inventory": {"accountUuid": "x"}}).encode()
            if breaks == "add-image" and self.command == "POST" and self.path.endswith("/images") and status == 202:
                data = json.dumps({"location": f"{own}/zstack/v1/api-jobs/{'0' * 32}", "apiTimeout": 1800000}).encode()
            self.send_response(status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def zscheck(tmp_path: Path, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zscheck", *args, "--timeout", "10"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "ZSCHECK_PASSWORD": password},
    )  # fmt: skip


@pytest.mark.parametrize("command", ["contract", "load", "run"])
@pytest.mark.parametrize("breaks", ["login", "add-image"])
def test_a_target_that_breaks_the_contract_while_setting_up_is_exit_1(
    make_server: ServerFactory, tmp_path: Path, command: str, breaks: str
) -> None:
    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {i["uuid"] for i in zs.query_images().data["inventories"]}
        with rewriting_proxy(server.url, breaks) as url:
            extra = {
                "contract": ["--max-examples", "2", "--report-dir", "r"],
                "load": ["--duration", "2s", "--users", "1", "--report-dir", "r"],
                "run": ["--skip", "drift", "--max-examples", "2", "--duration", "2s", "--users", "1"],
            }[command]
            proc = zscheck(tmp_path, command, "--target", url, *extra)
        after = {i["uuid"] for i in zs.query_images().data["inventories"]}
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert after == before  # nothing left behind (the fixture the broken 202 named never existed)
    check = "envelope" if breaks == "login" else "job_protocol"
    summary_path = tmp_path / ("r" if command != "run" else "reports/latest") / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["verdict"] == "VIOLATIONS"
    if command == "contract":
        assert summary["failures_by_check"] == {check: 1}
    elif command == "load":
        assert check in summary["error"] and "while the run set up" in summary["error"]
    else:
        assert summary["phases"][0]["exit_code"] == 1  # contract's setup, judged
    assert f"violation {check}" in proc.stdout


def test_wrong_credentials_and_no_zstack_stay_exit_2(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    proc = zscheck(tmp_path, "load", "--target", server.url, "--report-dir", "r", password="wrong")
    assert proc.returncode == 2 and "ID.1000" in proc.stdout
