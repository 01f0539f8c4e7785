"""Fixture images and the restore journal: the harness leaves every image as it found it.

Before the first change to an image its original state goes into an append-only journal (one JSON
object per line, flushed and fsynced), so that a run killed at any point can be undone by
`zscheck restore JOURNAL`. Images the harness created are deleted and expunged; images it was given are
put back in their original state. Restoring is idempotent: it reads the journal's `restored` lines.
"""

from __future__ import annotations

import json
import os
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck._models import ApiResult
from zscheck._transport import Timeouts
from zscheck.client import Client
from zscheck.errors import ConfigError, TargetError


@dataclass
class JournalEntry:
    uuid: str
    state: str
    created: bool
    restored: bool = False


@dataclass
class Journal:
    path: Path
    target: str | None = None
    images: dict[str, JournalEntry] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path, target: str) -> Journal:
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = cls(path, target)
        journal._append({"kind": "target", "url": target, "time": time.time()})
        return journal

    @classmethod
    def load(cls, path: Path) -> Journal:
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise ConfigError(f"journal {path} does not exist") from None
        journal = cls(path)
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break  # a line cut short by a crash: everything before it stands
                raise ConfigError(f"journal {path}, line {number}, is not JSON; the file is damaged") from None
            kind = entry.get("kind")
            if kind == "target":
                journal.target = entry["url"]
            elif kind == "image":
                journal.images[entry["uuid"]] = JournalEntry(entry["uuid"], entry["state"], entry["created"])
            elif kind == "restored" and entry["uuid"] in journal.images:
                journal.images[entry["uuid"]].restored = True
        if journal.target is None:
            raise ConfigError(f"journal {path} names no target; it is not a zscheck journal")
        return journal

    def record(self, uuid: str, state: str, *, created: bool) -> None:
        if uuid in self.images:
            return
        self.images[uuid] = JournalEntry(uuid, state, created)
        self._append({"kind": "image", "uuid": uuid, "state": state, "created": created})

    def mark_restored(self, uuid: str) -> None:
        self.images[uuid].restored = True
        self._append({"kind": "restored", "uuid": uuid})

    def pending(self) -> list[JournalEntry]:
        return [e for e in self.images.values() if not e.restored]

    def _append(self, entry: dict[str, Any]) -> None:
        # One write per line plus fsync: a `kill -9` right after a change still finds its original here.
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())


@dataclass
class RestoreReport:
    restored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def restore(journal: Journal, client: Client, *, target: str | None = None) -> RestoreReport:
    """Put every journalled image back. Safe to call again: restored images are skipped."""
    if target is not None and journal.target is not None and target.rstrip("/") != journal.target.rstrip("/"):
        raise ConfigError(
            f"journal {journal.path} belongs to {journal.target}, not {target}: refusing to touch another target's "
            f"images (run `zscheck restore {journal.path}` without --target to use the journal's own)"
        )
    report = RestoreReport()
    for entry in journal.pending():
        try:
            _restore_one(client, entry)
        except TargetError as exc:
            report.failed[entry.uuid] = str(exc)
            continue
        journal.mark_restored(entry.uuid)
        report.restored.append(entry.uuid)
    return report


def _restore_one(client: Client, entry: JournalEntry) -> None:
    current = client.get_image(entry.uuid)
    if entry.created:
        if current is None:
            return
        if current.get("status") != "Deleted":
            _require(client.delete_image(entry.uuid), f"delete image {entry.uuid}")
        _require(client.expunge_image(entry.uuid), f"expunge image {entry.uuid}")
        return
    if current is None:
        raise TargetError(f"image {entry.uuid} no longer exists on the target; cannot restore it")
    if current.get("state") != entry.state:
        event = "enable" if entry.state == "Enabled" else "disable"
        _require(client.change_state(entry.uuid, event), f"{event} image {entry.uuid}")


def _require(result: ApiResult, what: str) -> None:
    if not result.ok:
        detail = result.error_code or result.final.error or f"HTTP {result.final.status}"
        raise TargetError(f"could not {what}: {detail}")


class FixtureImages:
    """The images a run may touch: the ones it creates, and the ones the user names. Nothing else."""

    def __init__(self, client: Client, journal: Journal) -> None:
        self.client = client
        self.journal = journal
        self.uuids: list[str] = []

    def adopt(self, uuid: str) -> dict[str, Any]:
        """Take a user-named image into the run, journalling its original state first."""
        image = self.client.get_image(uuid)
        if image is None:
            raise ConfigError(f"--image {uuid}: no such image on the target")
        self.journal.record(uuid, str(image.get("state")), created=False)
        self.uuids.append(uuid)
        return image

    def create(self, name: str, url: str, backup_storage: str) -> dict[str, Any]:
        # The uuid is chosen here and journalled before AddImage, so a crash in between leaves no orphan.
        uuid = uuidlib.uuid4().hex
        self.journal.record(uuid, "Enabled", created=True)
        result = self.client.add_image(name, url, [backup_storage], format="qcow2", resourceUuid=uuid)
        inventory = result.inventory
        if not result.ok or inventory is None:
            detail = result.error_code or result.final.error or f"HTTP {result.final.status}"
            raise TargetError(f"could not create a fixture image with AddImage: {detail}")
        self.uuids.append(inventory["uuid"])
        return dict(inventory)

    def owns(self, uuid: str) -> bool:
        return uuid in self.uuids


def restore_from(
    path: Path, account: str, password: str, *, verify: bool | str = True, timeout: float = 30.0
) -> RestoreReport:
    """Restore a journal on disk with a client of its own (`zscheck restore`, and the last resort of an
    interrupted run whose own teardown did not finish in time)."""
    journal = Journal.load(path)
    if not journal.pending() or journal.target is None:
        return RestoreReport()
    with Client(journal.target, verify=verify, timeouts=Timeouts(min(5.0, timeout), timeout)) as client:
        client.login(account, password)
        return restore(journal, client)
