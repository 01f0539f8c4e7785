"""Fixture images and the journal: nothing the harness touches is left changed, even after a crash."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, LoginError
from zscheck._wire import hash_password
from zscheck.errors import ConfigError
from zscheck.fixtures import FixtureImages, Journal, SetupError, fixture_names, restore
from zscheck.refserver import RunningServer


def bs(server: RunningServer) -> str:
    return str(server.server.app.backup_storage)


def test_created_images_are_expunged_and_given_ones_put_back(
    server: RunningServer, client: Client, tmp_path: Path
) -> None:
    journal = Journal.create(tmp_path / "journal.jsonl", server.url)
    fixtures = FixtureImages(client, journal)
    given = image_uuids(client)[0]
    fixtures.adopt(given)
    created = fixtures.create("fx", "http://127.0.0.1/fx.qcow2", bs(server))["uuid"]
    assert client.change_state(given, "disable").ok and client.change_state(created, "disable").ok
    report = restore(journal, client)
    assert report.ok and set(report.restored) == {given, created}
    assert client.get_image(given)["state"] == "Enabled"
    assert client.get_image(created) is None
    assert restore(journal, client).restored == []  # twice is harmless


def test_journal_survives_a_crash_and_restore_finishes_the_job(
    server: RunningServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path, server.url)
    fixtures = FixtureImages(client, journal)
    image = image_uuids(client)[1]
    fixtures.adopt(image)
    assert client.change_state(image, "disable").ok
    with path.open("a") as f:
        f.write('{"kind": "image", "uuid": "half-writ')  # the process died mid-line
    reloaded = Journal.load(path)
    assert [e.uuid for e in reloaded.pending()] == [image]
    assert restore(reloaded, client).ok
    assert client.get_image(image)["state"] == "Enabled"


def test_a_journal_from_another_target_is_refused(server: RunningServer, client: Client, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "j.jsonl", "http://127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"belongs to http://127\.0\.0\.1:1, not"):
        restore(journal, client, target=server.url)


def test_restore_command_uses_the_journals_target(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zscheck.cli import main

    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[2]
        journal = Journal.create(tmp_path / "j.jsonl", server.url)
        FixtureImages(zs, journal).adopt(image)
        assert zs.change_state(image, "disable").ok
        monkeypatch.setenv("ZSCHECK_PASSWORD", PASSWORD)
        assert main(["restore", str(journal.path)]) == 0
        assert zs.get_image(image)["state"] == "Enabled"
        assert main(["restore", str(journal.path)]) == 0  # nothing left to do
        assert main(["restore", str(journal.path), "--target", "http://127.0.0.1:9"]) == 2


def test_damaged_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"kind": "target", "url": "x"}) + "\nnot json\n" + json.dumps({"kind": "x"}) + "\n")
    with pytest.raises(ConfigError, match="line 2, is not JSON"):
        Journal.load(path)


# ------------------------------------------------------------------------------------------ names


def test_fixture_names_mix_chinese_and_ascii_and_round_trip(
    server: RunningServer, client: Client, tmp_path: Path
) -> None:
    names = list(fixture_names(4, prefix="zs"))
    assert names[0] == ("zs-镜像-0", "测试镜像 zs fixture 0") and len(set(names)) == 4
    assert all(any(ord(c) > 127 for c in n + d) and any(c.isascii() and c.isalpha() for c in n) for n, d in names)
    fixtures = FixtureImages(client, Journal.create(tmp_path / "j.jsonl", server.url))
    for name, description in names[:2]:
        created = fixtures.create(name, "http://127.0.0.1/fx.qcow2", bs(server), description=description)
        assert (created["name"], created["description"]) == (name, description)
        queried = client.get_image(created["uuid"]) or {}
        assert (queried.get("name"), queried.get("description")) == (name, description)
    assert fixtures.restore().ok


# ------------------------------------------------------------------------------------------ accounts


def journal_text(journal: Journal) -> str:
    return journal.path.read_text()


def test_an_account_is_journalled_before_it_exists_and_deleted_after_its_images(
    server: RunningServer, client: Client, tmp_path: Path
) -> None:
    journal = Journal.create(tmp_path / "j.jsonl", server.url)
    fixtures = FixtureImages(client, journal)
    account = fixtures.create_account()
    uuid, name, password = account
    assert name.startswith("zscheck-") and len(name) == len("zscheck-") + 8
    lines = [json.loads(line) for line in journal_text(journal).splitlines()]
    assert {"kind": "account", "uuid": uuid, "name": name} in lines
    assert password not in journal_text(journal) and hash_password(password) not in journal_text(journal)
    assert password not in repr(account) and password not in str(account)
    with Client(server.url) as tenant:
        tenant.login(name, password)
        assert tenant.session is not None and tenant.session.account_uuid == uuid
        image = fixtures.create("zscheck-租户-0", "http://127.0.0.1/t.qcow2", bs(server), client=tenant)["uuid"]
        assert journal.images[image].owner == uuid
        assert tenant.change_state(image, "disable").ok
        report = fixtures.restore(owners={uuid: tenant})
    assert report.ok and report.restored == [image, uuid]  # images first, then their account
    assert client.get_image(image) is None
    with Client(server.url) as gone, pytest.raises(LoginError):
        gone.login(name, password)
    assert fixtures.restore().restored == []  # twice is harmless


def test_restore_after_a_crash_deletes_the_account(
    server: RunningServer, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run died after CreateAccount: `zscheck restore JOURNAL` (as admin) deletes the account; an account
    journalled but never created (a crash before CreateAccount went out) is no failure."""
    from zscheck.cli import main

    path = tmp_path / "j.jsonl"
    journal = Journal.create(path, server.url)
    _, name, password = FixtureImages(client, journal).create_account()
    journal.record_account(uuid4().hex, "zscheck-neverborn")
    assert len(Journal.load(path).pending_accounts()) == 2
    monkeypatch.setenv("ZSCHECK_PASSWORD", PASSWORD)
    assert main(["restore", str(path)]) == 0
    with Client(server.url) as gone, pytest.raises(LoginError):
        gone.login(name, password)
    assert Journal.load(path).pending() == []
    assert main(["restore", str(path)]) == 0  # nothing left to do


def test_an_account_already_gone_is_restored(server: RunningServer, client: Client, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "j.jsonl", server.url)
    uuid, _, _ = FixtureImages(client, journal).create_account()
    assert client.delete_account(uuid).ok  # someone else deleted it first
    report = restore(journal, client)
    assert report.ok and report.restored == [uuid]


def test_a_failed_create_account_is_a_setup_error_with_the_answer(
    server: RunningServer, client: Client, tmp_path: Path
) -> None:
    journal = Journal.create(tmp_path / "j.jsonl", server.url)
    fixtures = FixtureImages(client, journal)
    first = fixtures.create_account()
    with pytest.raises(SetupError, match=f"could not create account '{first.name}'") as info:
        fixtures.create_account(name=first.name)  # duplicate name: SYS.1007 (AccountManagerImpl.validate)
    assert info.value.result is not None and info.value.result.error_code == "SYS.1007"
    assert restore(journal, client).ok  # the journalled uuid that never existed is no failure


def test_a_normal_account_cannot_create_accounts(server: RunningServer, client: Client, tmp_path: Path) -> None:
    """CreateAccount is admin only: a normal account gets ID.1002, and the journal still cleans up."""
    journal = Journal.create(tmp_path / "j.jsonl", server.url)
    _, name, password = FixtureImages(client, journal).create_account()
    with Client(server.url) as tenant:
        tenant.login(name, password)
        with pytest.raises(SetupError) as info:
            FixtureImages(tenant, journal).create_account()
    assert info.value.result is not None and info.value.result.error_code == "ID.1002"
    assert restore(journal, client).ok


def test_an_owners_image_falls_back_to_the_admin(server: RunningServer, client: Client, tmp_path: Path) -> None:
    """The owner's client can no longer act (here: closed): the admin removes its image, then the account."""
    journal = Journal.create(tmp_path / "j.jsonl", server.url)
    fixtures = FixtureImages(client, journal)
    uuid, name, password = fixtures.create_account()
    tenant = Client(server.url)
    tenant.login(name, password)
    image = fixtures.create("zscheck-租户-1", "http://127.0.0.1/t.qcow2", bs(server), client=tenant)["uuid"]
    tenant.close()
    report = fixtures.restore(owners={uuid: tenant})
    assert report.ok and report.restored == [image, uuid]
    assert client.get_image(image) is None


def test_a_direct_deletion_policy_counts_as_restored(make_server: ServerFactory, tmp_path: Path) -> None:
    """Under image.deletionPolicy Direct (played by the delete-direct fault) DeleteImage removes the image,
    so the expunge after it answers SYS.1003: the image is gone, which is what restoring it means (in
    one go, not only when restore() tries a failed image again)."""
    from zscheck.fixtures import _restore_one

    server = make_server(faults=("delete-direct",))
    with Client(server.url) as client:
        client.login("admin", PASSWORD)
        journal = Journal.create(tmp_path / "journal.jsonl", server.url)
        fixtures = FixtureImages(client, journal)
        created = [fixtures.create(f"fx{i}", "http://127.0.0.1/fx.qcow2", bs(server))["uuid"] for i in range(2)]
        _restore_one(client, journal.images[created[0]])  # raised "could not expunge image ...: SYS.1003"
        assert client.get_image(created[0]) is None
        report = restore(journal, client)
        assert report.ok, report.failed
        assert set(report.restored) == set(created)
        assert client.get_image(created[1]) is None


def test_images_are_restored_side_by_side_and_each_once(server: RunningServer, client: Client, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "journal.jsonl", server.url)
    fixtures = FixtureImages(client, journal)
    created = [fixtures.create(f"fx{i}", "http://127.0.0.1/fx.qcow2", bs(server))["uuid"] for i in range(12)]
    report = restore(journal, client)
    assert report.ok and sorted(report.restored) == sorted(created)
    restored_lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert sorted(e["uuid"] for e in restored_lines if e["kind"] == "restored") == sorted(created)
    assert all(client.get_image(uuid) is None for uuid in created)


def test_an_undo_that_failed_side_by_side_and_worked_alone_is_kept_as_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second, lone try of a failed undo must not erase the first failure from the record."""
    import zscheck.fixtures as fixtures
    from zscheck.errors import TargetError

    journal = Journal.create(tmp_path / "j.jsonl", "http://127.0.0.1:1")
    journal.record("a" * 32, "Enabled", created=False)
    journal.record("b" * 32, "Enabled", created=False)
    tries: dict[str, int] = {}

    def restore_one(client: object, entry: fixtures.JournalEntry) -> None:
        tries[entry.uuid] = tries.get(entry.uuid, 0) + 1
        if entry.uuid == "a" * 32 and tries[entry.uuid] == 1:
            raise TargetError("session ended by another login")

    monkeypatch.setattr(fixtures, "_restore_one", restore_one)
    report = restore(journal, Client("http://127.0.0.1:1"))
    assert report.failed == {}
    assert set(report.restored) == {"a" * 32, "b" * 32}
    assert list(report.retried) == ["a" * 32] and "session ended" in report.retried["a" * 32]
    journal.close()
