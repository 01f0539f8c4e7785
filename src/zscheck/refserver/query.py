"""ZStack's query API language as the REST layer reads it: `q=` conditions, paging, sort, fields (§5.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from zscheck.refserver import model
from zscheck.refserver.rest import RestError

# RestServer.QUERY_OP_MAPPING: an operator contained in another must come after it.
_QUERY_OPS = ("!=", ">=", "<=", "!?=", "!~=", "~=", "?=", "=", ">", "<", "is null", "not null")


@dataclass
class QuerySpec:
    conditions: list[tuple[str, str, str | None]] = field(default_factory=list)
    limit: int = 1000
    start: int = 0
    count: bool = False
    reply_with_count: bool = False
    sort_by: str | None = None
    descending: bool = False
    fields: list[str] = field(default_factory=list)


def _java_int(name: str, value: str) -> int:
    text = value[1:] if value[:1] in "+-" else value
    if not text.isdigit() or not text.isascii() or not -(2**31) <= int(value) < 2**31:
        raise RestError(400, f"Invalid query parameter. '{name}' must be an integer")
    return int(value)


def parse_query(query: str, image_uuid: str | None) -> QuerySpec:
    """RestServer.handleQueryApi (§5.1): unknown parameters are ignored, as on the real server."""
    spec = QuerySpec()
    if image_uuid is not None:
        spec.conditions.append(("uuid", "=", image_uuid))
        return spec
    for raw_name, values in parse_qs(query, keep_blank_values=True).items():
        name, value = raw_name.strip(), values[0].strip()
        if name == "limit":
            spec.limit = _java_int("limit", value)
        elif name == "start":
            spec.start = _java_int("start", value)
        elif name == "count":
            spec.count = value.lower() == "true"
        elif name == "replyWithCount":
            spec.reply_with_count = value.lower() == "true"
        elif name == "sort":
            spec.descending = value.startswith("-")
            spec.sort_by = value.lstrip("+-")
        elif name == "fields":
            spec.fields = [f.strip() for f in value.split(",")]
        elif "q".startswith(name):
            for cond in values:
                spec.conditions.append(_parse_condition(cond))
    spec.start = max(spec.start, 0)
    spec.limit = max(spec.limit, 0)
    return spec


def _parse_condition(cond: str) -> tuple[str, str, str | None]:
    op = next((o for o in _QUERY_OPS if o in cond), None)
    if op is None:
        raise RestError(
            400,
            f"Invalid query parameter. The '{cond}' in the parameter[q] doesn't contain any "
            f"query operator. Valid query operators are [{', '.join(_QUERY_OPS)}]",
        )
    name, sep, value = cond.partition(op)
    if op in ("is null", "not null"):
        return name.strip(), op, None
    if not sep or not value:
        raise RestError(
            400, f"Invalid query parameter. The '{cond}' in parameter[q] is not a key-value pair split by {op}"
        )
    return name.strip(), op, value


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | re.IGNORECASE) is not None


def collate(value: str) -> str:
    """utf8_general_ci, the collation of ZStack's tables on a stock install: case does not count (§10)."""
    return value.casefold()


def matches(field_value: Any, op: str, wanted: str | None) -> bool:
    actual = model.query_value(field_value)
    if actual is not None and wanted is not None and op in ("=", "!=", "?=", "!?="):
        actual, wanted = collate(actual), collate(wanted)
    if op == "is null":
        return actual is None
    if op == "not null":
        return actual is not None
    if actual is None or wanted is None:
        return False
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    if op == "?=":
        return actual in wanted.split(",")
    if op == "!?=":
        return actual not in wanted.split(",")
    if op == "~=":
        return _like(actual, wanted)
    if op == "!~=":
        return not _like(actual, wanted)
    left: Any = actual
    right: Any = wanted
    if isinstance(field_value, int | float) and not isinstance(field_value, bool):
        try:
            left, right = float(field_value), float(wanted)
        except ValueError:
            return False
    return bool({">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op])
