"""A run's report directory: its own, claimed atomically, never shared and never reused.

Two runs started in the same second used to share `reports/contract-<second>` (and one journal mixing two
targets); a `--report-dir` given twice had its junit.xml, summary.json and failures.md overwritten without
a word, and its journal merged across targets. Now a default directory is created with `mkdir` (atomic):
taken, the next is `<name>-2`, `<name>-3`, ... A directory the user names is refused when it is a file,
cannot be written, or holds an earlier run's reports; while a run uses it, a marker file names the process,
so a second run given the same directory at the same time is refused too (a dead process's marker is
taken over).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from zscheck.errors import ConfigError

MARKER = ".zscheck-run"  # the pid of the run using the directory
# What a run leaves in its directory (or in a phase's subdirectory, for `zscheck run`).
EARLIER_RUN_FILES = (
    "summary.json",
    "junit.xml",
    "failures.md",
    "journal.jsonl",
    "index.html",
    "capacity.json",
    "drift.json",
)
MAX_SUFFIX = 1000


def claim(path: Path, *, given: bool) -> Path:
    """The directory this run writes to, created. `given`: the user named it (refused when unusable or
    used before); otherwise `path` is a default whose first free `-N` variant is taken."""
    if given:
        return _claim_given(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent} for the reports: {exc.strerror}") from None
    for n in range(1, MAX_SUFFIX + 1):
        candidate = path if n == 1 else path.with_name(f"{path.name}-{n}")
        try:
            candidate.mkdir()  # atomic: of two runs in the same second, one gets it and one moves on
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create the report directory {candidate}: {exc.strerror}") from None
        _mark(candidate)
        return candidate
    raise ConfigError(f"{path} and {MAX_SUFFIX - 1} variants of it exist; clean up {path.parent}")


def _claim_given(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--report-dir {path} is a file, not a directory; name a directory (it is created)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--report-dir {path}: cannot create it ({exc.strerror}); name a writable place") from None
    marker = path / MARKER
    owner = _owner(marker)
    if owner is not None and owner != os.getpid() and _alive(owner):
        raise ConfigError(
            f"--report-dir {path} is in use by another zscheck run (pid {owner}); give each run its own directory"
        )
    earlier = earlier_reports(path)
    if earlier:
        raise ConfigError(
            f"--report-dir {path} holds an earlier run's reports ({', '.join(earlier[:4])}); zscheck never "
            "overwrites a run's reports nor mixes two runs' journals: give a new directory, or move that one away "
            "(and run `zscheck restore` on its journal first if it has one)"
        )
    _mark(path)
    return path


def earlier_reports(path: Path) -> list[str]:
    """The report files of an earlier run in `path` (or in its phase subdirectories), relative names."""
    found = [name for name in EARLIER_RUN_FILES if (path / name).exists()]
    with contextlib.suppress(OSError):
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            found += [f"{sub.name}/{name}" for name in EARLIER_RUN_FILES if (sub / name).exists()]
    return found


def _mark(path: Path) -> None:
    try:
        (path / MARKER).write_text(f"{os.getpid()}\n")
    except OSError as exc:
        raise ConfigError(
            f"the report directory {path} cannot be written ({exc.strerror}); name a writable one"
        ) from None


def _owner(marker: Path) -> int | None:
    try:
        return int(marker.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
