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


def canonical(rule_when: dict[str, frozenset[str]]) -> dict[str, str]:
    """The simplest request a rule applies to: its first listed value for each facet it names."""
    return {facet: sorted(values)[0] for facet, values in rule_when.items()}


def rule_examples(zs: Harness) -> list[Facets]:
    """Each rule alone, then each pair of rules that can hold at once: the earlier rule must win."""
    singles = [canonical(rule.when) for rule in zs.table.rules]
    pairs = [{**b, **a} for i, a in enumerate(singles) for b in singles[i + 1 :] if not set(a) & set(b)]
    return [Facets(**facets) for facets in singles + pairs]


@pytest.mark.parametrize("event", ["enable", "disable"])
def test_each_rule_and_its_precedence(zs: Harness, event: str) -> None:
    """Deterministic, whatever Hypothesis draws: every rule is exercised, and every pair of rules in order."""
    for case in rule_examples(zs):
        if not zs.available(case):
            continue
        value: Any = {"valid": event, "invalid": event.capitalize(), "missing": None, "not-a-string": {"event": event}}[
            case.event
        ]
        image = zs.admin_images[0] if case.image != "unknown" else "0" * 32
        require(zs, zs.probe(case, image, value))


@given(data=st.data())
def test_every_input_class_gets_its_answer(zs: Harness, data: st.DataObject) -> None:
    case: Facets = data.draw(facets, label="facets")
    assume(zs.available(case))
    event: Any = data.draw(EVENTS[case.event], label="event")
    require(zs, zs.probe(case, pick_image(zs, data, case.image), event))
