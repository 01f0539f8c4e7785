"""Error-code semantics: every input class of `error_codes.toml`, generated broadly, gets its answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from hypothesis import assume, given, seed, settings
from hypothesis import strategies as st

from contracts.strategies import EVENTS, facets, unknown_uuids
from zscheck.checks import FACETS, Facets
from zscheck.conformance.harness import Harness, Sent
from zscheck.conformance.plugin import in_parallel, part_seed, require


def pick_image(zs: Harness, data: st.DataObject, facet: str) -> str:
    if facet == "unknown":

        def not_a_fixture(uuid: str) -> bool:  # named, not a lambda: drawn from several threads
            return uuid not in zs.admin_images

        return str(data.draw(unknown_uuids.filter(not_a_fixture), label="image"))
    return str(data.draw(st.sampled_from(zs.admin_images), label="image"))


def rule_examples(zs: Harness) -> list[Facets]:
    """Every value of every facet alone, then every pair of values of two facets: where two rules hold at
    once, the earlier must win. All values, not one per rule: a server may get the order right for an
    expired session and wrong for one it never issued."""
    default = Facets()
    values = [(facet, value) for facet in FACETS for value in FACETS[facet] if value != getattr(default, facet)]
    singles = [{facet: value} for facet, value in values]
    pairs = [{fa: va, fb: vb} for i, (fa, va) in enumerate(values) for fb, vb in values[i + 1 :] if fa != fb]
    return [Facets(**facets) for facets in singles + pairs]


def event_for(case: Facets, event: str) -> Any:
    return {"valid": event, "invalid": event.capitalize(), "missing": None, "not-a-string": {"event": event}}[
        case.event
    ]


def test_each_rule_and_its_precedence(zs: Harness) -> None:
    """Deterministic, whatever Hypothesis draws: every class alone with both events, then every pair of
    classes. The probes are independent, so they go out `--workers` at a time (each waits for its job)."""
    cases = [(case, event) for case in rule_examples(zs)[: _singles(zs)] for event in ("enable", "disable")]
    cases += [(case, "disable") for case in rule_examples(zs)[_singles(zs) :]]
    # Requests with an expired session wait (once) for the run's sessions to lapse: last, so the other
    # probes go out meanwhile.
    runnable = sorted(((c, e) for c, e in cases if zs.available(c)), key=lambda item: item[0].session == "expired")

    def send(item: tuple[Facets, str]) -> Sent:
        case, event = item
        image = zs.admin_images[0] if case.image != "unknown" else "0" * 32
        return zs.probe(case, image, event_for(case, event))

    with ThreadPoolExecutor(max_workers=zs.workers) as pool:
        results = list(pool.map(send, runnable))
    for sent in results:
        require(zs, sent)


def _singles(zs: Harness) -> int:
    default = Facets()
    return sum(1 for facet in FACETS for value in FACETS[facet] if value != getattr(default, facet))


def test_every_input_class_gets_its_answer(zs: Harness, pytestconfig: pytest.Config) -> None:
    """Hypothesis over every class and their combinations, split into `--workers` independent runs (each
    its own seed, derived from the run's) so that their waits for jobs overlap."""
    current = settings()
    parts = max(1, min(zs.workers, current.max_examples))

    def part(i: int) -> None:
        @seed(part_seed(pytestconfig, i))
        @settings(current, max_examples=max(1, current.max_examples // parts))
        @given(data=st.data())
        def examples(data: st.DataObject) -> None:
            case: Facets = data.draw(facets, label="facets")
            assume(zs.available(case))
            event: Any = data.draw(EVENTS[case.event], label="event")
            require(zs, zs.probe(case, pick_image(zs, data, case.image), event))

        examples()

    in_parallel([partial(part, i) for i in range(parts)], parts)
