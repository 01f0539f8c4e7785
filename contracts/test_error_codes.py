"""Error-code semantics: every input class of `error_codes.toml`, generated broadly, gets its answer."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.strategies import EVENTS, facets, unknown_uuids
from zscheck.checks import Facets
from zscheck.conformance.harness import Harness
from zscheck.conformance.plugin import require


def pick_image(zs: Harness, data: st.DataObject, facet: str) -> str:
    if facet == "unknown":
        return str(data.draw(unknown_uuids.filter(lambda u: u not in zs.admin_images), label="image"))
    return str(data.draw(st.sampled_from(zs.admin_images), label="image"))


def canonical(rule_when: dict[str, frozenset[str]]) -> Facets:
    """The simplest request a rule applies to: its first listed value for each facet it names."""
    return Facets(**{facet: sorted(values)[0] for facet, values in rule_when.items()})


@pytest.mark.parametrize("event", ["enable", "disable"])
def test_each_table_rule_once(zs: Harness, event: str) -> None:
    """Every rule of the table, deterministically, whatever Hypothesis draws: no rule goes unexercised."""
    for rule in zs.table.rules:
        case = canonical(rule.when)
        if not zs.available(case) or zs.table.rule_for(case) is not rule:
            continue
        value: Any = {"valid": event, "invalid": event.capitalize(), "missing": None}[case.event]
        image = zs.admin_images[0] if case.image != "unknown" else "0" * 32
        require(zs, zs.probe(case, image, value))


@given(data=st.data())
def test_every_input_class_gets_its_answer(zs: Harness, data: st.DataObject) -> None:
    case: Facets = data.draw(facets, label="facets")
    assume(zs.available(case))
    event: Any = data.draw(EVENTS[case.event], label="event")
    require(zs, zs.probe(case, pick_image(zs, data, case.image), event))
