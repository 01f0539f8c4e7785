"""The run store: records in, the same records out, in SQLite and in a real PostgreSQL; queries; JSON lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.history.factories import contract_summary, failure, load_summary, record_of
from zscheck.history.record import RECORD_SCHEMA, RecordError, RunRecord, from_directory
from zscheck.history.store import Query, StoreError, masked, open_store
from zscheck.report.documents import LoadSummary


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS runs")
        db.execute("DROP TABLE IF EXISTS zscheck_store")
    yield postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store" / "history.sqlite")
    return str(request.getfixturevalue("pg_url"))


def test_a_record_comes_back_typed_and_equal(spec: str, tmp_path: Path) -> None:
    record = record_of(tmp_path, "a", load_summary([0.010, 0.011, 0.012]), "load")
    with open_store(spec) as store:
        assert store.add(record)
        assert not store.add(record)  # the same id twice: stored once
    with open_store(spec) as store:  # a new connection reads what the first wrote
        back = store.get(record.id)
        assert back == record
        summary = back.document("summary.json", LoadSummary)
        assert summary is not None and summary.result is not None
        assert [s.p50 for s in summary.result.timeline] == [0.010, 0.011, 0.012]
        assert back.target_version == "5.2.1" and back.host["cpus"] and back.command == "load"
        assert store.get(record.id[:-2]).id == record.id  # a unique prefix is enough


def test_queries_filter_and_order_newest_first(spec: str, tmp_path: Path) -> None:
    with open_store(spec) as store:
        for i in range(4):
            target = "http://a" if i % 2 == 0 else "http://b"
            store.add(record_of(tmp_path, f"r{i}", load_summary([0.01], target=target, started=1.8e9 + i), "load"))
        store.add(record_of(tmp_path, "c", contract_summary([failure("status")], started=1.7e9), "contract"))
        assert [r.started for r in store.query(Query(command="load", target="http://a"))] == [1.8e9 + 2, 1.8e9]
        assert len(store.query(Query(command="load", limit=3))) == 3
        assert [r.command for r in store.query(Query(verdict="VIOLATIONS"))] == ["contract"]
        assert [r.started for r in store] == [1.7e9] + [1.8e9 + i for i in range(4)]  # iteration: oldest first


def test_an_unknown_id_names_the_fix(spec: str) -> None:
    with open_store(spec) as store, pytest.raises(StoreError, match=r"no run with id 'nope'.*zscheck runs list"):
        store.get("nope")


def test_export_then_import_into_another_store_is_lossless(spec: str, tmp_path: Path) -> None:
    records = [
        record_of(tmp_path, f"r{i}", load_summary([0.01 * (i + 1)], started=1.8e9 + i), "load") for i in range(3)
    ]
    source = open_store(str(tmp_path / "source.sqlite"))
    for record in records:
        source.add(record)
    out = io.StringIO()
    assert source.export_lines(out) == 3
    lines = out.getvalue().splitlines()
    assert all(json.loads(line)["schema"] == RECORD_SCHEMA for line in lines)
    with open_store(spec) as store:
        assert store.import_lines(lines, "runs.jsonl") == (3, 0)
        assert store.import_lines(lines, "runs.jsonl") == (0, 3)  # importing twice adds nothing
        assert [r for r in store] == records


def test_an_import_with_a_bad_line_adds_nothing(tmp_path: Path) -> None:
    good = record_of(tmp_path, "a", load_summary([0.01]), "load").to_json()
    bad = dict(good, id="x", documents={"summary.json": {"schema": "someone/else/1", "verdict": "MAYBE"}})
    lines = [json.dumps(good), json.dumps(bad)]
    with open_store(str(tmp_path / "s.sqlite")) as store:
        with pytest.raises(StoreError, match=r"runs\.jsonl:2"):
            store.import_lines(lines, "runs.jsonl")
        assert store.query() == []


def test_a_newer_store_layout_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    open_store(path).close()
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("UPDATE zscheck_store SET version = 99")
    with pytest.raises(StoreError, match=r"layout is version 99.*newer zscheck"):
        open_store(path)


def test_a_directory_without_documents_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="nothing to record"):
        from_directory(tmp_path, command="load", target_version=None)


def test_a_record_of_another_schema_is_refused(tmp_path: Path) -> None:
    data = dict(record_of(tmp_path, "a", load_summary([0.01]), "load").to_json(), schema="zscheck/run-record/9")
    with pytest.raises(RecordError, match="run-record/9"):
        RunRecord.from_json(data, "line 1")


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ("postgresql://ci:s3cret@db.example:5432/zs", "postgresql://ci:***@db.example:5432/zs"),
        ("postgresql://ci@db/zs", "postgresql://ci@db/zs"),
        ("reports/history.sqlite", "reports/history.sqlite"),
    ],
)
def test_a_store_url_never_shows_its_password(spec: str, shown: str) -> None:
    assert masked(spec) == shown


def test_an_unreachable_postgresql_is_one_line_without_the_password() -> None:
    pytest.importorskip("psycopg", reason="the psycopg driver is absent: pip install 'zscheck[postgres]'")
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://ci:s3cret@127.0.0.1:1/zs")
    assert "s3cret" not in str(caught.value) and "cannot connect" in str(caught.value)


def test_a_run_an_older_zscheck_recorded_stays_listed_but_is_not_compared(tmp_path: Path) -> None:
    """A store outlives the zscheck that wrote it: an older version of a document is kept and listed, and
    typed reads skip it rather than failing the whole history."""
    record = record_of(tmp_path, "a", load_summary([0.01]), "load")
    old = dict(record.documents["summary.json"], schema="zscheck/load-summary/1")
    older = RunRecord.from_json(dict(record.to_json(), id="older", documents={"summary.json": old}), "line 1")
    with open_store(str(tmp_path / "s.sqlite")) as store:
        store.add(older)
        (back,) = store.query()
    assert back.id == "older" and back.load_summaries() == [] and back.document("summary.json", LoadSummary) is None
