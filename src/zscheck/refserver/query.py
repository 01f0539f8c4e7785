"""ZStack's query API language as the REST layer reads it: `q=` conditions, paging, sort, fields (§5.1)."""

from __future__ import annotations

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


def _like_segments(pattern: str) -> list[list[str | None]]:
    """MySQL's LIKE pattern as the runs between `%`: each a list of folded characters, None for `_`.
    `\\` escapes the next character (MySQL's default ESCAPE); a trailing one stands for itself."""
    segments: list[list[str | None]] = [[]]
    chars = iter(pattern)
    for c in chars:
        if c == "%":
            segments.append([])
        elif c == "_":
            segments[-1].append(None)
        elif c == "\\":
            segments[-1].append(collate(next(chars, "\\")))
        else:
            segments[-1].append(collate(c))
    return segments


def _fits(value: list[str], at: int, segment: list[str | None]) -> bool:
    return all(want is None or want == value[at + k] for k, want in enumerate(segment))


def like(value: str, pattern: str) -> bool:
    """`value LIKE pattern` under utf8_general_ci (case does not count, §10), in O(len(value) × len(pattern)).

    A regex with one `.*` per `%` backtracks exponentially (`q=name~=%%%…%x` froze the server); here each
    run between two `%` is matched at its leftmost place after the previous one, which is enough: a later
    place can never leave more room for the runs that follow."""
    segments = _like_segments(pattern)
    folded = [collate(c) for c in value]
    first, last = segments[0], segments[-1]
    if len(segments) == 1:
        return len(first) == len(folded) and _fits(folded, 0, first)
    if len(first) + len(last) > len(folded) or not _fits(folded, 0, first):
        return False
    end = len(folded) - len(last)  # the last run is anchored at the end
    if not _fits(folded, end, last):
        return False
    at = len(first)
    for segment in segments[1:-1]:
        if not segment:
            continue
        while at + len(segment) <= end and not _fits(folded, at, segment):
            at += 1
        if at + len(segment) > end:
            return False
        at += len(segment)
    return True


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
        return like(actual, wanted)
    if op == "!~=":
        return not like(actual, wanted)
    left: Any = actual
    right: Any = wanted
    if isinstance(field_value, int | float) and not isinstance(field_value, bool):
        try:
            left, right = float(field_value), float(wanted)
        except ValueError:
            return False
    return bool({">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op])
