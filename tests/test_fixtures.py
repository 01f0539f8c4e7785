"""Fixture images and the journal: nothing the harness touches is left changed, even after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client
from zscheck.errors import ConfigError
from zscheck.fixtures import FixtureImages, Journal, fixture_names, restore
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
