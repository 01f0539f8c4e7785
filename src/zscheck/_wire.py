"""The wire format of ZStack's REST API, in both dialects, without any I/O.

This is the only module that knows what a request looks like on the wire and how an answer is read.
The wire client (`client.py`) sends what it builds through `_transport.py`; the locust scenarios send
the same `WireRequest`s through locust's own HTTP client. Facts: `../shared/zstack-api.md`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

Dialect = Literal["rest", "documented"]
DIALECTS: tuple[Dialect, ...] = ("rest", "documented")
STATE_EVENTS = ("enable", "disable")

API_PREFIX = "/zstack/v1"
JOB_PATH = f"{API_PREFIX}/api-jobs/"
REDACTED = "<redacted>"

# ZSClient sends this on every call (§7.1); charset included, as the SDK does.
_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One HTTP request, relative to the target's base URL."""

    method: str
    path: str  # starts with /zstack/v1, query string included
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    # Header values that must never be shown in clear (session ids); see `curl`.
    secret_headers: tuple[str, ...] = ("Authorization",)

    def redacted_headers(self) -> dict[str, str]:
        out = dict(self.headers)
        for name in self.secret_headers:
            if name in out:
                scheme = out[name].split(" ", 1)[0] if " " in out[name] else ""
                out[name] = f"{scheme} {REDACTED}".strip()
        return out

    def curl(self, base_url: str) -> str:
        """A copy-paste reproducer; the session is replaced by `$ZSTACK_SESSION`, never shown."""
        parts = ["curl", "-i", "-X", self.method, shlex.quote(base_url.rstrip("/") + self.path)]
        for name, value in self.headers.items():
            if name in self.secret_headers:
                scheme = value.split(" ", 1)[0] if " " in value else "OAuth"
                parts += ["-H", f'"{name}: {scheme} $ZSTACK_SESSION"']
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        if self.body is not None:
            parts += ["--data-binary", shlex.quote(self.body.decode("utf-8", errors="replace"))]
        return " ".join(parts)


def new_job_uuid() -> str:
    return uuidlib.uuid4().hex


def hash_password(password: str) -> str:
    """ZStack compares the SHA-512 hex of the password (§4.1); the clear text never leaves the client."""
    return hashlib.sha512(password.encode()).hexdigest()


def json_body(value: Any) -> bytes:
    """JSON as ZSClient sends it: compact, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _auth(session: str | None) -> dict[str, str]:
    return {} if session is None else {"Authorization": f"OAuth {session}"}


# ------------------------------------------------------------------------------------------ builders


def change_state(
    image_uuid: str,
    event: Any,
    session: str | None,
    *,
    dialect: Dialect = "rest",
    job_uuid: str | None = None,
    system_tags: list[str] | None = None,
    user_tags: list[str] | None = None,
    json_schema: bool = True,
) -> WireRequest:
    """ChangeImageState. `rest`: what the Java SDK sends (§7.1), `{"changeImageState": {...}}` with an
    X-Job-UUID. `documented`: the published page, `{"params": {...}}` with tags at the top level."""
    headers = {"Content-Type": _JSON, **_auth(session)}
    params: dict[str, Any] = {"stateEvent": event}
    body: dict[str, Any]
    if dialect == "rest":
        if system_tags is not None:
            params["systemTags"] = system_tags
        if user_tags is not None:
            params["userTags"] = user_tags
        body = {"changeImageState": params}
        headers["X-Job-UUID"] = job_uuid or new_job_uuid()
        if json_schema:
            headers["X-JSON-Schema"] = "true"
    else:
        body = {"params": params}
        if system_tags is not None:
            body["systemTags"] = system_tags
        if user_tags is not None:
            body["userTags"] = user_tags
    return WireRequest("PUT", f"{API_PREFIX}/images/{image_uuid}/actions", headers, json_body(body))


def image_action(
    image_uuid: str, action: str, params: dict[str, Any], session: str | None, *, job_uuid: str | None = None
) -> WireRequest:
    """Any other action on /images/{uuid}/actions (expungeImage, recoverImage, updateImage...)."""
    headers = {
        "Content-Type": _JSON,
        **_auth(session),
        "X-Job-UUID": job_uuid or new_job_uuid(),
        "X-JSON-Schema": "true",
    }
    return WireRequest("PUT", f"{API_PREFIX}/images/{image_uuid}/actions", headers, json_body({action: params}))


def raw(
    method: str,
    path: str,
    session: str | None = None,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> WireRequest:
    """A request exactly as given: for the negative cases the builders above would never produce."""
    merged = {**_auth(session), **(headers or {})}
    return WireRequest(method, path, merged, body)


def login(account: str, password_hash: str) -> WireRequest:
    body = {"logInByAccount": {"accountName": account, "password": password_hash}}
    return WireRequest(
        "PUT",
        f"{API_PREFIX}/accounts/login",
        {"Content-Type": _JSON},
        json_body(body),
        secret_headers=("Authorization",),
    )


def logout(session: str) -> WireRequest:
    return WireRequest("DELETE", f"{API_PREFIX}/accounts/sessions/{session}")


def validate_session(session: str) -> WireRequest:
    return WireRequest("GET", f"{API_PREFIX}/accounts/sessions/{session}/valid")


def poll(location: str, *, json_schema: bool = True, session: str | None = None) -> WireRequest:
    """The job poll. Like ZSClient, a `location` on another host:port is rewritten onto the target the
    user named, keeping the `/zstack/v1/api-jobs/...` suffix (the server reports its own IP)."""
    split = urlsplit(location)
    path = split.path
    marker = path.find(JOB_PATH)
    if marker > 0:
        path = path[marker:]
    headers = {**_auth(session)}
    if json_schema:
        headers["X-JSON-Schema"] = "true"
    return WireRequest("GET", path + (f"?{split.query}" if split.query else ""), headers)


def query_images(
    session: str | None,
    conditions: Iterable[str] = (),
    *,
    limit: int | None = None,
    start: int | None = None,
    reply_with_count: bool = False,
    count: bool = False,
    sort: str | None = None,
    fields: Iterable[str] = (),
) -> WireRequest:
    """GET /zstack/v1/images with `q=` conditions such as `name=foo` or `state!=Enabled` (§5.1)."""
    query: list[tuple[str, str]] = [("q", c) for c in conditions]
    if limit is not None:
        query.append(("limit", str(limit)))
    if start is not None:
        query.append(("start", str(start)))
    if reply_with_count:
        query.append(("replyWithCount", "true"))
    if count:
        query.append(("count", "true"))
    if sort is not None:
        query.append(("sort", sort))
    field_list = list(fields)
    if field_list:
        query.append(("fields", ",".join(field_list)))
    suffix = f"?{urlencode(query)}" if query else ""
    return WireRequest("GET", f"{API_PREFIX}/images{suffix}", _auth(session))


def query_backup_storage(session: str | None) -> WireRequest:
    return WireRequest("GET", f"{API_PREFIX}/backup-storage", _auth(session))


def get_image(image_uuid: str, session: str | None) -> WireRequest:
    return WireRequest("GET", f"{API_PREFIX}/images/{image_uuid}", _auth(session))


def add_image(params: dict[str, Any], session: str | None, *, job_uuid: str | None = None) -> WireRequest:
    headers = {
        "Content-Type": _JSON,
        **_auth(session),
        "X-Job-UUID": job_uuid or new_job_uuid(),
        "X-JSON-Schema": "true",
    }
    return WireRequest("POST", f"{API_PREFIX}/images", headers, json_body({"params": params}))


def delete_image(
    image_uuid: str, session: str | None, *, mode: str = "Permissive", job_uuid: str | None = None
) -> WireRequest:
    headers = {**_auth(session), "X-Job-UUID": job_uuid or new_job_uuid()}
    return WireRequest("DELETE", f"{API_PREFIX}/images/{image_uuid}?deleteMode={mode}", headers)


# ------------------------------------------------------------------------------------------ reading


def parse_json(body: bytes) -> Any | None:
    """The body as JSON, or None when it is not JSON (ZStack's transport errors are plain text)."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def job_location(status: int, data: Any) -> str | None:
    """The api-job URL of a `202 {"location": ...}` answer, if that is what this is."""
    if status == 202 and isinstance(data, dict) and isinstance(data.get("location"), str):
        return str(data["location"])
    return None


def is_job_pending(status: int) -> bool:
    return status == 202


def session_expired(data: Any) -> bool:
    """ID.1001 (invalid or expired session) in either dialect's error envelope."""
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and error.get("code") == "ID.1001"
