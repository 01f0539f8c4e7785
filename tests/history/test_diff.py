"""zscheck diff, proven with the reference server against itself: two correct servers show no difference,
and each fault mode shows up as one, on the field it breaks, shrunk to the shortest sequence; the mask is
learned (uuids and timestamps), and the command line says it all with both exchanges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import pytest

from tests.conftest import PASSWORD, ServeProcess, ServerFactory
from zscheck import Client
from zscheck.cli import main
from zscheck.differential import Difference, Observation, differences, learn_mask, run_diff, shape, shrink
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
    "sync-validation": "accepted",  # no 202 at all: answered at once
    "success-field": "answer.success",
    "other-field-changes": "answer.inventory.platform",
    "lost-update": "state.after",
    "iso-timestamps": "answer.inventory.createDate",  # masked by value, compared by form
    "no-api-timeout": "accepted.apiTimeout",  # the 202 answer is compared too
}


def test_two_correct_servers_show_no_difference() -> None:
    result = run_diff(TargetOptions(), TargetOptions(), seed=3, count=8)
    assert result.differences == []
    assert {"answer.inventory.uuid", "answer.inventory.lastOpDate"} <= set(result.mask)  # learned, not listed
    assert "answer.inventory.state" not in result.mask and "answer.error.code" not in result.mask


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A --baseline-target or --candidate-target takes its password from the environment, as a real node's."""
    monkeypatch.setenv("ZSCHECK_PASSWORD", PASSWORD)


@pytest.mark.usefixtures("password")
def test_two_separate_installations_show_no_difference(make_server: ServerFactory) -> None:
    """Two correct servers, each with its own backup storage: environment uuids differ, their roles do not
    (the baseline against itself cannot see this: on one installation they never change)."""
    a, b = make_server(), make_server()
    with Client(a.url) as za, Client(b.url) as zb:
        za.login("admin", PASSWORD), zb.login("admin", PASSWORD)
        assert za.backup_storage()[0]["uuid"] != zb.backup_storage()[0]["uuid"]
    result = run_diff(TargetOptions(url=a.url), TargetOptions(url=b.url), seed=3, count=8)
    assert result.differences == [], [(d.path, d.baseline, d.candidate) for d in result.differences]


@pytest.mark.usefixtures("password")
@pytest.mark.parametrize("seed", [3, 5])
def test_a_fault_on_a_separate_installation_shows_up(make_server: ServerFactory, seed: int) -> None:
    base, cand = make_server(), make_server(faults=("disable-noop",))
    result = run_diff(TargetOptions(url=base.url), TargetOptions(url=cand.url), seed=seed, count=8)
    found = {d.path: (d.baseline, d.candidate) for d in result.differences}
    assert found.get("answer.inventory.state") == ("Disabled", "Enabled"), found
    assert not any("backupStorageUuid" in path for path in found), found


def test_uuids_are_compared_by_their_role() -> None:
    """Which uuid an installation chose does not count; the same uuid in two places against two uuids does."""
    image, bs, other = (uuid.uuid4().hex for _ in range(3))
    paths = ("answer.inventory.uuid", "answer.inventory.backupStorageRefs[0].backupStorageUuid", "answer.x.bsUuid")

    def run(*values: str, image: str = image) -> list[list[Observation]]:
        return [[Observation("enable", dict(zip(paths, values, strict=True)), "", image)]]

    same, seqs = run(image, bs, bs), [("enable",)]
    mask = learn_mask(same, same)
    new_image, new_bs = uuid.uuid4().hex, uuid.uuid4().hex
    assert differences(same, run(new_image, new_bs, new_bs, image=new_image), seqs, mask) == []
    (d,) = differences(same, run(new_image, new_bs, other, image=new_image), seqs, mask)
    assert d.path == "answer.x.bsUuid" and d.baseline != d.candidate
    (d,) = differences(same, run(new_bs, new_bs, new_bs, image=new_image), seqs, mask)  # not the image asked
    assert d.path == "answer.inventory.uuid" and d.baseline == "<image>"


def test_every_field_of_the_first_differing_step_is_reported() -> None:
    """One difference that sorts first (or a false one) does not hide the others of the same answer."""
    base = [[observation(**{"answer.error.code": "SYS.1007", "answer.inventory.state": "Disabled"})]]
    cand = [[observation(**{"answer.error.code": "SYS.1000", "answer.inventory.state": "Enabled"})]]
    found = differences(base, cand, [("enable",)], learn_mask(base, base))
    assert [d.path for d in found] == ["answer.error.code", "answer.inventory.state"]


@pytest.mark.slow
@pytest.mark.usefixtures("password")
def test_the_command_against_separate_serve_processes(
    serve_process: Callable[..., ServeProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's reproducer: three `zscheck serve` installations, correct, correct, disable-noop."""
    base, good, bad = (
        serve_process("--db", ":memory:"),
        serve_process("--db", ":memory:"),
        serve_process("--db", ":memory:", "--fault", "disable-noop"),
    )
    args = ["diff", "--baseline-target", base.url, "--seed", "3", "--sequences", "4"]
    assert main([*args, "--candidate-target", good.url]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main([*args, "--candidate-target", bad.url]) == 1
    out = capsys.readouterr().out
    assert "answer.inventory.state: baseline 'Disabled', candidate 'Enabled'" in out and "backupStorageUuid" not in out


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
    u = [uuid.uuid4().hex for _ in range(4)]
    first = [[observation(**{"answer.inventory.uuid": u[0], "answer.tags[0].uuid": u[1], "http": "202 200"})]]
    second = [[observation(**{"answer.inventory.uuid": u[2], "answer.tags[0].uuid": u[3], "http": "202 200"})]]
    mask = learn_mask(first, second)
    assert mask.values == {"answer.inventory.uuid", "answer.tags.uuid"} and mask.shapes == set()
    first[0][0].fields["answer.error.details"], second[0][0].fields["answer.error.details"] = "no image", "a lock"
    assert learn_mask(first, second).shapes == {"answer.error.details"}  # free text: not compared at all


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Dec 3, 2026 5:57:44 AM", "Dec 3, 2026 10:07:04 AM", True),  # two times of one form
        ("Dec 3, 2026 5:57:44 AM", "2026-12-03T05:57:44Z", False),  # ISO 8601 instead of ZStack's
        ("f0af261ec9154ff09d4293f22b9f8d02", "0d965f650afe04b3d81cf37a279a11ae", True),
        ("f0af261ec9154ff09d4293f22b9f8d02", None, False),
        (3, 4, True),
        (3, "3", False),
    ],
)
def test_a_masked_field_keeps_its_form(a: object, b: object, same: bool) -> None:
    assert (shape(a) == shape(b)) is same


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
    assert "2. state.after: baseline 'Disabled', candidate 'Enabled'" in out  # the image read back: the same step
    assert "zscheck: VIOLATIONS (diff) - 2 difference(s), seed 1" in out
    assert main(["diff", "--seed", "1", "--sequences", "2"]) == 0


@pytest.mark.slow
def test_sigterm_during_a_diff_unwinds_through_the_restore(serve_process: Callable[..., ServeProcess]) -> None:
    """The fixture images diff made on a target are deleted and the states put back, signal or not."""
    server = serve_process("--db", ":memory:", "--job-delay", "0.5")  # every api-job takes 0.5 s
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", "diff", "--baseline-target", server.url,
             "--candidate-target", server.url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        time.sleep(6)  # logged in, fixture images made, calls under way
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        after = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err and after == before
