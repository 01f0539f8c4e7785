"""RestServer's synchronous layer: how an HTTP request is read before any API runs.

Body parsing (Gson's quirks included), the Authorization header, and the rehash of an action map into
message fields. Failures here are plain-text answers (`RestError`), never ErrorCodes (§1.4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias

from zscheck.refserver import lenient, model

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


# An answer that is no answer: the server closes the connection without writing (a load fault's).
DROP = Response(0)
# What the app gives the server: an answer, or (a delayed one) a coroutine that gives one later.
Answer: TypeAlias = Response | Coroutine[Any, Any, Response]


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
    key is Gson's error, not Python's last-one-wins. Gson reads leniently (single quotes, unquoted names
    and values, comments: §10): strict JSON takes the fast C parser, anything else the lenient one."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
        # The duplicate-key hook is slow; it is only needed when the body has more keys than the result.
        if _KEY_RE.subn("", text)[1] != _count_keys(value):
            value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError:
        try:
            value = lenient.parse(text)
        except lenient.LenientError as exc:
            raise RestError(500, str(exc)) from None
    except RecursionError:
        raise RestError(500, "java.lang.StackOverflowError") from None
    if "\\u" in text:  # only an escape can make a lone surrogate: the bytes were decoded with `replace`
        value = _java_strings(value)
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


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _java_strings(value: Any) -> Any:
    """Strings as they reach ZStack's database and its answers: a lone surrogate (`"\\ud800"`, which Gson
    reads into a Java String) becomes `?`, what Java's UTF-8 encoder (String.getBytes, JDBC, the servlet's
    writer) makes of it. Here SQLite would refuse it: replaced once at the door, so no write can fail."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("?", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {_java_strings(k): _java_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_java_strings(v) for v in value]
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


# Fields every message inherits (Message, NeedReplyMessage, APIMessage): read by the rehash like any other,
# so a value of the wrong kind inside the action map fails there too (§10). They are not "declared", so
# TypeVerifier does not look at them.
INHERITED: dict[str, str] = {
    "id": "string",
    "serviceId": "string",
    "timeout": "long",
    "createdTime": "long",
    "systemTags": "strings",
    "userTags": "strings",
}
_TAGS = ("systemTags", "userTags")


def action_params(parameter: Any, shape: dict[str, str]) -> dict[str, Any]:
    """The action map read into the message class, as RestServer does it (§1.4, §10):

    1. TypeVerifier over the declared fields (`shape`): a boolean or integer field whose value's
       toString() is not one is a 400 text;
    2. Gson's rehash (the map written as JSON, then read into the class): a value of the wrong JSON kind
       for its field, declared or inherited, is a 500 with Gson's message. Unknown keys are ignored.

    Kinds: string, strings (a List<String>), list (of strings, declared), bool, long. The result holds the
    values read, tags included when the map has them (None elements kept: the validator judges those)."""
    if parameter is None:
        return {}
    if not isinstance(parameter, dict):
        raise RestError(500, f"{model.java_class(parameter)} cannot be cast to java.util.Map")
    for name, kind in shape.items():
        value = parameter.get(name)
        if value is None:
            continue
        source = model.java_to_string(value)
        if kind == "bool" and source.lower() not in ("true", "false"):
            raise RestError(
                400,
                f"Invalid value for boolean field [{name}], [{source}] is not a valid boolean string[true, false].",
            )
        if kind == "long" and not _integral(source):
            raise RestError(400, f"[{name}] field is excepted an int or long, but was [{source}].")
    fields = {**INHERITED, **shape}
    params: dict[str, Any] = {}
    for index, (name, value) in enumerate(parameter.items()):
        field_kind = fields.get(name)
        if field_kind is None or value is None:
            continue
        kind = field_kind
        at = _Location(parameter, index)
        if kind == "string":
            params[name] = _read_string(value, at, f"$.{name}")
        elif kind in ("strings", "list"):
            if not isinstance(value, list):
                raise RestError(500, _unexpected("BEGIN_ARRAY", value, at, f"$.{name}"))
            params[name] = [
                None if v is None else _read_string(v, at.element(value, i), f"$.{name}[{i}]")
                for i, v in enumerate(value)
            ]
        elif kind == "bool":
            params[name] = value if isinstance(value, bool) else str(value).lower() == "true"
        elif kind == "long":
            params[name] = _read_long(value, at, f"$.{name}")
    return params


def _integral(source: str) -> bool:
    """TypeVerifier's integer test: Double.parseDouble(source) is a whole number."""
    try:
        number = float(source)
    except ValueError:
        return False
    return number == number and number == int(number) if abs(number) != float("inf") else True


class _Location:
    """Where a value sits in the JSON text Gson's rehash reads: the map written compactly, in order."""

    def __init__(self, parameter: dict[str, Any], index: int, within: tuple[list[Any], int] | None = None) -> None:
        self._parameter, self._index, self._within = parameter, index, within  # measured only on an error

    @property
    def start(self) -> int:
        items = list(self._parameter.items())
        before = ",".join(f"{json_text(k)}:{json_text(v)}" for k, v in items[: self._index])
        start = len("{" + before + ("," if before else "") + json_text(items[self._index][0]) + ":")
        if self._within is not None:
            elements, position = self._within
            preceding = ",".join(json_text(v) for v in elements[:position])
            start += 1 + len(preceding) + (1 if preceding else 0)
        return start

    def column(self, consumed: int = 1) -> int:
        """Gson's column once the token is peeked: a bracket or quote is consumed, a number is not."""
        return self.start + consumed + 1

    def element(self, items: list[Any], index: int) -> _Location:
        return _Location(self._parameter, self._index, (items, index))


def _token(value: Any) -> tuple[str, int]:
    """Gson's token for a value, and how many characters peeking it consumes."""
    if isinstance(value, bool):
        return "BOOLEAN", len("true" if value else "false")
    if isinstance(value, int | float):
        return "NUMBER", 0
    return _GSON_TOKENS[type(value)], 1


def _unexpected(expected: str, value: Any, at: _Location, path: str) -> str:
    token, consumed = _token(value)
    return (
        f"java.lang.IllegalStateException: Expected {expected} but was {token} at line 1 "
        f"column {at.column(consumed)} path {path}"
    )


def _read_string(value: Any, at: _Location, path: str) -> str:
    text = model.gson_string(value)
    if text is None:
        token, consumed = _token(value)
        raise RestError(
            500,
            f"java.lang.IllegalStateException: Expected a string but was {token} at line 1 "
            f"column {at.column(consumed)} path {path}",
        )
    return text


def _read_long(value: Any, at: _Location, path: str) -> int:
    """Gson's long adapter: a number or a numeric string; anything else fails as JsonReader.nextLong does."""
    if model.is_long(value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and model.LONG_MIN <= value <= model.LONG_MAX:
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            raise RestError(500, f'java.lang.NumberFormatException: For input string: "{value}"') from None
        if number.is_integer():
            return int(number)
    if isinstance(value, int | float | str):
        raise RestError(
            500,
            f"java.lang.NumberFormatException: Expected a long but was {model.gson_string(value)} at line 1 "
            f"column {at.column(0)} path {path}",
        )
    token, consumed = _token(value)
    raise RestError(
        500,
        f"java.lang.IllegalStateException: Expected a long but was {token} at line 1 "
        f"column {at.column(consumed)} path {path}",
    )


def top_level_tags(body: dict[str, Any]) -> None:
    """`msg.setSystemTags((List<String>) body.get("systemTags"))`: an unchecked cast, so only a value that
    is not a list fails (a ClassCastException, 500); `[{}]` passes (§10)."""
    for tags in _TAGS:
        value = body.get(tags)
        if value is not None and not isinstance(value, list):
            raise RestError(500, f"{model.java_class(value)} cannot be cast to java.util.List")


def tag_lists(body: dict[str, Any] | None, params: dict[str, Any] | None) -> dict[str, list[Any] | None]:
    """The tags the message ends up with: the top-level lists replace the action map's when present."""
    out: dict[str, list[Any] | None] = {}
    for tags in _TAGS:
        top = None if body is None else body.get(tags)
        out[tags] = top if isinstance(top, list) else (params or {}).get(tags)
    return out
