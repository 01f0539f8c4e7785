"""`zscheck serve` as a user runs it: a real subprocess, real signals, one-line errors."""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess, image_uuids
from zscheck import Client
from zscheck.cli import build_parser, main


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zscheck", *args], capture_output=True, text=True, timeout=timeout)


def test_port_0_prints_the_bound_url_and_sigterm_stops_cleanly(serve_process: Callable[..., ServeProcess]) -> None:
    proc = serve_process("--db", ":memory:")
    assert proc.url.startswith("http://127.0.0.1:") and not proc.url.endswith(":0")
    with Client(proc.url) as zs:
        zs.login("admin", PASSWORD)
        assert zs.change_state(image_uuids(zs)[0], "disable").ok
    proc.proc.send_signal(signal.SIGTERM)
    out, err = proc.proc.communicate(timeout=10)
    assert proc.proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_sigint_stops_cleanly(serve_process: Callable[..., ServeProcess]) -> None:
    proc = serve_process("--db", ":memory:")
    proc.proc.send_signal(signal.SIGINT)
    _, err = proc.proc.communicate(timeout=10)
    assert proc.proc.returncode == 0 and "Traceback" not in err


def test_port_taken_is_one_line_and_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--db", ":memory:")
    assert result.returncode == 2
    assert result.stderr.strip() == f"zscheck serve: error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_unreadable_db_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    result = run_cli("serve", "--port", "0", "--db", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open the database" in lines[0] and "bad.db" in lines[0]


def test_bad_option_values_say_the_value_and_the_rule() -> None:
    result = run_cli("serve", "--port", "70000")
    assert result.returncode == 2
    assert "70000 is out of range: it must be at least 0 and at most 65535" in result.stderr
    result = run_cli("serve", "--session-timeout", "soon")
    assert "'soon' is not a number of seconds" in result.stderr


def test_serve_help_explains_every_option() -> None:
    sub = build_parser()._subparsers._group_actions[0].choices["serve"]
    for action in sub._actions:
        assert action.help, f"{action.option_strings} has no help"
    text = sub.format_help()
    for option in (
        "--host",
        "--port",
        "--db",
        "--dialect",
        "--seed-images",
        "--session-timeout",
        "--job-delay",
        "--job-ttl",
        "--tenant",
        "--fsync",
        "--fault",
    ):
        assert option in text
    assert "examples:" in text


@pytest.mark.parametrize("command", ["serve", "contract", "drift", "load", "capacity", "restore", "faults"])
def test_every_option_of_every_command_has_help(command: str) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help"


def test_no_command_prints_help_and_exits_2(capsys: object) -> None:
    assert main([]) == 2


def test_load_options_are_checked_before_anything_runs() -> None:
    result = run_cli("load", "--duration", "soon")
    assert result.returncode == 2 and "'soon' is not a duration: write e.g. 30s, 2m, 1h30m or 45" in result.stderr
    result = run_cli("load", "--slo", "p99<fast")
    assert result.returncode == 2
    assert "--slo 'p99<fast' is not a gate" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("load", "--scenario", "nope")
    assert result.returncode == 2 and "invalid choice: 'nope'" in result.stderr
    result = run_cli("capacity", "--start", "5", "--stop", "1", "--slo", "p99<1s")
    assert result.returncode == 2 and "--stop >= --start" in result.stderr
    result = run_cli("capacity")
    assert result.returncode == 2 and "capacity needs at least one --slo gate" in result.stderr


def test_load_help_lists_scenarios_gates_and_examples() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["load"].format_help()
    for needle in ("toggle", "contention", "mixed", "errors", "examples:", "e2e:p99<250ms", "exit codes"):
        assert needle in text


@pytest.mark.slow
def test_progress_is_redrawn_on_a_terminal_and_plain_lines_elsewhere(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "zscheck", "load", "--duration", "7s", "--users", "2"]
    piped = subprocess.run([*args, "--report-dir", str(tmp_path / "a")], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "\r" not in piped.stdout
    assert any(line.startswith("load:   5/7 s") for line in piped.stdout.splitlines()), piped.stdout
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen([*args, "--report-dir", str(tmp_path / "b")], stdout=child_fd, stderr=child_fd)
    os.close(child_fd)
    seen = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=60) == 0
    os.close(main_fd)
    assert b"\r\x1b[Kload:   5/7 s" in seen  # redrawn in place
    assert b"zscheck: PASS" in seen


@pytest.mark.slow
def test_quiet_load_prints_the_verdict_only(tmp_path: Path) -> None:
    out = run_cli("load", "--duration", "2s", "--users", "1", "--quiet", "--report-dir", str(tmp_path), timeout=120)
    assert out.returncode == 0
    assert all(line.startswith("zscheck:") for line in out.stdout.splitlines()), out.stdout


@pytest.mark.slow
def test_a_signal_while_zscheck_still_imports_exits_2() -> None:
    """SIGTERM at several moments of start-up: whenever the process says it was interrupted while starting,
    it exits 2 (it once exited -2, a KeyboardInterrupt noted by CPython mid-import, 0.8 s in)."""
    said = 0
    for delay in (0.2, 0.35, 0.5, 0.65, 0.8, 1.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "diff", "--baseline-target", "http://127.0.0.1:9",
             "--candidate-target", "http://127.0.0.1:9"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        if "interrupted by a signal while starting" in err:
            said += 1
            assert proc.returncode == 2, (delay, proc.returncode, err)
    assert said, "no signal landed while zscheck imported: the delays no longer cover its start-up"


SLOW_PARSER = """
import sys, time
import zscheck.cli as cli
build = cli.build_parser
def slow():
    print("building", flush=True)
    time.sleep(30)
    return build()
cli.build_parser = slow
raise SystemExit(cli.main(sys.argv[1:]))
"""


def test_a_signal_while_the_command_line_is_read_exits_2_in_one_line() -> None:
    """SIGTERM after the imports, before the command's own handling (building the parser took a loaded CI
    box 6 s): one line and exit 2. It was a KeyboardInterrupt's traceback, and exit -2."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_PARSER, "diff"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "building\n"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (proc.returncode, err)
    assert err == "zscheck diff: interrupted by a signal while starting; nothing was changed\n", err


def test_an_option_is_never_read_from_a_prefix_of_it() -> None:
    """argparse's prefix matching took `diff --baseline URL` for `--baseline-target URL`: an option is
    its whole name, so that one added later cannot change what an old command line means."""
    result = run_cli("diff", "--baseline", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:2")
    assert result.returncode == 2 and "unrecognized arguments: --baseline http://127.0.0.1:1" in result.stderr
    result = run_cli("load", "--dur", "2s")
    assert result.returncode == 2 and "unrecognized arguments: --dur 2s" in result.stderr
