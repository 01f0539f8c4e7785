"""The README's quick start works exactly as written (install line aside: the tests run installed)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def block(marker: str) -> list[str]:
    match = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)```", README.read_text(), re.S)
    assert match, f"README lost its {marker} block"
    return match.group(1).strip().splitlines()


def quickstart_block() -> list[str]:
    return block("quickstart")


@pytest.mark.alone
@pytest.mark.timeout(660)  # `zscheck run` is bounded at 600 s below; beside other test files it took over 120 s
def test_main_job_runs_everything_against_the_embedded_server(tmp_path: Path) -> None:
    (line,) = block("main-job")
    install, _, command = line.rpartition(" && ")
    assert install == "python3 -m venv .venv && . .venv/bin/activate && pip install -e ."
    assert command == "zscheck run"
    bindir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "zscheck"), *command.split()[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    latest = tmp_path / "reports" / "latest"
    assert result.stdout.splitlines()[-1] == f"zscheck: report {latest.resolve() / 'index.html'}"
    assert {"index.html", "summary.json", "contract", "load", "drift"} <= {p.name for p in latest.iterdir()}
    contract = json.loads((latest / "contract" / "summary.json").read_text())
    assert contract["requests"] >= 1000, "the nightly profile sends at least 1,000 requests"
    assert {"junit.xml", "failures.md", "journal.jsonl"} <= {p.name for p in (latest / "contract").iterdir()}
    load = json.loads((latest / "load" / "summary.json").read_text())
    assert load["verdict"] == "PASS" and load["result"]["duration"] <= 60  # a short load run: a minute or less


@pytest.mark.slow
def test_quickstart_changes_an_images_state() -> None:
    lines = quickstart_block()
    assert lines[0].startswith("python3 -m venv .venv") and "pip install -e ." in lines[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bindir = Path(sys.executable).parent
    script = "\n".join(lines[1:]).replace("8080", str(port))
    script = script.replace("zscheck serve ", f"zscheck serve --port {port} ", 1)
    result = subprocess.run(
        ["bash", "-c", f'export PATH="{bindir}:$PATH"\n{script}\nstatus=$?\nkill %1\nwait\nexit $status'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '"state":"Disabled"' in result.stdout, result.stdout + result.stderr


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    parallel, alone = 'pytest -n 3 --dist loadfile -m "not alone"', "pytest -m alone"
    assert f'pip install -e ".[test]" && {parallel} && {alone}' in README.read_text()
    assert 'pip install --quiet -e ".[test]"' in ci
    assert f"\n{parallel} || status=$?\n{alone} || status=$?\n" in ci and ci.rstrip().endswith('exit "$status"')


def test_the_alone_tests_are_slow_ones_too() -> None:
    """`-m "not slow"` (the README's quick run) leaves the `alone` tests out: conftest marks them slow."""

    def collected(expression: str) -> int:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", expression,
             "tests/load/test_capacity.py"],
            capture_output=True, text=True, timeout=120, cwd=README.parent,
        )  # fmt: skip
        return sum("::" in line for line in proc.stdout.splitlines())

    assert collected("alone") >= 2
    assert collected("alone and not slow") == 0
