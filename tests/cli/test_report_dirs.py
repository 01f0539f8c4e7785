"""Report directories belong to one run (issue #15.10, #12): two runs started in the same second never
share one, a directory given twice is refused instead of overwritten, a journal in use is locked and
journals are never merged across targets."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck import rundir
from zscheck.errors import ConfigError
from zscheck.fixtures import Journal


def test_runs_started_in_the_same_second_get_directories_of_their_own(tmp_path: Path) -> None:
    """Sixteen threads claim the same default name at once: sixteen directories, -2 ... -16, no sharing."""
    base = tmp_path / "reports" / "contract-20261203T054000Z"
    claimed: list[Path] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        barrier.wait()
        claimed.append(rundir.claim(base, given=False))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(claimed)) == 16
    assert {p.name for p in claimed} == {base.name, *(f"{base.name}-{n}" for n in range(2, 17))}


def test_two_commands_in_the_same_second_write_to_two_directories(tmp_path: Path) -> None:
    """Two real processes started together, with the default report directory: two directories."""
    code = (
        "import sys; from zscheck.cli import main; "
        "sys.exit(main(['drift', '--target', 'http://127.0.0.1:9', '--timeout', '0.5']))"
    )
    env = {**os.environ, "ZSCHECK_PASSWORD": "x"}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=60) == 2  # unreachable: could not run, but each claimed its own directory
    made = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert len(made) == 2 and all(name.startswith("drift-") for name in made), made
    if made[0][:22] == made[1][:22]:  # started in the same second: the second one got the suffix
        assert made[1] == made[0] + "-2"


def test_a_given_directory_is_taken_when_new_or_empty_and_refused_when_used(tmp_path: Path) -> None:
    fresh = rundir.claim(tmp_path / "new" / "dir", given=True)
    assert fresh.is_dir() and (fresh / rundir.MARKER).read_text().strip() == str(os.getpid())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert rundir.claim(empty, given=True) == empty
    (empty / "junit.xml").write_text("<testsuites/>")
    with pytest.raises(ConfigError, match=r"holds an earlier run's reports \(junit.xml\)"):
        rundir.claim(empty, given=True)


def test_a_given_directory_in_use_by_a_live_process_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / rundir.MARKER).write_text(f"{holder.pid}\n")
        with pytest.raises(ConfigError, match=f"in use by another zscheck run \\(pid {holder.pid}\\)"):
            rundir.claim(tmp_path, given=True)
    finally:
        holder.kill()
        holder.wait()
    assert rundir.claim(tmp_path, given=True) == tmp_path  # a dead process's marker is taken over


LOCK = "from pathlib import Path; from zscheck.fixtures import Journal; Journal.load(Path({path!r})).lock()"


def test_a_journal_is_locked_while_in_use_and_free_after(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path, "http://127.0.0.1:9")
    other = subprocess.run(
        [sys.executable, "-c", LOCK.format(path=str(path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other.returncode != 0 and "in use by another zscheck process" in other.stderr
    journal.close()
    again = subprocess.run(
        [sys.executable, "-c", LOCK.format(path=str(path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    """flock is the kernel's: a run killed with -9 holds nothing, and the next opener gets the journal."""
    path = tmp_path / "journal.jsonl"
    code = (
        "import os, sys; from zscheck.fixtures import Journal; "
        f"Journal.create(__import__('pathlib').Path({str(path)!r}), 'http://127.0.0.1:9'); "
        "print('locked', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(ConfigError, match="in use"):
        Journal.load(path).lock()
    holder.kill()
    holder.wait()
    journal = Journal.load(path)
    journal.lock()
    journal.close()


def test_journals_are_never_merged_across_targets(make_server: ServerFactory, tmp_path: Path) -> None:
    """A second run's journal in the first run's place used to be appended to: `zscheck restore` then
    restored one target and said so while the other kept its images."""
    from zscheck import Client
    from zscheck.fixtures import FixtureImages

    server = make_server()
    path = tmp_path / "journal.jsonl"
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        journal = Journal.create(path, server.url)
        FixtureImages(zs, journal).create("zscheck-x", "http://127.0.0.1/x.qcow2", zs.backup_storage()[0]["uuid"])
        journal.close()
    with pytest.raises(ConfigError, match="already holds another run's entries"):
        Journal.create(path, "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="1 to restore"):
        Journal.create(path, server.url)  # the same target, but its images are not restored yet
