"""Is this answer to a ChangeImageState request right? One judge for contract suites and load alike.

`judge(probe, result)` runs every check that applies and returns the violations; an empty list means
the answer is correct. Checks are small functions, each named for the class of fault it catches, so a
report groups failures by what went wrong rather than by which request hit it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from zscheck._models import ApiResult, Exchange, Outcome
from zscheck._wire import JOB_PATH, Dialect
from zscheck.checks.expectations import ProtocolRule
from zscheck.checks.violations import Expected, Violation, short

STATE_OF_EVENT = {"enable": "Enabled", "disable": "Disabled"}
IMAGE_STATES = ("Enabled", "Disabled")
IMAGE_STATUSES = ("Creating", "Downloading", "Ready", "Error", "Deleted", "Migrating")
MEDIA_TYPES = ("RootVolumeTemplate", "DataVolumeTemplate", "ISO")
PLATFORMS = ("Linux", "Windows", "WindowsVirtio", "Other", "Paravirtualization")
ARCHITECTURES = ("x86_64", "aarch64", "mips64el", "loongarch64")
ERROR_CODE_RE = re.compile(r"^[A-Z]+\.\d+$")

# ImageInventory (§1.6): the JSON kind of each field; `ts` is ZStack's timestamp string.
INVENTORY_FIELDS: dict[str, str] = {
    "uuid": "str",
    "name": "str",
    "description": "str",
    "state": "state",
    "status": "status",
    "size": "int",
    "actualSize": "int",
    "md5Sum": "str",
    "url": "str",
    "mediaType": "mediaType",
    "guestOsType": "str",
    "type": "str",
    "platform": "platform",
    "architecture": "architecture",
    "format": "str",
    "system": "bool",
    "virtio": "bool",
    "createDate": "ts",
    "lastOpDate": "ts",
    "backupStorageRefs": "refs",
}
# Never null for an image, so a rest answer (nulls omitted) always carries them.
INVENTORY_REQUIRED = ("uuid", "name", "state", "status", "mediaType", "createDate", "lastOpDate", "backupStorageRefs")
REF_FIELDS: dict[str, str] = {
    "id": "int",
    "imageUuid": "str",
    "backupStorageUuid": "str",
    "installPath": "str",
    "status": "str",
    "exportMd5Sum": "str",
    "exportUrl": "str",
    "createDate": "ts",
    "lastOpDate": "ts",
}
REF_REQUIRED = ("imageUuid", "backupStorageUuid", "status")
# The published page lists these (ref `id` is hidden there).
DOCUMENTED_INVENTORY = tuple(INVENTORY_FIELDS)
DOCUMENTED_REF = tuple(f for f in REF_FIELDS if f != "id")
DOCUMENTED_ERROR = ("code", "description", "details", "elaboration", "opaque", "cause")


@dataclass(frozen=True, slots=True)
class Probe:
    """What the harness asked, and what a correct server must answer to it."""

    dialect: Dialect
    image_uuid: str
    event: Any
    expected: Expected
    job_uuid: str | None = None

    @property
    def target_state(self) -> str | None:
        event = self.event.strip() if isinstance(self.event, str) else None
        return STATE_OF_EVENT.get(event) if event is not None else None


def parse_zstack_time(value: Any) -> datetime | None:
    """`Oct 28, 2025 2:09:26 PM` (Java 8), also `Oct 28, 2025, 2:09:26 PM` (Java 9+); None if neither."""
    if not isinstance(value, str):
        return None
    return _parse_time(value)


@lru_cache(maxsize=4096)  # under load the same few timestamps come back thousands of times a second
def _parse_time(value: str) -> datetime | None:
    text = re.sub(r"^([A-Z][a-z]{2} \d{1,2}, \d{4}),", r"\1", value).replace("\u202f", " ")
    try:
        return datetime.strptime(text, "%b %d, %Y %I:%M:%S %p")
    except ValueError:
        return None


def judge(probe: Probe, result: ApiResult) -> list[Violation]:
    return list(_judge(probe, result))


def _judge(probe: Probe, result: ApiResult) -> Iterator[Violation]:
    first, final = result.exchanges[0], result.final
    if result.outcome is Outcome.TRANSPORT_ERROR:
        yield Violation(
            "transport", f"no usable HTTP answer: {final.error}", "an HTTP answer", final.error or "nothing", final
        )
        return
    expected = probe.expected
    if result.outcome is Outcome.TIMEOUT:
        yield Violation(
            "job_completes",
            "the api-job was still processing at the polling deadline",
            "a final answer (200 or 503)",
            f"{len(result.exchanges) - 1} polls answered 202",
            final,
        )
        return
    if expected.stage == "sync":
        yield from _status(first, expected.status, "answer to the request")
        if first.status == 202 and probe.dialect == "documented":
            yield Violation(
                "status_code",
                "the documented dialect is synchronous, but the answer was 202 + job",
                "200",
                "202",
                first,
            )
        if expected.body == "text":
            yield from _plain_text(first, expected)
            return
    else:
        if first.status != 202:
            yield Violation(
                "status_code",
                "ChangeImageState is asynchronous: the request must be accepted",
                "202",
                f"{first.status} {short(first.body, 80)}",
                first,
            )
            return
        yield from _accepted(first, probe)
        for poll in result.exchanges[1:-1]:
            yield from _pending(poll)
        yield from _status(final, expected.status, "api-job's final answer")
    body = final.json
    if not isinstance(body, dict):
        yield Violation("envelope", "the final answer is not a JSON object", "a JSON object", short(final.body), final)
        return
    if probe.dialect == "documented":
        yield from _documented_envelope(body, final)
    else:
        yield from _rest_envelope(body, final)
    if probe.dialect == "rest" and expected.stage == "job" and final.status == 200:
        yield from _schema_presence(body, final)
    error, inventory = body.get("error"), body.get("inventory")
    if isinstance(error, dict):
        yield from _error_shape(error, final, probe.dialect, expected.descriptions)
    yield from _outcome(expected, error, inventory, final)
    if isinstance(inventory, dict):
        yield from _check_inventory_once(inventory, final, documented=probe.dialect == "documented")
        if inventory.get("uuid") != probe.image_uuid:
            yield Violation(
                "inventory_identity",
                "the inventory is not the image in the path",
                probe.image_uuid,
                short(inventory.get("uuid")),
                final,
            )
        target = probe.target_state
        expects_success = expected.body in ("inventory", "envelope") and expected.code is None
        if expects_success and target is not None and inventory.get("state") != target:
            yield Violation(
                "state_matches_event",
                f"after {probe.event!r} the image must be {target}",
                target,
                short(inventory.get("state")),
                final,
            )


def _status(exchange: Exchange, status: int, what: str) -> Iterator[Violation]:
    if exchange.status != status:
        yield Violation(
            "status_code",
            f"wrong HTTP status for the {what}",
            str(status),
            f"{exchange.status} {short(exchange.body, 80)}",
            exchange,
        )


def _plain_text(exchange: Exchange, expected: Expected) -> Iterator[Violation]:
    """ZStack's transport-level errors are plain strings, not {"error": ...} (§1.4)."""
    body = exchange.body.decode("utf-8", errors="replace")
    if isinstance(exchange.json, dict) and ("error" in exchange.json or "success" in exchange.json):
        yield Violation(
            "plain_text",
            "a transport-level rejection must be plain text, not an API envelope",
            f"text {expected.text!r}" if expected.text else "plain text",
            short(body),
            exchange,
        )
    elif expected.text is not None and not body.startswith(expected.text):
        yield Violation(
            "plain_text", f"wrong rejection message (rule {expected.rule})", repr(expected.text), short(body), exchange
        )


def _accepted(exchange: Exchange, probe: Probe) -> Iterator[Violation]:
    body = exchange.json
    location = body.get("location") if isinstance(body, dict) else None
    if not isinstance(location, str) or JOB_PATH not in location:
        yield Violation(
            "accepted_body",
            "a 202 must name its api-job in `location`",
            '{"location": ".../zstack/v1/api-jobs/<job>", "apiTimeout": ms}',
            short(exchange.body),
            exchange,
        )
        return
    job = location.rsplit("/", 1)[-1]
    if probe.job_uuid is not None and job != probe.job_uuid:
        yield Violation(
            "accepted_body", "the job uuid must be the X-Job-UUID the client sent", probe.job_uuid, job, exchange
        )
    timeout = body.get("apiTimeout") if isinstance(body, dict) else None
    # ZStack has reported apiTimeout in every 202 since 2021-03 (§1.2): a missing one is a fault too.
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        yield Violation(
            "accepted_body",
            "apiTimeout must be a positive number of milliseconds",
            "a positive integer",
            short(timeout),
            exchange,
        )


def _pending(exchange: Exchange) -> Iterator[Violation]:
    if exchange.body not in (b"{}", b""):
        yield Violation(
            "pending_body",
            "a job still processing answers 202 with an empty object",
            "{}",
            short(exchange.body),
            exchange,
        )


def _rest_envelope(body: dict[str, Any], exchange: Exchange) -> Iterator[Violation]:
    if "success" in body:
        yield Violation(
            "envelope",
            "REST answers carry no `success` field (only the legacy RPC API does)",
            "no success",
            short(body.get("success")),
            exchange,
        )
    has_error, has_inventory = body.get("error") is not None, body.get("inventory") is not None
    if has_error == has_inventory:
        yield Violation(
            "envelope",
            "a final answer carries exactly one of `inventory` and `error`",
            "exactly one",
            f"keys {sorted(body)}",
            exchange,
        )
    for key in ("error", "inventory"):
        if key in body and body[key] is None:
            yield Violation("envelope", f"`{key}` sent as null: ZStack omits null fields", "absent", "null", exchange)
    if "error" in body and exchange.status == 200:
        yield Violation("envelope", "a 200 must not carry an error", "no error", short(body["error"]), exchange)
    if "inventory" in body and exchange.status == 503:
        yield Violation("envelope", "a 503 must not carry an inventory", "no inventory", "inventory", exchange)


def _documented_envelope(body: dict[str, Any], exchange: Exchange) -> Iterator[Violation]:
    missing = [key for key in ("success", "error", "inventory") if key not in body]
    if missing:
        yield Violation(
            "envelope",
            "the published page's envelope has success, error and inventory",
            "all three",
            f"missing {missing}",
            exchange,
        )
    success = body.get("success")
    if not isinstance(success, bool):
        yield Violation("envelope", "`success` must be a boolean", "true/false", short(success), exchange)
        return
    if success != (body.get("error") is None):
        yield Violation(
            "envelope",
            "`success` must be true exactly when `error` is null",
            f"error {'null' if success else 'set'}",
            f"success={success}, error={short(body.get('error'))}",
            exchange,
        )
    if success and not isinstance(body.get("inventory"), dict):
        yield Violation(
            "envelope", "a success carries the inventory", "an inventory", short(body.get("inventory")), exchange
        )
    if not success and body.get("inventory") is not None:
        yield Violation("envelope", "a failure carries no inventory", "null", "an inventory", exchange)


def _schema_presence(body: dict[str, Any], exchange: Exchange) -> Iterator[Violation]:
    """RestServer.writeResponse adds `schema` to a job's result exactly when the poll sent X-JSON-Schema
    (any value; §1.5, §10), `{}` for a result without an inventory. The Java SDK needs it to read the result."""
    asked = any(name.lower() == "x-json-schema" for name in exchange.request.headers)
    schema = body.get("schema")
    if asked and not isinstance(schema, dict):
        yield Violation(
            "schema_presence",
            "a job result polled with X-JSON-Schema carries a `schema` object",
            '"schema": {...}',
            "absent" if "schema" not in body else short(schema),
            exchange,
        )
    elif not asked and "schema" in body:
        yield Violation(
            "schema_presence",
            "a job result polled without X-JSON-Schema carries no `schema`",
            "no schema",
            short(schema, 80),
            exchange,
        )


def _error_shape(
    error: dict[str, Any], exchange: Exchange, dialect: Dialect, descriptions: Mapping[str, str] | None = None
) -> Iterator[Violation]:
    code = error.get("code")
    canonical = descriptions.get(code) if descriptions is not None and isinstance(code, str) else None
    if canonical is not None and isinstance(error.get("description"), str) and error["description"] != canonical:
        yield Violation(
            "error_code_shape",
            f"ZStack takes an ErrorCode's description from its code's table entry ({code})",
            repr(canonical),
            short(error["description"]),
            exchange,
        )
    if not isinstance(code, str) or not ERROR_CODE_RE.match(code):
        yield Violation(
            "error_code_shape",
            "ErrorCode.code must look like SYS.1007 or ID.1001",
            r"^[A-Z]+\.\d+$",
            short(code),
            exchange,
        )
    for key in ("description", "details"):
        if not isinstance(error.get(key), str) or not error.get(key):
            yield Violation(
                "error_code_shape",
                f"ErrorCode.{key} must be a non-empty string",
                "a string",
                short(error.get(key)),
                exchange,
            )
    if dialect == "documented":
        missing = [k for k in DOCUMENTED_ERROR if k not in error]
        if missing:
            yield Violation(
                "error_code_shape",
                "the page's ErrorCode lists these fields",
                str(DOCUMENTED_ERROR),
                f"missing {missing}",
                exchange,
            )
    elif any(value is None for value in error.values()):
        yield Violation("error_code_shape", "ZStack omits null ErrorCode fields", "no nulls", short(error), exchange)


def _outcome(expected: Expected, error: Any, inventory: Any, exchange: Exchange) -> Iterator[Violation]:
    code = error.get("code") if isinstance(error, dict) else None
    if expected.code is not None:
        if code != expected.code:
            yield Violation(
                "error_code",
                f"wrong outcome (rule {expected.rule})",
                expected.code,
                short(code) if code else f"no error ({'inventory' if inventory else 'empty'})",
                exchange,
            )
    elif error is not None:
        yield Violation("error_code", f"expected success (rule {expected.rule})", "no error", short(code), exchange)


_WELL_FORMED: dict[tuple[bytes, bool], None] = {}  # final answers whose inventory passed, most recent last
_WELL_FORMED_MAX = 4096


def _check_inventory_once(inventory: dict[str, Any], exchange: Exchange, *, documented: bool) -> Iterator[Violation]:
    """check_inventory, skipped for a byte-identical answer that already passed. Under load the same job
    result (same image, state and lastOpDate second) comes back many times a second, and checking each
    inventory field is the largest part of judging an answer (see bench/load_efficiency.py)."""
    key = (exchange.body, documented)
    if key in _WELL_FORMED:
        return
    violations = list(check_inventory(inventory, exchange, documented=documented))
    if violations:
        yield from violations
        return
    if len(_WELL_FORMED) >= _WELL_FORMED_MAX:
        del _WELL_FORMED[next(iter(_WELL_FORMED))]
    _WELL_FORMED[key] = None


def check_inventory(inventory: dict[str, Any], exchange: Exchange | None, *, documented: bool) -> Iterator[Violation]:
    """An ImageInventory is complete and well-typed; shared with the state model and the load scenarios."""

    def bad(message: str, expected: str, actual: Any) -> Violation:
        return Violation("inventory_schema", message, expected, short(actual), exchange)

    required = DOCUMENTED_INVENTORY if documented else INVENTORY_REQUIRED
    for name in required:
        if name not in inventory:
            yield bad(f"ImageInventory.{name} is missing", "present", "absent")
    for name, kind in INVENTORY_FIELDS.items():
        if name not in inventory:
            continue
        value = inventory[name]
        if value is None:
            if not documented:
                yield bad(f"ImageInventory.{name} sent as null: ZStack omits null fields", "absent", None)
            elif name in INVENTORY_REQUIRED:
                yield bad(f"ImageInventory.{name} is never null", kind, None)
            continue
        test, want = _KINDS[kind]
        if not test(value):
            yield bad(f"ImageInventory.{name}: not {want}", want, value)
        if kind == "refs" and isinstance(value, list):
            for i, ref in enumerate(value):
                yield from (
                    Violation(
                        "inventory_schema", f"backupStorageRefs[{i}]: {v.message}", v.expected, v.actual, exchange
                    )
                    for v in _check_ref(ref, inventory.get("uuid"), documented)
                )


def _check_ref(ref: Any, image_uuid: Any, documented: bool) -> Iterator[Violation]:
    if not isinstance(ref, dict):
        yield Violation("inventory_schema", "not an object", "an object", short(ref))
        return
    for name in DOCUMENTED_REF if documented else REF_REQUIRED:
        if name not in ref:
            yield Violation("inventory_schema", f"{name} is missing", "present", "absent")
    for name, kind in REF_FIELDS.items():
        if ref.get(name) is None:
            if name in ref and not documented:
                yield Violation("inventory_schema", f"{name} sent as null", "absent", "null")
            continue
        for message, want in _kind(kind, ref[name]):
            yield Violation("inventory_schema", f"{name}: {message}", want, short(ref[name]))
    if ref.get("imageUuid") is not None and ref.get("imageUuid") != image_uuid:
        yield Violation(
            "inventory_schema", "imageUuid is not the image's uuid", short(image_uuid), short(ref.get("imageUuid"))
        )


def _enum(values: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: v in values


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative integer"),
    "bool": (lambda v: isinstance(v, bool), "a boolean"),
    "ts": (lambda v: parse_zstack_time(v) is not None, "a ZStack timestamp like 'Oct 28, 2025 2:09:26 PM'"),
    "refs": (lambda v: isinstance(v, list), "a list"),
    "state": (_enum(IMAGE_STATES), f"one of {IMAGE_STATES}"),
    "status": (_enum(IMAGE_STATUSES), f"one of {IMAGE_STATUSES}"),
    "mediaType": (_enum(MEDIA_TYPES), f"one of {MEDIA_TYPES}"),
    "platform": (_enum(PLATFORMS), f"one of {PLATFORMS}"),
    "architecture": (_enum(ARCHITECTURES), f"one of {ARCHITECTURES}"),
}


def _kind(kind: str, value: Any) -> Iterator[tuple[str, str]]:
    test, want = _KINDS[kind]
    if not test(value):
        yield f"not {want}", want


def judge_read(exchange: Exchange, image_uuid: str, *, documented: bool = False) -> list[Violation]:
    """`GET /images/{uuid}` of an existing image: 200 with exactly that image's inventory, well formed."""
    if exchange.error is not None:
        return [Violation("transport", f"no usable HTTP answer: {exchange.error}", "an HTTP answer", exchange.error)]
    body = exchange.json
    inventories = body.get("inventories") if isinstance(body, dict) else None
    if exchange.status != 200 or not isinstance(inventories, list):
        return [
            Violation(
                "read_answer",
                "a query of an existing image answers 200 {inventories: [...]}",
                "200 with inventories",
                f"{exchange.status} {short(exchange.body, 80)}",
                exchange,
            )
        ]
    if len(inventories) != 1 or not isinstance(inventories[0], dict) or inventories[0].get("uuid") != image_uuid:
        return [
            Violation(
                "read_answer",
                "a query by uuid answers exactly that image",
                f"[{image_uuid}]",
                short([i.get("uuid") if isinstance(i, dict) else i for i in inventories]),
                exchange,
            )
        ]
    return list(check_inventory(inventories[0], exchange, documented=documented))


def judge_protocol(rule: ProtocolRule, exchange: Exchange) -> list[Violation]:
    """A synchronous plain-text answer to protocol misuse (a reused or malformed X-Job-UUID, a poll of an
    unknown job, another method on the job or actions path): the status and the start of the text."""
    if exchange.error is not None:
        return [Violation("transport", f"no usable HTTP answer: {exchange.error}", "an HTTP answer", exchange.error)]
    if exchange.status != rule.status:
        return [
            Violation(
                rule.check,
                f"wrong answer to {rule.name}: {rule.description}",
                f"{rule.status} {rule.text or ''}".strip(),
                f"{exchange.status} {short(exchange.body, 80)}",
                exchange,
            )
        ]
    body = exchange.body.decode("utf-8", errors="replace")
    if rule.text is not None and not body.startswith(rule.text):
        return [Violation(rule.check, f"wrong message for {rule.name}", repr(rule.text), short(body), exchange)]
    return []


def judge_call(result: ApiResult, what: str) -> list[Violation]:
    """Any api-job call the harness makes for itself (AddImage, CreateAccount, DeleteImage...): whatever it
    was refused for, the answer must keep the protocol. A 202 names a job that polls; a job ends 200 or
    503 with a JSON envelope; a 503 carries an ErrorCode. A refusal with a proper ErrorCode is the
    target's right (no backup storage, a name taken) and no violation; a transport failure neither (it is
    "could not run")."""
    first, final = result.exchanges[0], result.final
    if result.outcome is Outcome.TRANSPORT_ERROR:
        return []
    out: list[Violation] = []
    if first.status == 202:
        body = first.json
        location = body.get("location") if isinstance(body, dict) else None
        if not isinstance(location, str) or JOB_PATH not in location:
            return [Violation("accepted_body", f"{what}: a 202 must name its api-job", "location", short(first.body))]
        for poll in result.exchanges[1:-1]:
            out += _pending(poll)
        if result.outcome is Outcome.TIMEOUT:
            return [*out, Violation("job_completes", f"{what}: the api-job never finished", "200 or 503", "202")]
        if len(result.exchanges) > 1 and final.status == 404:
            return [
                *out,
                Violation(
                    "job_protocol",
                    f"{what}: the api-job the 202 named does not poll",
                    "202, 200 or 503",
                    f"404 {short(final.body, 80)}",
                    final,
                ),
            ]
        if final.status not in (200, 503):
            return [
                *out,
                Violation("status_code", f"{what}: an api-job ends 200 or 503", "200/503", str(final.status), final),
            ]
    body = final.json
    if final.status in (200, 503) and not isinstance(body, dict):
        return [
            *out,
            Violation(
                "envelope", f"{what}: the answer is not a JSON object", "a JSON object", short(final.body), final
            ),
        ]
    if final.status == 503 and isinstance(body, dict):
        error = body.get("error")
        if not isinstance(error, dict):
            out.append(
                Violation(
                    "envelope", f"{what}: a 503 carries an ErrorCode", '{"error": {...}}', short(final.body), final
                )
            )
        else:
            out += _error_shape(error, final, "rest")
    return out
