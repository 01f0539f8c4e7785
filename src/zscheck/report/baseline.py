"""Known findings, for nightly CI: a baseline file (`--baseline FILE`) lists accepted fingerprints.

A finding whose fingerprint is in the baseline is `known`: reported, and it does not fail the run. One
not in it is `new`, and one whose entry's `expires` date has passed is `expired`: both fail the run. An
entry no finding of the run matched is listed as fixed. `--baseline-update` writes the file from the run's
findings, keeping the reason and expiry of entries already there.

The file is TOML, written to be edited by hand::

    [[finding]]
    id = "f5c98a41b3b1"                   # the fingerprint (zscheck.report.findings)
    check = "error_code"                  # what it was, for the reader; only `id` and `command` are matched
    message = "wrong outcome (rule state-event-invalid)"
    reason = "ZSTACK-1234: SYS.1000 until 4.8.2"
    expires = "2027-01-31"                # optional: from the day after, the finding fails the run again
    command = "contract"                  # the command whose finding it is: contract (the default) or load

One file may hold the findings of both commands: each command matches, lists as fixed and rewrites only
its own entries, so a contract entry never hides a load finding and `zscheck load --baseline-update`
keeps the contract's entries as they were.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from zscheck.report._codec import DocumentError
from zscheck.report.documents import Finding, LoadFinding

Command = Literal["contract", "load"]
COMMANDS: tuple[Command, ...] = ("contract", "load")
F = TypeVar("F", Finding, LoadFinding)
FIELDS = ("id", "check", "message", "reason", "expires", "command")

HEADER = """\
# zscheck known findings (`--baseline`). A finding listed here is reported but does not fail the run; from
# the day after its `expires` date (YYYY-MM-DD, optional) it fails again. Only `id` and `command` (contract or
# load) are matched; give each a `reason`. Findings the run no longer sees are listed as fixed. Rewritten by
# --baseline-update (each command rewrites its own entries).
"""


@dataclass(frozen=True)
class Entry:
    id: str
    check: str = ""
    message: str = ""
    reason: str = ""
    expires: datetime.date | None = None
    command: Command = "contract"


@dataclass
class Baseline:
    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, *, missing_ok: bool = False) -> Baseline:
        """The baseline in `path`; DocumentError naming the file and the entry when it is not one. A file
        that does not exist is an error, unless `missing_ok` (a first --baseline-update writes it)."""
        if not path.exists():
            if missing_ok:
                return cls(path)
            raise DocumentError(str(path), "", "no such baseline file; write one with --baseline-update")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DocumentError(str(path), "", f"not a TOML baseline: {exc}") from None
        raw = data.get("finding", [])
        unknown = sorted(set(data) - {"finding"})
        if unknown or not isinstance(raw, list):
            raise DocumentError(
                str(path), unknown[0] if unknown else "finding", "a baseline has [[finding]] entries only"
            )
        entries: dict[str, Entry] = {}
        for i, item in enumerate(raw):
            where = f"finding[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise DocumentError(str(path), where, "each entry needs an `id` (a finding's fingerprint)")
            extra = sorted(set(item) - set(FIELDS))
            if extra:
                raise DocumentError(str(path), f"{where}.{extra[0]}", f"not a baseline field ({', '.join(FIELDS)})")
            command = item.get("command", "contract")
            if command not in COMMANDS:
                raise DocumentError(
                    str(path), f"{where}.command", f"{command!r} is not a command with findings: contract or load"
                )
            expires = item.get("expires")
            if isinstance(expires, str) and expires:
                try:
                    expires = datetime.date.fromisoformat(expires)
                except ValueError:
                    raise DocumentError(
                        str(path), f"{where}.expires", f"{expires!r} is not a date (YYYY-MM-DD)"
                    ) from None
            elif expires == "":
                expires = None
            if expires is not None and (
                not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime)
            ):
                raise DocumentError(str(path), f"{where}.expires", "a date (YYYY-MM-DD)")
            entries[item["id"]] = Entry(
                item["id"],
                str(item.get("check", "")),
                str(item.get("message", "")),
                str(item.get("reason", "")),
                expires,
                command,
            )
        return cls(path, entries)

    def classify(
        self, findings: Iterable[F], today: datetime.date | None = None, *, command: Command = "contract"
    ) -> list[F]:
        """Each finding of `command` with its status: `known`, `expired` or `new` (and the baseline's
        reason). Only that command's entries match."""
        day = today or datetime.date.today()
        out = []
        for finding in findings:
            entry = self.entries.get(finding.id)
            if entry is None or entry.command != command:
                out.append(dataclasses.replace(finding, status="new"))
            elif entry.expires is not None and day > entry.expires:
                reason = f"accepted until {entry.expires.isoformat()}" + (f": {entry.reason}" if entry.reason else "")
                out.append(dataclasses.replace(finding, status="expired", reason=reason))
            else:
                out.append(dataclasses.replace(finding, status="known", reason=entry.reason or "in the baseline"))
        return out

    def accepted(self, today: datetime.date | None = None, *, command: Command = "contract") -> list[str]:
        """The fingerprints of `command` a finding would be `known` under today (not expired)."""
        day = today or datetime.date.today()
        return sorted(
            i for i, e in self.entries.items() if e.command == command and (e.expires is None or day <= e.expires)
        )

    def fixed(self, findings: Iterable[F], *, command: Command = "contract") -> list[str]:
        """The baseline's ids of `command` that no finding of the run has: fixed, or no longer reached."""
        seen = {f.id for f in findings}
        return [i for i, e in self.entries.items() if e.command == command and i not in seen]

    def updated(self, findings: Iterable[F], *, command: Command = "contract") -> Baseline:
        """The baseline of the run's findings: each entry kept as it was (reason, expiry), new ones added
        with an empty reason, entries of findings no longer seen dropped; other commands' entries kept."""
        entries = {i: e for i, e in self.entries.items() if e.command != command}
        for finding in findings:
            kept = self.entries.get(finding.id)
            kept = kept if kept is not None and kept.command == command else None
            entries[finding.id] = Entry(
                finding.id,
                finding.check,
                finding.message,
                kept.reason if kept else "",
                kept.expires if kept else None,
                command,
            )
        return Baseline(self.path, entries)

    def write(self) -> Path:
        lines = [HEADER]
        for entry in self.entries.values():
            lines += [
                "[[finding]]",
                f"id = {json.dumps(entry.id)}",
                f"check = {json.dumps(entry.check)}",
                f"message = {json.dumps(entry.message, ensure_ascii=False)}",
                f"reason = {json.dumps(entry.reason, ensure_ascii=False)}",
            ]
            if entry.expires is not None:
                lines.append(f'expires = "{entry.expires.isoformat()}"')
            lines.append(f"command = {json.dumps(entry.command)}")
            lines.append("")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(lines), encoding="utf-8")
        return self.path
