"""The wire format of ZStack's REST API, in both dialects, without any I/O.

This is the only module that knows what a request looks like on the wire and how an answer is read.
The wire client (`client.py`) sends what it builds through `_transport.py`; the locust scenarios send
the same `WireRequest`s through locust's own HTTP client. Facts: `../shared/zstack-api.md`.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import shlex
import time
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
    # JSON body fields, at any depth, whose values must never be shown (password hashes: ZStack compares
    # the hash verbatim, so the hash is as good as the password).
    secret_fields: tuple[str, ...] = ()

    def redacted_headers(self) -> dict[str, str]:
        out = dict(self.headers)
        for name in self.secret_headers:
            if name in out:
                scheme = out[name].split(" ", 1)[0] if " " in out[name] else ""
                out[name] = f"{scheme} {REDACTED}".strip()
        return out

    def redacted_body(self) -> bytes | None:
        """The body with every secret field's value replaced by `<redacted>`."""
        if self.body is None or not self.secret_fields:
            return self.body
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return REDACTED.encode()  # cannot tell the secret apart: show nothing of it
        return json_body(_redact(data, self.secret_fields))

    def curl(self, base_url: str) -> str:
        """A copy-paste reproducer; the session is replaced by `$ZSTACK_SESSION` and secret body fields
        by `<redacted>`: neither is ever shown."""
        parts = ["curl", "-i", "-X", self.method, shlex.quote(base_url.rstrip("/") + self.path)]
        for name, value in self.headers.items():
            if name in self.secret_headers:
                scheme = value.split(" ", 1)[0] if " " in value else "OAuth"
                parts += ["-H", f'"{name}: {scheme} $ZSTACK_SESSION"']
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        body = self.redacted_body()
        if body is not None:
            parts += ["--data-binary", shlex.quote(body.decode("utf-8", errors="replace"))]
        return " ".join(parts)


def _redact(value: Any, names: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k in names else _redact(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, names) for v in value]
    return value


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
    return WireRequest(
        "PUT",
        f"{API_PREFIX}/images/{image_uuid}/actions",
        _job_headers(session, job_uuid),
        json_body({action: params}),
    )


def update_image(
    image_uuid: str, fields: Mapping[str, Any], session: str | None, *, job_uuid: str | None = None
) -> WireRequest:
    """UpdateImage (`APIUpdateImageMsg`, an action, async): `{"updateImage": {"name": ..., ...}}` with any of
    name, description, guestOsType, mediaType, format, system, platform, architecture, virtio. The values
    go as given, so negative cases use the same path. Job result `{"inventory": ImageInventory}`."""
    return image_action(image_uuid, "updateImage", dict(fields), session, job_uuid=job_uuid)


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


def _job_headers(session: str | None, job_uuid: str | None, *, body: bool = True) -> dict[str, str]:
    """What ZSClient sends on every call (§7.1): a job uuid of its choosing and X-JSON-Schema."""
    headers = {"Content-Type": _JSON} if body else {}
    return {**headers, **_auth(session), "X-Job-UUID": job_uuid or new_job_uuid(), "X-JSON-Schema": "true"}


def login(account: str, password_hash: str) -> WireRequest:
    body = {"logInByAccount": {"accountName": account, "password": password_hash}}
    return WireRequest(
        "PUT",
        f"{API_PREFIX}/accounts/login",
        {"Content-Type": _JSON},
        json_body(body),
        secret_headers=("Authorization",),
        secret_fields=("password",),
    )


def renew_session(
    session_uuid: str, session: str | None, *, duration: int | None = None, job_uuid: str | None = None
) -> WireRequest:
    """RenewSession (`APIRenewSessionMsg`, an action, async): pushes the session's expiry to now + `duration`
    seconds (60 to 31536000), or the node's session timeout. Job result `{"inventory": SessionInventory}`."""
    params: dict[str, Any] = {} if duration is None else {"duration": duration}
    return WireRequest(
        "PUT",
        f"{API_PREFIX}/accounts/sessions/{session_uuid}/renew",
        _job_headers(session, job_uuid),
        json_body({"renewSession": params}),
    )


def create_account(
    name: str,
    password_hash: str,
    session: str | None,
    *,
    account_type: str = "Normal",
    resource_uuid: str | None = None,
    description: str | None = None,
    job_uuid: str | None = None,
) -> WireRequest:
    """CreateAccount (`APICreateAccountMsg`, a creation API: key `params`, async, admin only). ZStack stores
    the password as sent and login compares verbatim, so the SHA-512 hex goes here as it does at login.
    `resource_uuid` (32 hex) is honoured (`AccountManagerImpl.handle(APICreateAccountMsg)`): the caller may
    journal the account before it exists. Job result `{"inventory": AccountInventory}`."""
    params: dict[str, Any] = {"name": name, "password": password_hash, "type": account_type}
    if description is not None:
        params["description"] = description
    if resource_uuid is not None:
        params["resourceUuid"] = resource_uuid
    return WireRequest(
        "POST",
        f"{API_PREFIX}/accounts",
        _job_headers(session, job_uuid),
        json_body({"params": params}),
        secret_fields=("password",),
    )


def delete_account(
    account_uuid: str, session: str | None, *, mode: str = "Permissive", job_uuid: str | None = None
) -> WireRequest:
    """DeleteAccount (`APIDeleteAccountMsg`, async, admin only; the SDK sends `deleteMode` as a query
    parameter, Permissive by default). A well-formed unknown uuid succeeds (`successIfResourceNotExisting`);
    the account's resources are deleted with it (cascade). Job result `{}`."""
    return WireRequest(
        "DELETE",
        f"{API_PREFIX}/accounts/{account_uuid}?deleteMode={mode}",
        _job_headers(session, job_uuid, body=False),
    )


def get_version() -> WireRequest:
    """GetVersion (`APIGetVersionMsg`: `@SuppressCredentialCheck`, sync; the SDK sends no session):
    `200 {"version": "..."}`."""
    return WireRequest(
        "PUT", f"{API_PREFIX}/management-nodes/actions", {"Content-Type": _JSON}, json_body({"getVersion": {}})
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
    return WireRequest("POST", f"{API_PREFIX}/images", _job_headers(session, job_uuid), json_body({"params": params}))


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


# Gson's default `java.sql.Timestamp` format, US locale (§1.5): Java 8 `Oct 28, 2025 2:09:26 PM`, Java 9+
# `Oct 28, 2025, 2:09:26 PM` (Java 20+ puts a narrow no-break space before PM).
_TIME_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%b %d, %Y, %I:%M:%S %p")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zstack_seconds(value: Any) -> float | None:
    """A ZStack timestamp as seconds on the node's own clock, or None if it is not one. The node prints its
    local time without a zone, so only differences between two of its timestamps are meaningful."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())  # str.split() also splits on no-break spaces
    month = text[:3]
    if month not in _MONTHS:  # %b follows the process locale; the node's output is always English
        return None
    text = f"{_MONTHS.index(month) + 1:02d}{text[3:]}"
    for fmt in _TIME_FORMATS:
        try:
            parsed = time.strptime(text, fmt.replace("%b", "%m"))
        except ValueError:
            continue
        return float(calendar.timegm(parsed))
    return None


def session_timeout(inventory: Mapping[str, Any]) -> float | None:
    """The session timeout a login inventory implies (`expiredDate - createDate`), to the second (both are
    truncated to whole seconds, so it is known to +-1 s); None when the inventory does not say. Not for a
    RenewSession inventory: its createDate is the login's, its expiredDate the renewal's."""
    created, expires = zstack_seconds(inventory.get("createDate")), zstack_seconds(inventory.get("expiredDate"))
    if created is None or expires is None or expires < created:
        return None
    return expires - created
