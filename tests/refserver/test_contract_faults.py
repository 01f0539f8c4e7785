"""The contract faults added for issue 10: with each, the server misbehaves exactly as its line in FAULTS
says; the correct server, given the same requests, does not. One sequential client, real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from tests.refserver.helpers import action, create_account, query_one, send_json, session_of
from zscheck import Client, _wire
from zscheck.refserver import RunningServer
from zscheck.refserver.faults import FAULTS

NEW = (
    "echo-drops-field",
    "stale-echo",
    "mangled-unicode",
    "job-uuid-reuse",
    "unknown-job-answers",
    "unknown-session-first",
    "tenant-sees-all",
    "admin-not-owner",
    "no-api-timeout",
    "schema-unasked",
    "wrong-description",
    "null-tag-accepted",
    "login-reuses-session",
    "login-ends-sessions",
    "delete-direct",
    "enforcing-expunges",
    "delete-mode-unchecked",
    "validation-only-writes",
    "tenant-deletes-any",
    "api-timeout-ignored",
)


def test_the_new_faults_are_listed_with_one_line_each() -> None:
    for name in NEW:
        area, what = FAULTS[name]
        assert area and what and "\n" not in what


ON_OFF = pytest.mark.parametrize("on", [True, False], ids=["fault", "correct"])


@pytest.fixture
def serve(make_server: ServerFactory) -> Iterator[Any]:
    """serve(fault, on) -> (an admin client, the server): the fault's server, or the correct one."""
    clients: list[Client] = []

    def start(fault: str, on: bool) -> tuple[Client, RunningServer]:
        assert fault in FAULTS
        server = make_server(faults=(fault,) if on else ())
        zs = Client(server.url)
        zs.login("admin", PASSWORD)
        clients.append(zs)
        return zs, server

    yield start
    for zs in clients:
        zs.close()


def disable(zs: Client, image: str, **extra: Any) -> Any:
    return action(zs, image, "changeImageState", {"stateEvent": "disable"}, **extra)


@ON_OFF
def test_echo_drops_field(serve: Any, on: bool) -> None:
    zs, _server = serve("echo-drops-field", on)
    image = image_uuids(zs)[0]
    echoed = disable(zs, image).inventory
    queried = query_one(zs, image)
    assert {"url", "size"} <= set(queried)
    assert ({"url", "size"} & set(echoed)) == (set() if on else {"url", "size"})


@ON_OFF
def test_stale_echo(serve: Any, on: bool) -> None:
    zs, _server = serve("stale-echo", on)
    image = image_uuids(zs)[0]
    updated = action(zs, image, "updateImage", {"name": "after"}).inventory
    assert query_one(zs, image)["name"] == "after"
    assert updated["name"] == ("seed-image-000" if on else "after")
    assert zs.delete_image(image).ok
    recovered = action(zs, image, "recoverImage", {}).inventory
    assert query_one(zs, image)["status"] == "Ready"
    assert recovered["status"] == ("Deleted" if on else "Ready")
    assert disable(zs, image).inventory == query_one(zs, image)  # changeImageState is not touched


@ON_OFF
def test_mangled_unicode(serve: Any, on: bool) -> None:
    zs, _server = serve("mangled-unicode", on)
    image = image_uuids(zs)[0]
    action(zs, image, "updateImage", {"name": "镜像 one", "description": "описание"})
    stored = query_one(zs, image)
    assert (stored["name"], stored["description"]) == (("?? one", "????????") if on else ("镜像 one", "описание"))


@ON_OFF
def test_job_uuid_reuse(serve: Any, on: bool) -> None:
    zs, _server = serve("job-uuid-reuse", on)
    image = image_uuids(zs)[0]
    job = _wire.new_job_uuid()
    assert zs.change_state(image, "disable", job_uuid=job).ok
    again = zs.send(_wire.change_state(image, "enable", session_of(zs), job_uuid=job))
    if on:
        assert again.status == 202
        assert query_one(zs, image)["state"] == "Enabled"  # a new job ran
    else:
        assert (again.status, again.body) == (400, f"Duplicate job uuid[{job}]".encode())


@ON_OFF
def test_unknown_job_answers(serve: Any, on: bool) -> None:
    zs, _server = serve("unknown-job-answers", on)
    poll = zs.send(_wire.raw("GET", f"/zstack/v1/api-jobs/{_wire.new_job_uuid()}"))
    assert (poll.status, poll.body) == ((200, b"{}") if on else (404, b"the job has been expired"))


@ON_OFF
def test_unknown_session_first(serve: Any, on: bool) -> None:
    zs, server = serve("unknown-session-first", on)
    bad_event = {"changeImageState": {"stateEvent": "off"}}
    never = send_json(zs, "PUT", f"/zstack/v1/images/{'0' * 32}/actions", bad_event, session="f" * 32)
    assert never.error_code == ("ID.1001" if on else "SYS.1007")
    unknown_image = send_json(
        zs,
        "PUT",
        f"/zstack/v1/images/{'0' * 32}/actions",
        {"changeImageState": {"stateEvent": "disable"}},
        session="e" * 32,
    )
    assert unknown_image.error_code == ("ID.1001" if on else "SYS.1003")
    with Client(server.url) as other:
        other.login("admin", PASSWORD)
        ended = session_of(other)
        other.logout()
    after_logout = send_json(zs, "PUT", f"/zstack/v1/images/{'0' * 32}/actions", bad_event, session=ended)
    assert after_logout.error_code == "SYS.1007"  # a logged-out session keeps the right order


@ON_OFF
def test_tenant_sees_all(serve: Any, on: bool) -> None:
    _zs, server = serve("tenant-sees-all", on)
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        assert len(image_uuids(tenant)) == (16 if on else 4)


@ON_OFF
def test_admin_not_owner(serve: Any, on: bool) -> None:
    zs, server = serve("admin-not-owner", on)
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        theirs = image_uuids(tenant)[0]
    result = disable(zs, theirs)
    assert result.error_code == ("SYS.1006" if on else None)
    assert disable(zs, image_uuids(zs)[0]).ok  # the admin's own image is fine either way
    created = create_account(zs, "someone")
    assert created.ok  # other admin APIs are untouched


@ON_OFF
def test_no_api_timeout(serve: Any, on: bool) -> None:
    zs, _server = serve("no-api-timeout", on)
    accepted = zs.send(_wire.change_state(image_uuids(zs)[0], "disable", session_of(zs)))
    assert accepted.status == 202 and "location" in accepted.json
    assert ("apiTimeout" in accepted.json) is not on


@ON_OFF
def test_schema_unasked(serve: Any, on: bool) -> None:
    zs, _server = serve("schema-unasked", on)
    accepted = zs.send(_wire.change_state(image_uuids(zs)[0], "disable", session_of(zs)))
    plain = zs.send(_wire.poll(accepted.json["location"], json_schema=False))
    assert plain.status == 200
    assert ("schema" in plain.json) is on


@ON_OFF
def test_wrong_description(serve: Any, on: bool) -> None:
    zs, _server = serve("wrong-description", on)
    error = action(zs, "0" * 32, "changeImageState", {"stateEvent": "disable"}).error
    assert error["code"] == "SYS.1003"
    assert (error["description"] == "A resource can not be found") is not on


@ON_OFF
def test_null_tag_accepted(serve: Any, on: bool) -> None:
    zs, _server = serve("null-tag-accepted", on)
    image = image_uuids(zs)[0]
    result = disable(zs, image, systemTags=[None])
    if on:
        assert result.ok and query_one(zs, image)["state"] == "Disabled"
    else:
        assert result.error_code == "SYS.1007"


@ON_OFF
def test_login_reuses_session(serve: Any, on: bool) -> None:
    zs, server = serve("login-reuses-session", on)
    with Client(server.url) as other:
        other.login("tenant", PASSWORD)  # another account's login
        assert (session_of(other) == session_of(zs)) is on


@ON_OFF
def test_login_ends_sessions(serve: Any, on: bool) -> None:
    zs, _server = serve("login-ends-sessions", on)
    first = session_of(zs)
    second = zs.extra_session()
    assert zs.session_valid(second)
    assert zs.session_valid(first) is not on


@pytest.mark.parametrize(
    ("fault", "mode", "gone"),
    [
        ("delete-direct", "Permissive", True),
        ("enforcing-expunges", "Enforcing", True),
        ("enforcing-expunges", "Permissive", False),
    ],
)
@ON_OFF
def test_deletion_faults(serve: Any, on: bool, fault: str, mode: str, gone: bool) -> None:
    zs, _server = serve(fault, on)
    image = image_uuids(zs)[0]
    assert zs.delete_image(image, mode=mode).ok
    after = query_one(zs, image)
    assert (after is None) is (on and gone)
    if after is not None:
        assert after["status"] == "Deleted"  # the Delay policy


@ON_OFF
def test_delete_mode_unchecked(serve: Any, on: bool) -> None:
    zs, _server = serve("delete-mode-unchecked", on)
    image = image_uuids(zs)[0]
    result = zs.delete_image(image, mode="Bogus")
    assert result.ok is on
    assert result.error_code == (None if on else "SYS.1000")
    assert query_one(zs, image)["status"] == ("Deleted" if on else "Ready")


@ON_OFF
def test_validation_only_writes(serve: Any, on: bool) -> None:
    zs, _server = serve("validation-only-writes", on)
    image = image_uuids(zs)[0]
    result = zs.call(_wire.change_state(image, "disable", session_of(zs), system_tags=["validationOnly"]))
    assert result.ok
    assert (result.inventory is not None) is on
    assert query_one(zs, image)["state"] == ("Disabled" if on else "Enabled")


@ON_OFF
def test_tenant_deletes_any(serve: Any, on: bool) -> None:
    zs, server = serve("tenant-deletes-any", on)
    image = image_uuids(zs)[0]
    with Client(server.url) as tenant:
        tenant.login("tenant", PASSWORD)
        result = tenant.delete_image(image)
        assert result.error_code == (None if on else "SYS.1006")
    assert query_one(zs, image)["status"] == ("Deleted" if on else "Ready")


@ON_OFF
def test_api_timeout_ignored(serve: Any, on: bool) -> None:
    zs, _server = serve("api-timeout-ignored", on)
    image = image_uuids(zs)[0]
    request = _wire.change_state(image, "enable", session_of(zs))
    accepted = zs.send(
        _wire.WireRequest(request.method, request.path, {**request.headers, "X-API-Timeout": "60"}, request.body)
    )
    assert accepted.json["apiTimeout"] == (1_800_000 if on else 60_000)


def test_every_new_fault_has_a_test() -> None:
    from pathlib import Path

    source = Path(__file__).read_text(encoding="utf-8")
    parametrized = {"delete-direct", "enforcing-expunges"}  # served through test_deletion_faults' `fault`
    assert {name for name in NEW if f'serve("{name}", on)' in source} | parametrized == set(NEW)
