"""A real PostgreSQL for the store's tests: Debian's server binaries (`apt-get install postgresql`, which
.ci/run does), a cluster made by initdb in a temporary directory, on a free loopback port, as the
`postgres` user when the tests run as root (initdb refuses root). Nothing is installed from here."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest


def _postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL's server package is absent (no /usr/lib/postgresql/*/bin/pg_ctl): apt-get install postgresql"
        )
    pytest.importorskip("psycopg", reason="the psycopg driver is absent: pip install 'zscheck[postgres]'")
    home = tempfile.mkdtemp(prefix="zscheck-pg-")
    data, port = os.path.join(home, "data"), _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(home, "postgres")
        os.chmod(home, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*argv: str) -> None:
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    run(f"{bindir}/initdb", "-D", data, "-U", "zscheck", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off"
    run(f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(home, "log"), "-w", "-t", "60", "start")
    try:
        yield f"postgresql://zscheck@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
