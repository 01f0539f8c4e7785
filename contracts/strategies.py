"""Hypothesis strategies for the input classes of the error-code table (`error_codes.toml`).

No lambdas: some suites draw from several threads at once (`--workers`), and Hypothesis reads a lambda's
source with `ast` to describe it, which CPython 3.11 does not do safely across threads. Named functions are
described by their name."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from zscheck.checks import FACETS, Facets

# Java's String.trim() strips every char <= U+0020: these pad a valid event and keep it valid.
JAVA_WHITESPACE = "".join(chr(c) for c in range(0x21))


def is_valid_event(value: Any) -> bool:
    return isinstance(value, str) and value.strip(JAVA_WHITESPACE) in ("enable", "disable")


def _padded(pad_left: str, event: str, pad_right: str) -> str:
    return pad_left + event + pad_right


def _not_valid_event(value: str) -> bool:
    return not is_valid_event(value)


def _hex(value: Any) -> str:
    return str(value.hex)


valid_events = st.builds(
    _padded,
    st.sampled_from(["", "", " ", "\t", "\n "]),
    st.sampled_from(["enable", "disable"]),
    st.sampled_from(["", "", " ", "\r\n"]),
)

invalid_events: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        ["Enable", "DISABLE", "Disabled", "enabled", "on", "", " ", "en able", "\u00a0enable", "disable\u3000"]
    ),
    st.text(max_size=20).filter(_not_valid_event),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.booleans(),
)

EVENTS: dict[str, st.SearchStrategy[Any]] = {
    "valid": valid_events,
    "invalid": invalid_events,
    "missing": st.none(),
    "not-a-string": st.one_of(
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        st.lists(st.sampled_from(["enable", 1]), max_size=2),
    ),
}

unknown_uuids = st.one_of(
    st.uuids().map(_hex),
    st.text(string.ascii_letters + string.digits + "-_~", min_size=1, max_size=40),
)


def one_facet_off(facet: str) -> st.SearchStrategy[Facets]:
    return st.sampled_from([Facets(**{facet: v}) for v in FACETS[facet] if v != getattr(Facets(), facet)])


# Mostly requests with a single thing wrong (every rule gets hit), plus arbitrary combinations that
# exercise the precedence order of the table.
facets = st.one_of(
    st.just(Facets()),
    *[one_facet_off(f) for f in FACETS],
    st.builds(Facets, **{f: st.sampled_from(values) for f, values in FACETS.items()}),
)


# Image names and descriptions as ZStack's users write them: Chinese and ASCII mixed. No leading or trailing
# character <= U+0020 (ZStack trims string fields before storing them) and no lone surrogates (not text).
_TEXT_ALPHABET = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK unified ideographs
    st.sampled_from(string.ascii_letters + string.digits + " -_.()（）：，。"),
)


def _java_trimmed(value: str) -> str:
    return value.strip(JAVA_WHITESPACE)


_texts = st.text(_TEXT_ALPHABET, min_size=1, max_size=40).map(_java_trimmed).filter(bool)
image_texts = st.fixed_dictionaries({"name": _texts}, optional={"description": _texts})
