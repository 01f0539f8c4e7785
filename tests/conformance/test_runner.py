"""`zscheck contract` as users run it: exit codes that mean something, one-line reasons, reports."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory


def contract(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--quiet", "--report-dir", str(tmp_path / "r"), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


def test_unreachable_target_is_exit_2_with_a_reason(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = contract(tmp_path, "--target", f"http://127.0.0.1:{port}", env={"ZSCHECK_PASSWORD": "x"})
    assert result.returncode == 2
    # --quiet: the verdict only, and it names the target given and why it could not run
    assert result.stdout.startswith(f"zscheck: COULD NOT RUN (contract) - http://127.0.0.1:{port}, seed ")
    assert f" - cannot reach http://127.0.0.1:{port}" in result.stdout.splitlines()[0]
    assert "Traceback" not in result.stdout + result.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["target"] == f"http://127.0.0.1:{port}" and "cannot reach" in summary["harness_errors"][0]
    assert f"--target http://127.0.0.1:{port}" in summary["replay"]


def test_failed_login_is_exit_2_and_never_shows_the_password(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    result = contract(tmp_path, "--target", server.url, env={"ZSCHECK_PASSWORD": "Sup3r-s3cret"})
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "ID.1000" in output and "Sup3r-s3cret" not in output
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            assert "Sup3r-s3cret" not in path.read_text()


def test_missing_password_for_a_target_is_exit_2(tmp_path: Path) -> None:
    result = contract(tmp_path, "--target", "http://127.0.0.1:9", "--password-env", "ZS_NOT_SET_ANYWHERE")
    assert result.returncode == 2
    assert "ZS_NOT_SET_ANYWHERE is not set" in result.stderr


def test_a_plain_password_argument_does_not_exist(tmp_path: Path) -> None:
    result = contract(tmp_path, "--password", "hunter2")
    assert result.returncode == 2 and "--password is not accepted" in result.stderr
    assert "ZSCHECK_PASSWORD" in result.stderr


@pytest.mark.slow
def test_real_target_run_restores_given_images_and_writes_reports(make_server: ServerFactory, tmp_path: Path) -> None:
    from zscheck import Client

    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        given = zs.query_images().data["inventories"][0]["uuid"]
        before = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
        result = contract(
            tmp_path,
            "--target",
            server.url,
            "--image",
            given,
            "--max-examples",
            "10",
            "--seed",
            "5",
            env={"ZSCHECK_PASSWORD": PASSWORD},
        )
        assert result.returncode == 0, result.stdout[-2000:]
        after = {inv["uuid"]: inv for inv in zs.query_images().data["inventories"]}
    assert after.keys() == before.keys()  # every created fixture image is gone
    for uuid, image in before.items():
        if uuid != given:
            assert after[uuid] == image  # never touched an image it was not given
    # the given image is back in its original state (lastOpDate moves: restoring is itself a change)
    assert {k: v for k, v in after[given].items() if k != "lastOpDate"} == {
        k: v for k, v in before[given].items() if k != "lastOpDate"
    }
    report = tmp_path / "r"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["seed"] == 5 and summary["requests"] > 100
    assert (report / "junit.xml").read_text().count("<testcase") >= 5
    st = report / "schemathesis"
    assert list(st.glob("junit-*.xml")) and list(st.glob("har-*.json")), "schemathesis' own report is missing"
    assert "OAuth " not in next(st.glob("har-*.json")).read_text().replace("OAuth $", "")
    assert result.stdout.startswith(f"zscheck: PASS (contract) - {server.url}, seed 5\n")  # --quiet: the verdict
    assert summary["cases"] > 0 and summary["requests_per_s"] > 0  # the numbers are in the report


@pytest.mark.slow
def test_documented_dialect_against_a_documented_server_is_conformant(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(dialect="documented")
    result = contract(
        tmp_path,
        "--target",
        server.url,
        "--dialect",
        "documented",
        "--tenant",
        "tenant",
        "--max-examples",
        "10",
        env={"ZSCHECK_PASSWORD": PASSWORD, "ZSCHECK_TENANT_PASSWORD": PASSWORD},
    )
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(300)  # 30 s of CPU, but shrinking many failures; 113 s wall on a saturated machine
def test_rest_contract_against_a_documented_server_finds_violations(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(dialect="documented")
    result = contract(tmp_path, "--target", server.url, "--max-examples", "5", env={"ZSCHECK_PASSWORD": PASSWORD})
    assert result.returncode == 1


@pytest.mark.slow
def test_progress_lines_name_suites_requests_failures_and_time_left(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--max-examples", "3", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("contract: ") and " suites, " in line]
    pattern = re.compile(r"^contract: (\d+)/(\d+) suites, \d+ requests, 0 failures, \d+ s elapsed, about \d+ s left$")
    assert lines and all(pattern.match(line) for line in lines), lines
    last = pattern.match(lines[-1])
    assert last is not None and last.group(1) == last.group(2)
