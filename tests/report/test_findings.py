"""Findings: fingerprints that ignore what varies between runs and nothing else, one finding per root cause
(the pure functions, table-driven), and a real faulty run grouped that way in every file it writes."""

from __future__ import annotations

import dataclasses

import pytest

from zscheck.report.documents import Failure
from zscheck.report.findings import fingerprint, group, normalise, operation, select, with_fingerprint

U1, U2 = "2708a8045e834ab7a95b29790a60e19e", "878b5489878b5489878b5489878b5489"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (f"image {U1}", f"image {U2}"),
        ("job 5d3c1f0e-9a7b-4c2d-8e1f-0a1b2c3d4e5f", "job 0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"),
        ("lastOpDate Oct 28, 2025 2:09:26 PM", "lastOpDate Dec 3, 2026, 11:59:01 AM"),
        ("at 2025-10-28T14:09:26.123Z", "at 2026-12-03 05:33:29+00:00"),
        ("http://127.0.0.1:35589/zstack/v1", "http://127.0.0.1:40587/zstack/v1"),
        ("took 12ms", "took 7 ms"),
        ("created 1764739200.5", "created 1733200000"),
        ("a  b\n c", "a b c"),
        # an answer cut at 80 characters cuts the job id in its location anywhere: a different cut each run
        (
            '202 {"location":"http://127.0.0.1:41419/zstack/v1/api-jobs/6970dd06fde5473787abb4...',
            '202 {"location":"http://127.0.0.1:36503/zstack/v1/api-jobs/3a07e3a043a14768a29c55...',
        ),
    ],
)
def test_normalise_masks_what_varies_between_runs(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SYS.1007", "SYS.1000"),
        ("Enabled", "Disabled"),
        ("HTTP 503", "HTTP 500"),
        ("'enable'", "'disable'"),
    ],
)
def test_normalise_keeps_what_tells_causes_apart(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PUT", f"/zstack/v1/images/{U1}/actions", "PUT /zstack/v1/images/{uuid}/actions"),
        ("get", f"/zstack/v1/api-jobs/{U2}", "GET /zstack/v1/api-jobs/{uuid}"),
        ("DELETE", f"/zstack/v1/images/{U1}?deleteMode=Permissive", "DELETE /zstack/v1/images/{uuid}"),
        ("GET", "/zstack/v1/images?q=name=x", "GET /zstack/v1/images"),
        ("", "", ""),
    ],
)
def test_operation_is_method_and_path_with_uuids_masked(method: str, path: str, expected: str) -> None:
    assert operation(method, path) == expected


def _failure(**changes: str) -> Failure:
    base = Failure(
        test="contracts/test_a.py::test_x",
        check="error_code",
        message="wrong outcome (rule state-event-invalid)",
        expected="SYS.1007",
        actual="'SYS.1000'",
        rule="state-event-invalid",
        operation="PUT /zstack/v1/images/{uuid}/actions",
        curl=f"curl ... {U1}",
    )
    return dataclasses.replace(base, **changes)


def test_a_fingerprint_is_12_hex_digits_and_the_same_in_any_run() -> None:
    value = fingerprint(_failure())
    assert len(value) == 12 and int(value, 16) >= 0
    assert fingerprint(_failure()) == value  # no salt, no time: a baseline written today matches tomorrow
    # what a failure was seen in, and its evidence, are not its root cause
    assert fingerprint(_failure(test="contracts/test_b.py::test_y", curl="other", response="HTTP 503 ...")) == value
    assert fingerprint(_failure(actual=f"'SYS.1000' for {U2} at Oct 28, 2025 2:09:26 PM")) == fingerprint(
        _failure(actual=f"'SYS.1000' for {U1} at Dec 3, 2026 1:00:00 AM")
    )


@pytest.mark.parametrize(
    "change",
    [
        {"check": "status_code"},
        {"rule": "success"},
        {"operation": "GET /zstack/v1/api-jobs/{uuid}"},
        {"expected": "SYS.1006"},
        {"actual": "'SYS.1003'"},
    ],
)
def test_each_part_of_the_fingerprint_tells_causes_apart(change: dict[str, str]) -> None:
    assert fingerprint(_failure(**change)) != fingerprint(_failure())


def test_assertions_without_expected_and_actual_are_told_apart_by_their_message() -> None:
    a = _failure(check="assertion", expected="", actual="", message="the image disappeared", operation="")
    b = dataclasses.replace(a, message="the echo differs")
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(dataclasses.replace(a, message=f"the image disappeared  {''}"))


def test_group_gives_one_finding_per_fingerprint_with_count_tests_and_first_example() -> None:
    failures = [
        with_fingerprint(_failure(test="t1", curl="first")),
        with_fingerprint(_failure(test="t2", curl="second")),
        with_fingerprint(_failure(check="status_code", expected="503", actual="500", test="t2")),
        with_fingerprint(_failure(test="t1", curl="third")),
    ]
    findings = group(failures)
    shown = [(f.check, f.count, f.tests) for f in findings]
    assert shown == [("error_code", 3, ["t1", "t2"]), ("status_code", 1, ["t2"])]
    assert findings[0].first.curl == "first" and findings[0].id == failures[0].fingerprint
    assert group([]) == []


def test_select_takes_the_id_a_prefix_or_the_number() -> None:
    findings = group([with_fingerprint(_failure()), with_fingerprint(_failure(check="status_code"))])
    assert select(findings, findings[1].id) is findings[1]
    assert select(findings, findings[1].id[:6]) is findings[1]
    assert select(findings, "1") is findings[0] and select(findings, "2") is findings[1]
    with pytest.raises(KeyError, match="is not a finding of this run; the findings are: 1 "):
        select(findings, "ffffffffffff" if not findings[0].id.startswith("f") else "000000000000")
