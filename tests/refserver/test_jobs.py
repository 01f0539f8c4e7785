"""`GET /zstack/v1/api-jobs/{uuid}`: one test per row of the §1.2 polling table, plus expiry."""

from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD, ServerFactory, image_uuids
from zscheck import Client, Outcome, _wire


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "HEAD"])
def test_non_get_is_405(client: Client, method: str) -> None:
    accepted = client.send(_wire.change_state(image_uuids(client)[0], "disable", client.session.uuid))
    path = _wire.poll(accepted.json["location"]).path
    exchange = client.send(_wire.raw(method, path))
    assert exchange.status == 405
    if method != "HEAD":
        assert exchange.body == b"only GET method is allowed for querying job status"


def test_unknown_job_is_404(client: Client) -> None:
    exchange = client.send(_wire.raw("GET", f"/zstack/v1/api-jobs/{_wire.new_job_uuid()}"))
    assert (exchange.status, exchange.body) == (404, b"the job has been expired")


def test_processing_job_is_202_with_an_empty_object(make_server: ServerFactory) -> None:
    server = make_server(job_delay=0.6)
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        image = image_uuids(zs)[0]
        accepted = zs.send(_wire.change_state(image, "disable", zs.session.uuid))
        assert accepted.status == 202
        pending = zs.send(_wire.poll(accepted.json["location"]))
        assert (pending.status, pending.body) == (202, b"{}")
        assert zs.get_image(image)["state"] == "Enabled"  # not applied yet
        time.sleep(0.8)
        done = zs.send(_wire.poll(accepted.json["location"]))
        assert done.status == 200 and done.json["inventory"]["state"] == "Disabled"


def test_done_success_is_200_and_schema_only_when_asked(client: Client) -> None:
    accepted = client.send(_wire.change_state(image_uuids(client)[0], "disable", client.session.uuid))
    location = accepted.json["location"]
    plain = client.send(_wire.poll(location, json_schema=False))
    with_schema = client.send(_wire.poll(location, json_schema=True))
    assert plain.status == with_schema.status == 200
    assert set(plain.json) == {"inventory"}
    assert set(with_schema.json) == {"inventory", "schema"}
    assert with_schema.json["schema"]["inventory"] == "org.zstack.header.image.ImageInventory"


def test_done_failure_is_503_with_error(client: Client) -> None:
    result = client.change_state("nope", "disable")
    assert result.final.status == 503
    assert set(result.final.json) == {"error"}
    assert result.outcome is Outcome.FAILURE


def test_poll_needs_no_authentication(client: Client) -> None:
    accepted = client.send(_wire.change_state(image_uuids(client)[0], "disable", client.session.uuid))
    poll = _wire.poll(accepted.json["location"])
    assert "Authorization" not in poll.headers
    assert client.send(poll).status == 200


def test_finished_jobs_expire(make_server: ServerFactory) -> None:
    server = make_server(job_ttl=1.0)
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        accepted = zs.send(_wire.change_state(image_uuids(zs)[0], "disable", zs.session.uuid))
        poll = _wire.poll(accepted.json["location"])
        assert zs.send(poll).status == 200
        time.sleep(1.2)
        server.call(server.server.app.maintain)
        assert zs.send(poll).status == 404


def test_location_names_the_server_and_the_job(client: Client) -> None:
    job = _wire.new_job_uuid()
    accepted = client.send(_wire.change_state(image_uuids(client)[0], "disable", client.session.uuid, job_uuid=job))
    assert accepted.json["location"] == f"{client.base_url}/zstack/v1/api-jobs/{job}"


def test_any_32_character_job_uuid_gives_valid_json(client: Client) -> None:
    job = 'ab"c\\d' + "x" * 26
    accepted = client.send(_wire.change_state(image_uuids(client)[0], "disable", client.session.uuid, job_uuid=job))
    assert accepted.status == 202
    assert accepted.json["location"].endswith(job)
