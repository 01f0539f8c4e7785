"""Item 4 of issue 15: one `~=` query must not freeze the server. The LIKE matcher is linear-bounded and
keeps MySQL's semantics (`%`, `_`, `\\` escape, case-insensitive under utf8_general_ci, §10)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck import Client
from zscheck.refserver.query import like, matches

LIKE_TABLE = [
    # (value, pattern, MySQL's answer)
    ("seed-image-000", "seed%", True),
    ("seed-image-000", "%000", True),
    ("seed-image-000", "%image%", True),
    ("seed-image-000", "%IMAGE%", True),  # utf8_general_ci: case does not count
    ("SEED-image-000", "seed-IMAGE-000", True),
    ("seed-image-000", "seed", False),  # LIKE is anchored at both ends
    ("seed-image-000", "image", False),
    ("seed-image-000", "seed-image-00_", True),
    ("seed-image-000", "seed-image-0_", False),  # `_` is exactly one character
    ("seed-image-000", "____-_____-___", True),
    ("abc", "%%%", True),
    ("", "%", True),
    ("", "_", False),
    ("", "", True),
    ("a", "", False),
    ("50%", "50\\%", True),  # `\` escapes the wildcards
    ("500", "50\\%", False),
    ("a_b", "a\\_b", True),
    ("axb", "a\\_b", False),
    ("a\\b", "a\\\\b", True),
    ("a\\", "a\\", True),  # a trailing escape stands for itself
    ("aXbXc", "%b%", True),
    ("abab", "%ab", True),
    ("aab", "a%ab", True),
    ("ab", "a%ab", False),  # the runs may not overlap
    ("a.b", "a.b", True),  # regex characters are plain characters
    ("axb", "a.b", False),
    ("a\nb", "a_b", True),
    ("xyz", "%x%y%z%", True),
    ("xzy", "%x%y%z%", False),
    ("ÉCOLE", "%école", True),
    ("straße", "STRASSE", False),  # one character is not two
]


@pytest.mark.parametrize(("value", "pattern", "expected"), LIKE_TABLE)
def test_like_has_mysql_semantics(value: str, pattern: str, expected: bool) -> None:
    assert like(value, pattern) is expected
    assert matches(value, "~=", pattern) is expected
    assert matches(value, "!~=", pattern) is (not expected)


def test_like_cost_is_bounded_by_the_input() -> None:
    started = time.process_time()
    for count in (14, 30, 200, 2000):
        assert not like("seed-image-000" * 10, "%" * count + "x")
        assert like("seed-image-000" * 10, "%" * count + "0")
        assert not like("a" * 255, "%a" * count + "b")
    assert time.process_time() - started < 1.0


def test_many_percent_signs_do_not_block_the_server(make_server: ServerFactory) -> None:
    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        for pattern in ("%" * 200 + "x", "%" * 200, "%_" * 200 + "x"):
            started = time.monotonic()
            result = zs.query_images([f"name~={pattern}"])
            took = time.monotonic() - started
            assert result.ok, result.final.text()
            assert took < 3.0, f"{len(pattern)}-character pattern took {took:.2f} s"  # wall time, a busy box
        assert len(zs.query_images(["name~=" + "%" * 200]).data["inventories"]) == 16
        assert zs.query_images(["name~=" + "%" * 200 + "x"]).data["inventories"] == []
