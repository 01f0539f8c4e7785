"""Answers that must agree: echo and query, sent and stored text, who sees which image; lastOpDate timing."""

from __future__ import annotations

from typing import Any

import pytest

from zscheck.checks import check_change, check_echo_matches_query, check_query_visibility, check_strings_round_trip

IMAGE: dict[str, Any] = {
    "uuid": "u1",
    "name": "生产镜像 centos-7",
    "description": "测试",
    "state": "Enabled",
    "status": "Ready",
    "url": "http://x/a.qcow2",
    "size": 1024,
    "mediaType": "RootVolumeTemplate",
    "createDate": "Oct 28, 2025 2:09:26 PM",
    "lastOpDate": "Oct 28, 2025 2:09:27 PM",
    "backupStorageRefs": [{"imageUuid": "u1", "backupStorageUuid": "b", "status": "Ready", "id": 1}],
}


def checks(violations: Any) -> list[str]:
    return sorted({v.check for v in violations})


@pytest.mark.parametrize(
    ("echoed", "found"),
    [
        (IMAGE, []),
        ({k: v for k, v in IMAGE.items() if k not in ("url", "size")}, ["echo_matches_query"]),
        (IMAGE | {"name": "old name"}, ["echo_matches_query"]),
        (IMAGE | {"status": "Deleted"}, ["echo_matches_query"]),
        (IMAGE | {"size": "1024"}, ["echo_matches_query"]),  # same text, another JSON kind
        (
            IMAGE | {"backupStorageRefs": [{**IMAGE["backupStorageRefs"][0], "status": "Deleted"}]},
            ["echo_matches_query"],
        ),
        (IMAGE | {"lastOpDate": "Oct 28, 2025 2:09:28 PM"}, []),  # a rounded fraction: one second apart
        (IMAGE | {"lastOpDate": "Oct 28, 2025 2:09:29 PM"}, ["echo_matches_query"]),
    ],
)
def test_echo_matches_the_query_after_it(echoed: dict[str, Any], found: list[str]) -> None:
    assert checks(check_echo_matches_query("updateImage", echoed, IMAGE)) == found


def test_an_echo_of_an_image_a_query_cannot_find() -> None:
    assert checks(check_echo_matches_query("recoverImage", IMAGE, None)) == ["echo_matches_query"]


@pytest.mark.parametrize(
    ("stored", "found"),
    [
        ("生产镜像 centos-7", []),
        ("???? centos-7", ["strings_round_trip"]),
        ("生产镜像 centos-7 ", ["strings_round_trip"]),
    ],
)
def test_strings_round_trip(stored: str, found: list[str]) -> None:
    sent = {"name": "生产镜像 centos-7"}
    assert checks(check_strings_round_trip(sent, IMAGE | {"name": stored}, "a query")) == found


@pytest.mark.parametrize(
    ("listed", "found"),
    [(["t1"], []), (["t1", "a1"], ["query_visibility"]), ([], ["query_visibility"])],
)
def test_a_normal_account_sees_its_own_images_only(listed: list[str], found: list[str]) -> None:
    images = [{"uuid": u} for u in listed]
    assert checks(check_query_visibility("tenant", images, own=["t1"], others=["a1"])) == found


LATER = IMAGE | {"state": "Disabled", "lastOpDate": "Oct 28, 2025 2:09:30 PM"}
SAME_SECOND = IMAGE | {"state": "Disabled"}


@pytest.mark.parametrize(
    ("after", "target", "since", "found"),
    [
        (LATER, "Disabled", 3.0, []),
        # A real node: the previous write finished well under 1.5 s before this request was sent, so both
        # may land in the same second. Never a violation, however long this job itself took.
        (SAME_SECOND, "Disabled", 0.2, []),
        (SAME_SECOND, "Disabled", 1.4, []),
        (SAME_SECOND, "Disabled", 1.6, ["last_op_date"]),
        (IMAGE | {"state": "Disabled", "lastOpDate": "Oct 28, 2025 2:09:20 PM"}, "Disabled", 0.0, ["last_op_date"]),
        # A same-state change writes nothing, so lastOpDate stays.
        (IMAGE, "Enabled", 5.0, []),
        (IMAGE | {"lastOpDate": "Oct 28, 2025 2:09:40 PM"}, "Enabled", 5.0, ["last_op_date"]),
    ],
)
def test_last_op_date_at_one_second_resolution(
    after: dict[str, Any], target: str, since: float, found: list[str]
) -> None:
    assert checks(check_change(IMAGE, after, target, seconds_since_last_write=since)) == found


def test_a_documented_echo_lists_nulls_and_hides_ref_ids() -> None:
    """The page's envelope keeps null fields and hides the refs' id; a query is ZStack's own. Those two
    differences are not the server's, anything else still is."""
    echoed = IMAGE | {
        "md5Sum": None,
        "backupStorageRefs": [{k: v for k, v in IMAGE["backupStorageRefs"][0].items() if k != "id"}],
    }
    assert checks(check_echo_matches_query("changeImageState", echoed, IMAGE, documented=True)) == []
    assert checks(check_echo_matches_query("changeImageState", echoed, IMAGE)) == ["echo_matches_query"]
    stale = echoed | {"name": "old"}
    assert checks(check_echo_matches_query("changeImageState", stale, IMAGE, documented=True)) == ["echo_matches_query"]
