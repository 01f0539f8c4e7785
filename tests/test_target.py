"""The target of a run: options validated in one place, one password rule, one lifecycle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck.errors import ConfigError, LoginError
from zscheck.target import EMBEDDED_PASSWORD, Target, TargetOptions


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (TargetOptions(url="http://127.0.0.1:9", faults=("disable-noop",)), "embedded reference server only"),
        (TargetOptions(url="http://127.0.0.1:9", timing="realistic"), "embedded reference server only"),
        (TargetOptions(faults=("no-such-fault",)), "no such fault mode; `zscheck faults` lists them"),
        (TargetOptions(timing="slow"), "'slow' is not a profile"),
        (TargetOptions(dialect="soap"), "'soap' is not a dialect"),
        (TargetOptions(url="10.0.0.5:8080"), "not an http:// or https:// URL"),
    ],
)
def test_options_that_cannot_mean_anything_are_refused(options: TargetOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        options.validate()


def test_the_password_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ZS_TEST_PW", raising=False)
    assert TargetOptions(password_env="ZS_TEST_PW").password() == EMBEDDED_PASSWORD
    with pytest.raises(ConfigError, match=r"ZS_TEST_PW is not set.*export ZS_TEST_PW=") as caught:
        TargetOptions(url="http://127.0.0.1:9", password_env="ZS_TEST_PW").require_password()
    assert "ZSCHECK_PASSWORD" not in str(caught.value)
    monkeypatch.setenv("ZS_TEST_PW", "from-env")
    assert TargetOptions(url="http://x", password_env="ZS_TEST_PW").password() == "from-env"
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    assert TargetOptions(url="http://x", password_file=str(secret)).password() == "from-file"


def test_a_refused_login_closes_what_was_opened(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    target = Target(TargetOptions(url=server.url, account="nobody", password_env="ZS_TEST_PW2"), tmp_path / "j")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZS_TEST_PW2", "wrong")
        with pytest.raises(LoginError):
            target.open()
    assert target.clients == [] and target.journal is None and not (tmp_path / "j").exists()


def test_open_and_close_restore_what_was_changed(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZSCHECK_PASSWORD", PASSWORD)
        with Target(TargetOptions(url=server.url), tmp_path / "j.jsonl") as target:
            assert target.fixtures is not None
            created = target.fixtures.create("zscheck-t", "http://127.0.0.1/x.qcow2", target.backup_storage())
            assert target.main.change_state(created["uuid"], "disable").ok
            other = target.login("admin", PASSWORD)
            assert other.session is not None
        assert target.clients == [] and target.requests_sent > 3
    with pytest.MonkeyPatch.context():
        from zscheck import Client

        with Client(server.url) as zs:
            zs.login("admin", PASSWORD)
            assert zs.get_image(created["uuid"]) is None  # created, so deleted and expunged


def test_the_embedded_server_is_started_and_stopped(tmp_path: Path) -> None:
    target = Target(TargetOptions(), tmp_path / "j.jsonl").open()
    url = target.url
    assert url.startswith("http://127.0.0.1:") and target.label == f"embedded reference server ({url})"
    assert target.main.query_images().ok
    assert target.close() == [] and target.close() == []  # safe twice


def test_an_image_whose_addimage_was_in_flight_is_removed_by_the_restore(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """SIGTERM while AddImage's job runs: the restore looked, found no image yet, called it restored, and
    the job then made the image (20 left over in 6 runs). An entry whose AddImage never answered is in
    flight: the restore looks again until that job's deadline, and removes what it made."""
    import threading

    from zscheck import Client
    from zscheck.fixtures import FixtureImages, Journal, restore

    server = make_server(job_delay=1.0)
    journal = Journal.create(tmp_path / "journal.jsonl", server.url)
    with Client(server.url) as creator, Client(server.url) as restorer:
        creator.login("admin", PASSWORD)
        restorer.login("admin", PASSWORD)
        before = {i["uuid"] for i in restorer.query_images().data["inventories"]}
        storage = creator.backup_storage()[0]["uuid"]
        fixtures = FixtureImages(creator, journal)
        adding = threading.Thread(target=fixtures.create, args=("zscheck-in-flight", "http://127.0.0.1/x", storage))
        adding.start()
        deadline = time.monotonic() + 10
        while not journal.images and time.monotonic() < deadline:
            time.sleep(0.01)
        (entry,) = journal.images.values()
        assert not entry.settled  # journalled before AddImage went out, not yet answered
        assert restorer.get_image(entry.uuid) is None  # its job has not made it yet
        report = restore(journal, restorer)  # what the interrupted run's restore does at this moment
        adding.join()
        after = {i["uuid"] for i in restorer.query_images().data["inventories"]}
    assert report.ok and report.restored == [entry.uuid]
    assert after == before, "the image the in-flight job made was left behind"
    reread = Journal.load(tmp_path / "journal.jsonl")  # the journal on disk says it, for `zscheck restore`
    assert reread.images[entry.uuid].restored
    journal.close()
