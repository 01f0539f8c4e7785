"""The error-code table: loaded and validated in one place, with errors that show the value and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from zscheck.checks import FACETS, ErrorTable, Facets, default_table
from zscheck.errors import ConfigError


def test_the_shipped_table_covers_every_combination() -> None:
    table = default_table()
    import itertools

    for values in itertools.product(*FACETS.values()):
        facets = Facets(**dict(zip(FACETS, values, strict=True)))
        for dialect in ("rest", "documented"):
            assert table.expect(facets, dialect).status >= 200


@pytest.mark.parametrize(
    ("facets", "rule"),
    [
        (Facets(), "success"),
        (Facets(body="wrong-key", auth="missing"), "body-without-action-key"),
        (Facets(auth="missing", event="invalid"), "authorization-missing"),
        (Facets(event="invalid", image="unknown", session="unknown"), "state-event-invalid"),
        (Facets(image="unknown", session="expired"), "image-unknown"),
        (Facets(session="logged-out", image="foreign"), "session-invalid"),
        (Facets(image="foreign"), "image-of-another-account"),
        (Facets(body="empty", auth="not-oauth"), "empty-body"),
    ],
)
def test_precedence(facets: Facets, rule: str) -> None:
    assert default_table().rule_for(facets).name == rule


def test_documented_business_failures_are_200_envelopes() -> None:
    expected = default_table().expect(Facets(event="invalid"), "documented")
    assert (expected.stage, expected.status, expected.body, expected.code) == ("sync", 200, "envelope", "SYS.1007")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]]\nname = 'x'\nwhen = { colour = ['red'] }", "unknown facet 'colour'; facets are body, auth"),
        ("[[rule]]\nname = 'x'\nwhen = { auth = ['basic'] }", "auth has no value ['basic']; it takes oauth, missing"),
        (
            "[[rule]]\nname = 'x'\nwhen = {}\nrest = { stage = 'sync', status = 200, body = 'text' }",
            "gives no answer for the documented dialect",
        ),
        (
            "[[rule]]\nname = 'x'\nwhen = {}\nrest = { stage = 'later', status = 200, body = 'text' }\n"
            "documented = { stage = 'sync', status = 200, body = 'text' }",
            "stage 'later' must be one of sync, job",
        ),
        (
            "[[rule]]\nname = 'x'\nwhen = {}\nrest = { stage = 'sync', status = 999, body = 'text' }\n"
            "documented = { stage = 'sync', status = 200, body = 'text' }",
            "status 999 must be an HTTP status code",
        ),
        ("not toml [", "is not valid TOML"),
        ("", "has no [[rule]] entries"),
    ],
)
def test_bad_tables_are_refused_with_the_value_and_the_rule(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ErrorTable.load(write(tmp_path, text))


def test_a_table_without_a_catch_all_says_so(tmp_path: Path) -> None:
    table = ErrorTable.load(
        write(
            tmp_path,
            "[[rule]]\nname = 'only-empty'\nwhen = { body = ['empty'] }\n"
            "rest = { stage = 'sync', status = 500, body = 'text' }\n"
            "documented = { stage = 'sync', status = 500, body = 'text' }",
        )
    )
    with pytest.raises(ConfigError, match="no rule matches"):
        table.expect(Facets(), "rest")


def test_unknown_facet_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="facet session='stale' is not one of valid, unknown"):
        Facets(session="stale")


@pytest.mark.parametrize(
    ("value", "kind", "reads"),
    [
        ("x", "string", True),
        (1, "string", True),  # a number reads as its text
        (True, "string", True),
        (None, "string", True),
        ({}, "string", False),
        ([{}], "string", False),
        (5, "long", True),
        ("7", "long", True),
        ("7.0", "long", True),  # nextLong parses a double and keeps it when integral
        (7.0, "long", True),
        (7.5, "long", False),
        ("x", "long", False),
        (True, "long", False),
        ([], "long", False),
        (2**63, "long", False),
        (None, "long", True),
    ],
)
def test_gson_reads(value: object, kind: str, reads: bool) -> None:
    from zscheck.checks import gson_reads

    assert gson_reads(value, kind) is reads


@pytest.mark.parametrize(
    ("action", "dialect", "field"),
    [
        ({"stateEvent": "enable"}, "rest", None),
        ({"stateEvent": "enable", "serviceId": [{}]}, "rest", "serviceId"),
        ({"timeout": "x", "id": {}}, "rest", "timeout"),  # the first in the map's order
        ({"uuid": {}}, "rest", "uuid"),
        ({"uuid": {}}, "documented", None),  # the literal page's params declare no uuid
        ({"stateEvent": {}, "systemTags": [{}]}, "rest", None),  # classes of their own
        ({"unknownKey": {}}, "rest", None),  # unknown keys are ignored
    ],
)
def test_field_of_wrong_kind(action: dict[str, object], dialect: str, field: str | None) -> None:
    from zscheck.checks import field_of_wrong_kind

    assert field_of_wrong_kind(action, dialect) == field


def test_a_field_of_the_wrong_kind_is_a_sync_500_before_any_job_rule() -> None:
    table = default_table()
    for facets in (Facets(body="field-wrong-kind"), Facets(body="field-wrong-kind", event="missing", image="unknown")):
        expected = table.expect(facets, "rest")
        assert (expected.rule, expected.stage, expected.status) == ("field-of-the-wrong-kind", "sync", 500)
    assert table.expect(Facets(body="field-wrong-kind", auth="missing"), "rest").rule == "authorization-missing"
