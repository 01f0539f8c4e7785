"""Properties over many inputs (Hypothesis): every bad stateEvent is SYS.1007, every unknown uuid SYS.1003."""

from __future__ import annotations

import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD, image_uuids
from zscheck import Client
from zscheck.refserver import ServerConfig, start_in_thread

JAVA_WHITESPACE = "".join(chr(c) for c in range(0x21))  # String.trim() strips every char <= U+0020


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Client, list[str]]]:
    server = start_in_thread(ServerConfig(port=0, db=":memory:"))
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        yield zs, image_uuids(zs)
    server.stop()


def _is_valid_event(value: str) -> bool:
    return value.strip(JAVA_WHITESPACE) in ("enable", "disable")


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=st.one_of(
        st.text(),
        st.sampled_from(["Enable", "DISABLE", "enabled", "disable!", "en able", "\u00a0enable"]),
        st.builds(
            lambda ws, core, tail: ws + core + tail,
            st.text(JAVA_WHITESPACE, max_size=3),
            st.sampled_from(["enable", "disable"]).map(str.upper),
            st.text(JAVA_WHITESPACE, max_size=3),
        ),
    ).filter(lambda s: not _is_valid_event(s))
)
def test_any_string_that_is_not_an_event_after_trimming_is_sys_1007(
    shared: tuple[Client, list[str]], event: str
) -> None:
    zs, images = shared
    result = zs.change_state(images[0], event)
    assert result.error_code == "SYS.1007", (event, result.final.text())


@settings(max_examples=50, deadline=None)
@given(
    padding=st.tuples(st.text(JAVA_WHITESPACE, max_size=3), st.text(JAVA_WHITESPACE, max_size=3)),
    event=st.sampled_from(["enable", "disable"]),
)
def test_events_padded_with_java_whitespace_are_accepted(
    shared: tuple[Client, list[str]], padding: tuple[str, str], event: str
) -> None:
    zs, images = shared
    result = zs.change_state(images[1], padding[0] + event + padding[1])
    assert result.ok, result.final.text()
    assert result.inventory["state"] == {"enable": "Enabled", "disable": "Disabled"}[event]


SEGMENT = string.ascii_letters + string.digits + "-_~"


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(uuid=st.one_of(st.text(SEGMENT, min_size=1, max_size=64), st.uuids().map(lambda u: u.hex)))
def test_any_unknown_uuid_is_sys_1003(shared: tuple[Client, list[str]], uuid: str) -> None:
    zs, images = shared
    if uuid in images:
        return
    result = zs.change_state(uuid, "disable")
    assert result.error_code == "SYS.1003", (uuid, result.final.text())
    assert f"resource[uuid:{uuid}, type:ImageVO]" in result.error["details"]
