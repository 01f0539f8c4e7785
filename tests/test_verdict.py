"""The one verdict vocabulary: words, exit codes, and how phases combine."""

from __future__ import annotations

import pytest

from zscheck.verdict import Verdict

P, V, C = Verdict.PASS, Verdict.VIOLATIONS, Verdict.COULD_NOT_RUN


@pytest.mark.parametrize(
    ("verdicts", "combined"),
    [
        ([P], P),
        ([P, P], P),
        ([P, V], V),
        ([C, V], V),  # a violation is a fact about the target even when another phase could not run
        ([P, C], C),
        ([], C),  # nothing ran: never a pass
    ],
)
def test_phases_combine(verdicts: list[Verdict], combined: Verdict) -> None:
    assert Verdict.combine(verdicts) is combined


@pytest.mark.parametrize(("code", "verdict"), [(0, P), (1, V), (2, C), (3, C), (-9, C), (5, C)])
def test_any_exit_code_has_a_verdict(code: int, verdict: Verdict) -> None:
    assert Verdict.of(code) is verdict


def test_words_and_codes() -> None:
    assert [(v.word, v.exit_code) for v in Verdict] == [("PASS", 0), ("VIOLATIONS", 1), ("COULD NOT RUN", 2)]


def test_the_documents_use_the_same_words() -> None:
    from typing import get_args

    from zscheck.report.documents import Verdict as DocumentVerdict

    assert get_args(DocumentVerdict) == tuple(v.word for v in Verdict)
