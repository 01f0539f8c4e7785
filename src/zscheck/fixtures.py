"""Fixture images and accounts, and the restore journal: the harness leaves the target as it found it.

Before the first change to an image its original state goes into an append-only journal (one JSON
object per line, flushed and fsynced), so that a run killed at any point can be undone by
`zscheck restore JOURNAL`. Images the harness created are deleted and expunged; images it was given are
put back in their original state. Accounts the harness created (its own normal account, for the ownership
rules) are journalled before CreateAccount is sent, by the uuid the harness chose for them, and deleted
after the images. Restoring is idempotent: it reads the journal's `restored` lines. Passwords never reach
the journal: an account's password lives in memory only, for the run that created it.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from zscheck._models import ApiResult
from zscheck.client import Client
from zscheck.errors import ConfigError, SetupFailed, TargetError

# Images restored at a time: a load a management node carries easily (the default of --workers).
RESTORE_WORKERS = 8


class SetupError(SetupFailed):
    """Creating a fixture failed. `result` is the call as it went (None if it never got an answer to judge),
    so that a caller can judge whether the target broke the contract (exit 1) or could not be used (exit 2)."""

    result: ApiResult | None

    def __init__(self, message: str, result: ApiResult | None = None, what: str = "setup") -> None:
        super().__init__(message, result, what)


@dataclass
class JournalEntry:
    uuid: str
    state: str
    created: bool
    restored: bool = False
    owner: str | None = None  # the account uuid that created it, when not the run's main account
    # AddImage answered (either way). A created entry never settled was in flight when the run stopped: its
    # job may still make the image after the restore looked, so the restore waits for it (`_in_flight`).
    settled: bool = True
    since: float | None = None  # when it was journalled


@dataclass
class AccountEntry:
    uuid: str
    name: str
    restored: bool = False


class FixtureAccount(NamedTuple):
    """An account the harness created: `uuid, name, password = account`. The password is in memory only."""

    uuid: str
    name: str
    password: str

    def __repr__(self) -> str:  # never print a password
        return f"FixtureAccount(uuid={self.uuid!r}, name={self.name!r}, password=<redacted>)"


_HELD: set[str] = set()  # journals this process holds locked (resolved paths)


@dataclass
class Journal:
    path: Path
    target: str | None = None
    images: dict[str, JournalEntry] = field(default_factory=dict)
    accounts: dict[str, AccountEntry] = field(default_factory=dict)
    _lock: int | None = field(default=None, repr=False)
    # Held while a line is written and the entries it names change: fixtures are made and restored by
    # several threads at once.
    mutex: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @classmethod
    def create(cls, path: Path, target: str) -> Journal:
        """A new run's journal, locked for the run (one journal belongs to one run and one target: an
        existing one of another target, or with images still to restore, is refused, never merged)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = cls(path, target)
        journal.lock()
        try:
            if path.exists() and path.stat().st_size:
                earlier = cls.load(path)
                if str(earlier.target).rstrip("/") != target.rstrip("/") or earlier.pending():
                    raise ConfigError(
                        f"journal {path} already holds another run's entries ({earlier.target}, "
                        f"{len(earlier.pending())} to restore): run `zscheck restore {path}`, and give this run "
                        "a report directory of its own"
                    )
            journal._append({"kind": "target", "url": target, "time": time.time()})
        except BaseException:
            journal.close()
            raise
        return journal

    def lock(self) -> None:
        """Hold the journal for this process (flock: the kernel drops it when the process dies, so a dead
        run's journal is free again). Refused while another process holds it."""
        key = str(self.path.resolve())
        if self._lock is not None or key in _HELD:
            return  # this process holds it already (the last resort of an interrupted run restoring)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"journal {self.path} is in use by another zscheck process; wait for it to end (its restore "
                "runs on its way out) or stop it, then run `zscheck restore` if images are left"
            ) from None
        self._lock = fd
        _HELD.add(key)

    def close(self) -> None:
        """Let go of the lock (the file stays: it is the run's record)."""
        if self._lock is not None:
            _HELD.discard(str(self.path.resolve()))
            os.close(self._lock)
            self._lock = None

    @classmethod
    def load(cls, path: Path) -> Journal:
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise ConfigError(f"journal {path} does not exist") from None
        except UnicodeDecodeError:
            raise ConfigError(f"journal {path} is not text (a journal is JSON lines); the file is damaged") from None
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
            try:
                journal._read(entry)
            except (KeyError, TypeError, AttributeError, ValueError):
                raise ConfigError(
                    f"journal {path}, line {number}, is not a journal entry ({line[:80]!r}); the file is damaged: "
                    "restore what it names by hand, or fix the line (each is an object with `kind` and its fields)"
                ) from None
        if journal.target is None:
            raise ConfigError(f"journal {path} names no target; it is not a zscheck journal")
        return journal

    def _read(self, entry: dict[str, Any]) -> None:
        """One line's entry; a line that is JSON but not an entry raises KeyError, TypeError or ValueError."""
        kind = entry["kind"]
        if kind == "target":
            self.target = _text(entry["url"])
        elif kind == "image":
            self.images[_text(entry["uuid"])] = JournalEntry(
                entry["uuid"],
                _text(entry["state"]),
                bool(entry["created"]),
                owner=entry.get("owner"),
                settled=not entry.get("in_flight", False),
                since=entry.get("time"),
            )
        elif kind == "settled" and entry["uuid"] in self.images:
            self.images[entry["uuid"]].settled = True
        elif kind == "account":
            self.accounts.setdefault(_text(entry["uuid"]), AccountEntry(entry["uuid"], _text(entry["name"])))
        elif kind == "restored" and entry["uuid"] in self.images:
            self.images[entry["uuid"]].restored = True
        elif kind == "restored" and entry["uuid"] in self.accounts:
            self.accounts[entry["uuid"]].restored = True

    def record(
        self, uuid: str, state: str, *, created: bool, owner: str | None = None, in_flight: bool = False
    ) -> None:
        """`in_flight`: about to be created (AddImage goes out next); `settle()` once it has answered."""
        if uuid in self.images:
            return
        now = time.time()
        self.images[uuid] = JournalEntry(uuid, state, created, owner=owner, settled=not in_flight, since=now)
        line: dict[str, Any] = {"kind": "image", "uuid": uuid, "state": state, "created": created}
        if owner is not None:
            line["owner"] = owner
        if in_flight:
            line.update(in_flight=True, time=now)
        self._append(line)

    def settle(self, uuid: str) -> None:
        """The AddImage of a created entry has answered: no job of it is left to finish after a restore."""
        entry = self.images.get(uuid)
        if entry is not None and not entry.settled:
            entry.settled = True
            self._append({"kind": "settled", "uuid": uuid})

    def record_account(self, uuid: str, name: str) -> None:
        """An account about to be created: written (and fsynced) before CreateAccount goes out."""
        if uuid in self.accounts:
            return
        self.accounts[uuid] = AccountEntry(uuid, name)
        self._append({"kind": "account", "uuid": uuid, "name": name})

    def mark_restored(self, uuid: str) -> None:
        entry = self.images.get(uuid) or self.accounts[uuid]
        entry.restored = True
        self._append({"kind": "restored", "uuid": uuid})

    def pending(self) -> list[JournalEntry | AccountEntry]:
        """Everything not yet restored: images, then accounts."""
        return [*self.pending_images(), *self.pending_accounts()]

    def pending_images(self) -> list[JournalEntry]:
        return [e for e in self.images.values() if not e.restored]

    def pending_accounts(self) -> list[AccountEntry]:
        return [e for e in self.accounts.values() if not e.restored]

    def _append(self, entry: dict[str, Any]) -> None:
        # One write per line plus fsync: a `kill -9` right after a change still finds its original here.
        with self.mutex, self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())


@dataclass
class RestoreReport:
    restored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # What failed side by side and was tried again alone, with the first failure: kept, never forgotten
    # because the second try worked (the session rules such a target breaks are judged by session_policy).
    retried: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def restore(
    journal: Journal, client: Client, *, target: str | None = None, owners: Mapping[str, Client] | None = None
) -> RestoreReport:
    """Put every journalled image back, then delete every journalled account. Safe to call again: what is
    restored is skipped. `client` is the admin; `owners` maps an account uuid to a client logged in as that
    account, which then removes the images it created (after a crash there are none: the admin does it).
    An image that could not be removed before its account was deleted is tried again after: DeleteAccount
    takes the account's images with it and the admin adopts what is left."""
    if target is not None and journal.target is not None and target.rstrip("/") != journal.target.rstrip("/"):
        raise ConfigError(
            f"journal {journal.path} belongs to {journal.target}, not {target}: refusing to touch another target's "
            f"images (run `zscheck restore {journal.path}` without --target to use the journal's own)"
        )
    report = RestoreReport()
    owners = owners or {}

    def undo(entry: JournalEntry) -> Callable[[], bool]:
        owner = owners.get(entry.owner) if entry.owner is not None else None
        by = [owner, client] if owner is not None else [client]  # the owner first; the admin if it cannot
        return partial(_attempt, journal, report, entry.uuid, partial(_restore_by, by, entry))

    undos = [undo(entry) for entry in journal.pending_images()]
    # Images are independent and each undo waits for its jobs (tens to hundreds of milliseconds on a real
    # node), so they go RESTORE_WORKERS at a time; the journal's lines and the report are kept per image.
    with ThreadPoolExecutor(max_workers=RESTORE_WORKERS) as pool:
        for future in [pool.submit(undo) for undo in undos]:
            future.result()
    # What failed side by side is tried once more alone, as a sequential restore would have: a target
    # whose logins end each other's sessions makes concurrent undos fail where one at a time succeeds.
    for entry in journal.pending_images():
        if entry.uuid in report.failed:
            report.retried[entry.uuid] = report.failed.pop(entry.uuid)
            undo(entry)()
    deleted = False
    for account in journal.pending_accounts():
        deleted |= _attempt(journal, report, account.uuid, partial(_delete_account, client, account))
    if deleted:
        for entry in journal.pending_images():
            if entry.uuid in report.failed and entry.owner is not None:
                del report.failed[entry.uuid]
                _attempt(journal, report, entry.uuid, partial(_restore_one, client, entry))
    return report


def _attempt(journal: Journal, report: RestoreReport, uuid: str, undo: Callable[[], None]) -> bool:
    try:
        undo()
    except TargetError as exc:
        with journal.mutex:
            report.failed[uuid] = str(exc)
        return False
    with journal.mutex:
        journal.mark_restored(uuid)
        report.restored.append(uuid)
    return True


def _restore_by(clients: list[Client], entry: JournalEntry) -> None:
    for client in clients[:-1]:
        try:
            _restore_one(client, entry)
            return
        except TargetError:
            continue
    _restore_one(clients[-1], entry)


def _delete_account(client: Client, account: AccountEntry) -> None:
    result = client.delete_account(account.uuid)
    # ZStack answers success for a well-formed unknown uuid; a target that says SYS.1003 means the same here.
    if not result.ok and result.error_code != "SYS.1003":
        _require(result, f"delete account {account.name!r} ({account.uuid})")


def _restore_one(client: Client, entry: JournalEntry) -> None:
    current = client.get_image(entry.uuid)
    if entry.created:
        if current is None and not entry.settled:
            current = _in_flight(client, entry)
        if current is None:
            return
        if current.get("status") != "Deleted":
            _require(client.delete_image(entry.uuid), f"delete image {entry.uuid}")
        expunged = client.expunge_image(entry.uuid)
        if expunged.error_code == "SYS.1003" and client.get_image(entry.uuid) is None:
            return  # image.deletionPolicy Direct (§10): the delete removed it already, nothing to expunge
        _require(expunged, f"expunge image {entry.uuid}")
        return
    if current is None:
        raise TargetError(f"image {entry.uuid} no longer exists on the target; cannot restore it")
    if current.get("state") != entry.state:
        event = "enable" if entry.state == "Enabled" else "disable"
        _require(client.change_state(entry.uuid, event), f"{event} image {entry.uuid}")


IN_FLIGHT_POLL = 0.25  # seconds between looks for an image whose AddImage was in flight


def _in_flight(client: Client, entry: JournalEntry) -> dict[str, Any] | None:
    """An image whose AddImage was in flight when the run stopped: its job may still create it after the
    restore first looked. Look again until the job's deadline (the client's poll deadline from when it was
    journalled) has passed; after a crash, long past, that is one look."""
    deadline = (entry.since or 0.0) + client.poll_deadline
    while time.time() < deadline:
        time.sleep(min(IN_FLIGHT_POLL, max(0.0, deadline - time.time())))
        current = client.get_image(entry.uuid)
        if current is not None:
            return current
    return None


def _require(result: ApiResult, what: str) -> None:
    if not result.ok:
        detail = result.error_code or result.final.error or f"HTTP {result.final.status}"
        raise TargetError(f"could not {what}: {detail}")


def fixture_names(count: int, *, prefix: str = "zscheck") -> Iterator[tuple[str, str]]:
    """`count` (name, description) pairs mixing Chinese and ASCII, as ZStack's users name images:
    `zscheck-镜像-0` / `测试镜像 zscheck fixture 0`, and every other one with full-width punctuation
    (`zscheck-测试（1）` / `zscheck 的测试镜像：fixture 1`). Strings that must round-trip exactly."""
    for i in range(count):
        if i % 2 == 0:
            yield f"{prefix}-镜像-{i}", f"测试镜像 {prefix} fixture {i}"
        else:
            yield f"{prefix}-测试（{i}）", f"{prefix} 的测试镜像：fixture {i}"


class FixtureImages:
    """The images and accounts a run may touch: the ones it creates, and the images the user names.
    Nothing else."""

    def __init__(self, client: Client, journal: Journal) -> None:
        self.client = client
        self.journal = journal
        self.uuids: list[str] = []
        self.accounts: list[FixtureAccount] = []

    def adopt(self, uuid: str) -> dict[str, Any]:
        """Take a user-named image into the run, journalling its original state first."""
        image = self.client.get_image(uuid)
        if image is None:
            raise ConfigError(f"--image {uuid}: no such image on the target")
        self.journal.record(uuid, str(image.get("state")), created=False)
        self.uuids.append(uuid)
        return image

    def create(
        self,
        name: str,
        url: str,
        backup_storage: str,
        *,
        description: str | None = None,
        client: Client | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """AddImage a fixture image named `name` (any string: see `fixture_names`). `client`: who creates it,
        when not the run's main client (a normal account's client makes the image that account's own).
        `fields` go into AddImage as given (`format` defaults to qcow2). Raises `SetupError`."""
        creator = client or self.client
        owner = None if creator is self.client or creator.session is None else creator.session.account_uuid
        # The uuid is chosen here and journalled before AddImage, so a crash in between leaves no orphan.
        uuid = uuidlib.uuid4().hex
        self.journal.record(uuid, "Enabled", created=True, owner=owner, in_flight=True)
        params: dict[str, Any] = {"format": "qcow2", **fields, "resourceUuid": uuid}
        if description is not None:
            params["description"] = description
        result = creator.add_image(name, url, [backup_storage], **params)
        self.journal.settle(uuid)  # answered: a signal before this line leaves it in flight for the restore
        inventory = result.inventory
        if not result.ok or inventory is None or not isinstance(inventory.get("uuid"), str):
            raise SetupError(f"could not create a fixture image with AddImage: {_detail(result)}", result)
        if inventory["uuid"] != uuid:  # resourceUuid ignored: journal the image the target really made
            self.journal.record(inventory["uuid"], "Enabled", created=True, owner=owner)
        self.uuids.append(inventory["uuid"])
        return dict(inventory)

    def create_account(
        self, *, name: str | None = None, password: str | None = None, account_type: str = "Normal"
    ) -> FixtureAccount:
        """CreateAccount as the run's (admin) client: a name like `zscheck-1f2e3d4c` and a random password
        unless given. The account is journalled (uuid chosen here, sent as `resourceUuid`; name; never the
        password) before CreateAccount goes out, so `zscheck restore` deletes it after a crash. Raises
        `SetupError`."""
        name = name or f"zscheck-{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(18)
        uuid = uuidlib.uuid4().hex
        self.journal.record_account(uuid, name)
        result = self.client.create_account(name, password, account_type=account_type, resource_uuid=uuid)
        inventory = result.inventory
        if not result.ok or inventory is None or not isinstance(inventory.get("uuid"), str):
            raise SetupError(f"could not create account {name!r} with CreateAccount: {_detail(result)}", result)
        if inventory["uuid"] != uuid:  # resourceUuid ignored: journal the account the target really made
            self.journal.record_account(inventory["uuid"], name)
        account = FixtureAccount(inventory["uuid"], name, password)
        self.accounts.append(account)
        return account

    def restore(self, owners: Mapping[str, Client] | None = None) -> RestoreReport:
        """`restore()` of this run's journal with its own client (images first, then accounts)."""
        return restore(self.journal, self.client, owners=owners)

    def owns(self, uuid: str) -> bool:
        return uuid in self.uuids


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a non-empty string")
    return value


def _detail(result: ApiResult) -> str:
    if result.error_code is not None:
        return f"{result.error_code}: {(result.error or {}).get('details', '')}".rstrip(": ")
    return result.final.error or f"HTTP {result.final.status}: {result.final.text(200)}"
