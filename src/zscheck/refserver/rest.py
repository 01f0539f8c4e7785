"""RestServer's synchronous layer: how an HTTP request is read before any API runs.

Body parsing (Gson's quirks included), the Authorization header, and the rehash of an action map into
message fields. Failures here are plain-text answers (`RestError`), never ErrorCodes (§1.4).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from zscheck.refserver import model

_JAVA_TYPES = {str: "java.lang.String", list: "java.util.ArrayList", bool: "java.lang.Boolean"}
_GSON_TOKENS = {dict: "BEGIN_OBJECT", list: "BEGIN_ARRAY", str: "STRING", bool: "BOOLEAN"}


@dataclass(slots=True)
class Request:
    method: str
    path: str  # as sent, without the query string
    query: str
    headers: dict[str, str]  # lower-case names; the first value of a repeated header
    body: bytes


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    # RestServer sets no Content-Type (§1.4 notes): JSON and plain-text bodies look alike on the wire.
    content_type: str | None = None


class RestError(Exception):
    """A synchronous plain-text answer (RestServer's RestException and its catch-all)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


# One encoder for the process: json.dumps with non-default options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_text(value: Any) -> str:
    """JSON as Gson writes it here: compact, UTF-8 characters unescaped."""
    return _ENCODER.encode(value)


def json_bytes(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def text(status: int, text: str) -> Response:
    return Response(status, text.encode())


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """JSONObjectUtil.toObject(body, LinkedHashMap.class): None for an empty body or `null`; a duplicate
    key is Gson's error, not Python's last-one-wins."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
        # The duplicate-key hook is slow; it is only needed when the body has more keys than the result.
        if _KEY_RE.subn("", text)[1] != _count_keys(value):
            value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise RestError(
            500,
            "com.google.gson.JsonSyntaxException: com.google.gson.stream.MalformedJsonException: "
            f"{exc.msg} at line {exc.lineno} column {exc.colno} path $",
        ) from None
    if value is None:
        return None
    if not isinstance(value, dict):
        token = _GSON_TOKENS.get(type(value), "NUMBER")
        raise RestError(
            500,
            "com.google.gson.JsonSyntaxException: java.lang.IllegalStateException: "
            f"Expected BEGIN_OBJECT but was {token} at line 1 column 2 path $",
        )
    return value


_KEY_RE = re.compile(r'"\s*:')  # an upper bound on the keys in a JSON text (strings may contain it too)


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value)
    return 0


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RestError(500, f"com.google.gson.JsonSyntaxException: duplicate key: {key}")
        out[key] = value
    return out


def session_id(req: Request) -> str:
    """RestServer.handleApi's Authorization check (§1.3); the OAuth backend itself never rejects."""
    auth = req.headers.get("authorization")
    if auth is None:
        raise RestError(400, "missing header 'Authorization'")
    auth = model.java_trim(auth)
    if not auth.startswith("OAuth"):
        raise RestError(400, "Authorization type must be 'OAuth'")
    return model.java_trim(auth.replace("OAuth", "", 1))


def action_params(parameter: Any, shape: dict[str, str]) -> dict[str, Any]:
    """Gson's rehash of the action map into the message class: unknown keys are ignored, a value of the
    wrong JSON kind is a 500 with Gson's message (§1.4)."""
    if parameter is None:
        return {}
    if not isinstance(parameter, dict):
        java = _JAVA_TYPES.get(type(parameter), "java.lang.Double")
        raise RestError(500, f"{java} cannot be cast to java.util.Map")
    params: dict[str, Any] = {}
    for name, kind in shape.items():
        value = parameter.get(name)
        if value is None:
            continue
        if kind == "string":
            text = model.gson_string(value)
            if text is None:
                token = _GSON_TOKENS[type(value)]
                raise RestError(
                    500,
                    "com.google.gson.JsonSyntaxException: java.lang.IllegalStateException: "
                    f"Expected a string but was {token} at line 1 column 2 path $.{name}",
                )
            params[name] = text
        elif kind == "list":
            if not isinstance(value, list):
                raise RestError(
                    500,
                    f"com.google.gson.JsonSyntaxException: Expected BEGIN_ARRAY but was "
                    f"{_GSON_TOKENS.get(type(value), 'NUMBER')} path $.{name}",
                )
            params[name] = [model.gson_string(v) for v in value]
        elif kind == "bool":
            params[name] = value if isinstance(value, bool) else str(value).lower() == "true"
    for tags in ("systemTags", "userTags"):
        if parameter.get(tags) is not None and not isinstance(parameter[tags], list):
            raise RestError(
                500,
                f"com.google.gson.JsonSyntaxException: Expected BEGIN_ARRAY but was "
                f"{_GSON_TOKENS.get(type(parameter[tags]), 'NUMBER')} path $.{tags}",
            )
    return params


def top_level_tags(body: dict[str, Any]) -> None:
    for tags in ("systemTags", "userTags"):
        value = body.get(tags)
        if value is not None and not isinstance(value, list):
            java = _JAVA_TYPES.get(type(value), "java.lang.Double")
            if isinstance(value, dict):
                java = "com.google.gson.internal.LinkedTreeMap"
            raise RestError(500, f"{java} cannot be cast to java.util.List")
