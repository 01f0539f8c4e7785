"""zscheck diff, proven with the reference server against itself: two correct servers show no difference,
and each fault mode shows up as one, on the field it breaks, shrunk to the shortest sequence; the mask is
learned (uuids and timestamps), and the command line says it all with both exchanges."""

from __future__ import annotations

import pytest

from zscheck.cli import main
from zscheck.differential import Difference, Observation, learn_mask, run_diff, shrink
from zscheck.target import TargetOptions

# fault -> the field its difference must be on (a fault on a field the mask hides, such as lastOpDate, is
# not one diff can see: the baseline's own lastOpDate differs from run to run)
FAULTS = {
    "disable-noop": "answer.inventory.state",
    "wrong-error-code": "answer.error.code",
    "case-insensitive-event": "answer.error.code",
    "same-state-error": "answer.error.code",
    "any-session": "answer.error.code",
    "session-before-arguments": "answer.error.code",
    "business-error-500": "http",
    "sync-validation": "http",
    "success-field": "answer.success",
    "other-field-changes": "answer.inventory.platform",
    "lost-update": "state.after",
}


def test_two_correct_servers_show_no_difference() -> None:
    result = run_diff(TargetOptions(), TargetOptions(), seed=3, count=8)
    assert result.differences == []
    assert {"answer.inventory.uuid", "answer.inventory.lastOpDate"} <= set(result.mask)  # learned, not listed
    assert "answer.inventory.state" not in result.mask and "answer.error.code" not in result.mask


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "path"), FAULTS.items())
def test_each_fault_shows_up_as_a_difference(fault: str, path: str) -> None:
    result = run_diff(TargetOptions(), TargetOptions(faults=(fault,)), seed=3, count=4)
    assert any(d.path.startswith(path) for d in result.differences), [d.path for d in result.differences]
    for d in result.differences:
        assert d.baseline != d.candidate and "curl -i -X PUT" in d.candidate_exchange


def observation(**fields: object) -> Observation:
    return Observation("enable", dict(fields), "")


def test_the_mask_is_what_differed_between_the_baseline_and_itself() -> None:
    first = [[observation(**{"answer.inventory.uuid": "a", "answer.tags[0].uuid": "x", "http": "202 200"})]]
    second = [[observation(**{"answer.inventory.uuid": "b", "answer.tags[0].uuid": "y", "http": "202 200"})]]
    assert learn_mask(first, second) == {"answer.inventory.uuid", "answer.tags.uuid"}


def test_shrinking_drops_the_steps_the_difference_does_not_need() -> None:
    found = Difference(("enable", "disable", "enable", "disable"), 3, "answer.inventory.state", "a", "b", "", "")

    def check(seq: tuple[str, ...]) -> Difference | None:  # the difference needs one disable, nothing else
        return Difference(seq, len(seq) - 1, found.path, "a", "b", "", "") if "disable" in seq else None

    assert shrink(found, check).sequence == ("disable",)


def test_the_command_with_both_exchanges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--candidate-fault", "disable-noop", "--seed", "1", "--sequences", "2"]) == 1
    out = capsys.readouterr().out
    assert "1. answer.inventory.state: baseline 'Disabled', candidate 'Enabled'" in out
    assert "sequence: disable (step 1)" in out and out.count("curl -i -X PUT") >= 2 and "$ZSTACK_SESSION" in out
    assert "zscheck: VIOLATIONS (diff) - 1 difference(s), seed 1" in out
    assert main(["diff", "--seed", "1", "--sequences", "2"]) == 0
