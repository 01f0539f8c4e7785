"""Answers that must agree with each other: what a write echoes and what a query shows right after it,
what the harness sent and what the target stored, and who may see which images.

ZStack's image APIs reply with `getSelfInventory()` after their write (facts §10), so the inventory a
change, update or recover echoes is the image as stored: every field, references included. A server that
echoes a cached or stale copy, or drops fields from it, hands its clients (the Java SDK reads that
inventory) an image that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from zscheck._models import Exchange
from zscheck.checks.response import parse_zstack_time
from zscheck.checks.violations import Violation, short

# Timestamps may be read back from the database with their fraction rounded (MySQL rounds on insert),
# so an echo and a query may show one second apart; any larger gap is a different write.
TIMESTAMP_FIELDS = frozenset({"createDate", "lastOpDate"})


def check_echo_matches_query(
    action: str,
    echoed: dict[str, Any],
    queried: dict[str, Any] | None,
    exchange: Exchange | None = None,
    *,
    documented: bool = False,
) -> Iterator[Violation]:
    """The inventory a write answered with equals the image a query returns right after it. In the
    documented dialect the answer lists every field (null included) and hides the references' `id`, while
    the query is ZStack's own: those two differences are the page's, not the server's."""
    if documented:
        echoed = _without_ref_ids(_as_queried(echoed))
        queried = None if queried is None else _without_ref_ids(queried)
    if queried is None:
        yield Violation(
            "echo_matches_query", f"{action} answered an image that a query then does not find", "the image",
            "no image", exchange,
        )  # fmt: skip
        return
    differences = list(_differences(echoed, queried, ""))
    if differences:
        yield Violation(
            "echo_matches_query",
            f"the inventory {action} answered is not the image a query shows right after",
            "the same image, every field",
            "; ".join(differences[:4]) + (f" (+{len(differences) - 4} more)" if len(differences) > 4 else ""),
            exchange,
        )


def _without_ref_ids(image: dict[str, Any]) -> dict[str, Any]:
    refs = image.get("backupStorageRefs")
    if not isinstance(refs, list):
        return image
    return {
        **image,
        "backupStorageRefs": [{k: v for k, v in r.items() if k != "id"} if isinstance(r, dict) else r for r in refs],
    }


def _as_queried(value: Any) -> Any:
    """A documented answer without its null fields (ZStack omits them)."""
    if isinstance(value, dict):
        return {k: _as_queried(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_as_queried(v) for v in value]
    return value


def _differences(echoed: Any, queried: Any, path: str) -> Iterator[str]:
    if isinstance(echoed, dict) and isinstance(queried, dict):
        for key in sorted(set(echoed) | set(queried)):
            where = f"{path}.{key}" if path else key
            if key not in echoed:
                yield f"{where}: absent in the answer, {short(queried[key], 40)} in the query"
            elif key not in queried:
                yield f"{where}: {short(echoed[key], 40)} in the answer, absent in the query"
            elif key in TIMESTAMP_FIELDS and _within_a_second(echoed[key], queried[key]):
                continue
            else:
                yield from _differences(echoed[key], queried[key], where)
    elif isinstance(echoed, list) and isinstance(queried, list) and len(echoed) == len(queried):
        for i, (a, b) in enumerate(zip(echoed, queried, strict=True)):
            yield from _differences(a, b, f"{path}[{i}]")
    elif echoed != queried or type(echoed) is not type(queried):
        yield f"{path}: {short(echoed, 40)} in the answer, {short(queried, 40)} in the query"


def _within_a_second(a: Any, b: Any) -> bool:
    first, second = parse_zstack_time(a), parse_zstack_time(b)
    if first is None or second is None:
        return bool(a == b)
    return abs((first - second).total_seconds()) <= 1


def check_strings_round_trip(
    sent: dict[str, str], inventory: dict[str, Any] | None, where: str, exchange: Exchange | None = None
) -> Iterator[Violation]:
    """Names and descriptions come back exactly as sent: ZStack's users name images in Chinese as well as
    ASCII, and a server that mangles characters on the way in or out loses their names."""
    if inventory is None:
        return
    for name, value in sent.items():
        if inventory.get(name) != value:
            yield Violation(
                "strings_round_trip",
                f"the image's {name} in {where} is not the text that was sent",
                short(value),
                short(inventory.get(name)),
                exchange,
            )


def check_query_visibility(
    account: str,
    listed: Iterable[dict[str, Any]],
    own: Iterable[str],
    others: Iterable[str],
    exchange: Exchange | None = None,
) -> Iterator[Violation]:
    """A normal account's query lists its own images and none of another account's (the admin sees all)."""
    seen = {image.get("uuid") for image in listed if isinstance(image, dict)}
    leaked = sorted(u for u in others if u in seen)
    if leaked:
        yield Violation(
            "query_visibility",
            f"a query by the normal account {account} lists images it does not own",
            "only its own images",
            f"{len(leaked)} of another account's: {', '.join(leaked[:3])}",
            exchange,
        )
    missing = sorted(u for u in own if u not in seen)
    if missing:
        yield Violation(
            "query_visibility",
            f"a query by the normal account {account} does not list images it owns",
            "its own images",
            f"missing {', '.join(missing[:3])}",
            exchange,
        )
