"""Requests for the tests in this directory, built with `_wire.raw` only: each test states its exact body
and headers, so the wire client's builders can change without changing what these tests send."""

from __future__ import annotations

import json
from typing import Any

from zscheck import Client, _wire
from zscheck._models import ApiResult

ADMIN_UUID = "36c27e8ff05c4780bf6d2fa65700f22e"


def session_of(zs: Client) -> str:
    assert zs.session is not None
    return zs.session.uuid


def send_json(
    zs: Client,
    method: str,
    path: str,
    body: Any = None,
    *,
    session: str | None = None,
    headers: dict[str, str] | None = None,
    follow: bool = True,
) -> ApiResult:
    """`body` as JSON (bytes go as they are); the session defaults to the client's own."""
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    token = session_of(zs) if session is None else session
    return zs.call(_wire.raw(method, path, token or None, body=raw, headers=headers), follow=follow)


def action(zs: Client, image: str, name: str, params: Any, **extra: Any) -> ApiResult:
    """PUT /images/{uuid}/actions with {name: params, **extra}."""
    return send_json(zs, "PUT", f"/zstack/v1/images/{image}/actions", {name: params, **extra})


def query_one(zs: Client, image: str) -> dict[str, Any] | None:
    found = send_json(zs, "GET", f"/zstack/v1/images?q=uuid={image}").data["inventories"]
    return found[0] if found else None


def create_account(zs: Client, name: str, password: str = "password", kind: str = "Normal") -> ApiResult:
    params = {"name": name, "password": _wire.hash_password(password), "type": kind}
    return send_json(zs, "POST", "/zstack/v1/accounts", {"params": params})
