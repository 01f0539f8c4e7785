"""`zscheck drift` names the known differences against the rest dialect, and none against the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck.cli import main

KNOWN = {"body key", "synchronous vs api-job", "success field", "status of business failures"}


def test_rest_reference_server_shows_the_known_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift", "--report-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    aspects = {d["aspect"] for d in json.loads((tmp_path / "drift.json").read_text())["drift"]}
    assert aspects >= KNOWN
    # each point names the script of the request it rests on, written once however many points share it
    report = json.loads((tmp_path / "drift.json").read_text())
    named = {d["reproducer"] for d in report["drift"]}
    assert named == set(report["reproducers"]) and len(named) < len(report["drift"])
    assert f"repro:  sh {tmp_path / 'reproducers' / 'success.sh'}" in out
    script = (tmp_path / "reproducers" / "success.sh").read_text()
    assert "zscheck serve --port 8080" in script and "X-Job-UUID: $(fresh)" in script  # no dead port, own job id
    assert "127.0.0.1:8080" in script and "follow" in script


def test_documented_server_has_no_drift(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(dialect="documented")
    monkeypatch.setenv("ZSCHECK_PASSWORD", PASSWORD)
    assert main(["drift", "--target", server.url, "--report-dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "drift.json").read_text())["drift"] == []
