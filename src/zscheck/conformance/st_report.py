"""schemathesis' own report: its CLI run against the dialect's contract, written next to zscheck's reports.

zscheck's verdict comes from the suites (which send schemathesis-generated cases through the wire client
and follow every api-job). This step adds what schemathesis itself produces - its JUnit XML and a HAR of
every exchange - for teams that read those. It sees only the first answer of each request (it does not
follow api-jobs), so it runs only the checks that make sense there, and it never decides the exit code.

The session reaches schemathesis through an environment variable referenced from a config file, never
on a command line, and schemathesis masks the Authorization header in what it writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zscheck.client import Client

ST_CHECKS = "status_code_conformance,response_schema_conformance"
_SESSION_VAR = "ZSCHECK_SCHEMATHESIS_SESSION"


@dataclass(frozen=True)
class StReport:
    exit_code: int
    report_dir: Path
    summary: str  # schemathesis' last lines, for the terminal


def run_schemathesis(
    client: Client, contract: Path, report_dir: Path, *, max_examples: int, seed: int | None, timeout: float = 300.0
) -> StReport:
    assert client.session is not None, "log in first"
    out = report_dir / "schemathesis"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(f'headers = {{ Authorization = "OAuth ${{{_SESSION_VAR}}}" }}\n')
        args = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            str(contract),
            "--url",
            client.base_url,
            "--include-operation-id",
            "ChangeImageState",
            "--checks",
            ST_CHECKS,
            "--max-examples",
            str(max_examples),
            "--report",
            "junit,har",
            "--report-dir",
            str(out),
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
        ]
        if seed is not None:
            args += ["--seed", str(seed)]
        env = {**os.environ, _SESSION_VAR: client.session.uuid}
        try:
            proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return StReport(2, out, f"schemathesis did not finish within {timeout:.0f} s")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    (out / "schemathesis.log").write_text(_mask(proc.stdout + proc.stderr, client.session.uuid))
    return StReport(
        proc.returncode, out, _mask(" ".join(lines[-2:]) if lines else proc.stderr[-300:], client.session.uuid)
    )


def _mask(text: str, session: str) -> str:
    return text.replace(session, "<redacted>")
