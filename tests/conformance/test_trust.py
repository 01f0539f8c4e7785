"""Verdicts that are true of the target: a correct server behind --target (jobs like a real node's) passes,
setting up is judged, coverage is stated, and a live session refused is a violation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck.checks import default_table


def contract(report: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "zscheck",
            "contract",
            "--quiet",
            "--no-schemathesis-report",
            "--report-dir",
            str(report),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    summary_path = report / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_correct_server_with_a_real_nodes_timing_passes_as_a_target(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """The path a real ZStack takes: --target, a password, a normal account provisioned with CreateAccount
    and deleted at the end, jobs of tens to hundreds of milliseconds, one-second timestamps."""
    server = make_server(timing="realistic", timing_seed=3)
    code, summary, output = contract(
        tmp_path / "r", "--target", server.url, "--max-examples", "10", "--seed", "3",
        env={"ZSCHECK_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert code == 0, output[-3000:]
    assert summary["verdict"] == "PASS"
    assert summary["coverage"]["image-of-another-account"] > 0  # the provisioned account was used
    # Only what this target cannot be sent is listed, with why: its session timeout is not known.
    assert set(summary["not_covered"]) == {"session=expired"}, summary["not_covered"]
    journal = [json.loads(line) for line in (tmp_path / "r" / "journal.jsonl").read_text().splitlines()]
    accounts = {e["uuid"] for e in journal if e["kind"] == "account"}
    restored = {e["uuid"] for e in journal if e["kind"] == "restored"}
    assert accounts and accounts <= restored  # the account was journalled before it existed, and removed


@pytest.mark.slow
def test_the_embedded_server_exercises_every_rule(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    code, summary, output = contract(tmp_path / "r", "--max-examples", "5", "--seed", "1", "--events", str(events))
    assert code == 0, output[-3000:]
    table = default_table()
    for name in [rule.name for rule in table.rules] + list(table.protocol):
        assert summary["coverage"].get(name, 0) > 0, f"{name} was never exercised: {summary['coverage']}"
    assert summary["not_covered"] == {}
    # the verdict states the coverage (--quiet prints the headline only; the verdict event has its lines)
    verdict = [json.loads(line) for line in events.read_text().splitlines()][-1]
    assert verdict["event"] == "VerdictReached" and any(d.startswith("coverage:") for d in verdict["details"])


class _BrokenJobs(BaseHTTPRequestHandler):
    """A proxy to a correct server that breaks one thing: AddImage's 202 names a job that never existed."""

    backend = ""

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(self.command, self.backend + self.path, headers=headers, content=body, timeout=10)
        content = answer.content
        if self.command == "POST" and self.path.startswith("/zstack/v1/images") and answer.status_code == 202:
            data = answer.json()
            data["location"] = data["location"].rsplit("/", 1)[0] + "/" + "f" * 32
            content = json.dumps(data).encode()
        self.send_response(answer.status_code)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def broken_add_image(make_server: ServerFactory) -> Iterator[str]:
    handler = type("Handler", (_BrokenJobs,), {"backend": make_server().url})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.slow
def test_a_target_that_breaks_the_protocol_while_fixtures_are_made_fails_the_run(
    broken_add_image: str, tmp_path: Path
) -> None:
    """Setting up is judged too: exit 1 with the violation, not exit 2 ("could not run")."""
    code, summary, output = contract(
        tmp_path / "r", "--target", broken_add_image, "--max-examples", "5", env={"ZSCHECK_PASSWORD": PASSWORD}
    )
    assert code == 1, output[-2000:]
    assert summary["failures_by_check"] == {"job_protocol": 1}, summary["failures_by_check"]
    assert summary["failures"][0]["test"] == "setup"
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_live_session_refused_is_a_violation_not_a_re_login(tmp_path: Path) -> None:
    """Never hide a fault of the target: a server that answers ID.1001 for a session it accepted moments
    ago fails the run with `session_rejected`; the harness does not log in again and carry on."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "contracts", "-p", "no:cacheprovider", "-q", "--zs-fault", "session-drop",
         "--zs-max-examples", "10", "--hypothesis-seed", "5", "--zs-report-dir", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "session_rejected" in summary["failures_by_check"], summary["failures_by_check"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_shrink_budget_is_the_runs_not_each_tests(tmp_path: Path) -> None:
    """A broken build fails several Hypothesis tests; each searching for its shortest form for the whole
    budget would make the run cost a multiple of a clean one. The budget is shared: what one test spent is
    gone for the next (each keeps at least 1 s)."""
    import re

    budget = 2
    code, summary, output = contract(
        tmp_path / "r", "--fault", "disable-noop", "--max-examples", "30", "--seed", "3",
        "--shrink-budget", str(budget),
    )  # fmt: skip
    assert code == 1, output[-2000:]
    left = [int(m) for note in summary["notes"] for m in re.findall(r"stopped at the (\d+) s left", note)]
    assert left, summary["notes"]  # a search was cut short (on a busy machine, both tests' searches are)
    # Each later test gets what is left, at least 1 s: per test, two cut-short searches would show 2 + 2.
    assert sum(left) <= budget + max(0, len(left) - 1), (left, summary["notes"])
