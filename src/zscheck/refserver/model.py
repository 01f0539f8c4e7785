"""ZStack's vocabulary as the reference server speaks it: error codes, timestamps, inventories.

Written from `../shared/zstack-api.md` independently of the harness's checks (the tests are only
meaningful if the oracle and the server do not share code).
"""

from __future__ import annotations

import decimal
import functools
import hashlib
import re
import time
from typing import Any

# conf/errorCodes/sys.xml and identity.xml: the description always comes from these tables.
DESCRIPTIONS: dict[str, str] = {
    "SYS.1000": "An internal error happened in system",
    "SYS.1001": "A message or a operation timeout",
    "SYS.1003": "A resource can not be found",
    "SYS.1006": "An operation failed",
    "SYS.1007": "One or more API argument is invalid",
    "SYS.1014": "The operation is not implemented or not supported yet",
    "ID.1000": "Unable to authenticate a user",
    "ID.1001": "The session is invalid, either wrong session id or the session has been expired",
    "ID.1002": "The user doesn't have permission to perform the operation",
    "ID.1003": "The user exceeds a quota of a resource",
    "ID.1006": "Max number of active sessions exceeded",
}

# ApiMessageParamValidator names itself in these messages (verbatim from the facts file, odd as it reads).
_VALIDATOR = "org.zstack.header.message.ApiMessageParamValidator"

IMAGE_INVENTORY_CLASS = "org.zstack.header.image.ImageInventory"
ACCOUNT_INVENTORY_CLASS = "org.zstack.header.identity.AccountInventory"
IMAGE_REF_CLASS = "org.zstack.header.image.ImageBackupStorageRefInventory"
SESSION_INVENTORY_CLASS = "org.zstack.header.identity.SessionInventory"

ADMIN_UUID = "36c27e8ff05c4780bf6d2fa65700f22e"  # AccountConstant.INITIAL_SYSTEM_ADMIN_UUID

STATE_EVENTS = {"enable": "Enabled", "disable": "Disabled"}
ACCOUNT_TYPES = ("SystemAdmin", "Normal")
VALIDATION_ONLY = "validationOnly"  # PortalSystemTags.VALIDATION_ONLY: an ephemeral tag
# System tags the reference server knows (TagManager accepts a tag when a registered pattern matches it).
# ZStack registers hundreds; these are the image ones a client plausibly sends, plus the ephemeral tag.
_SYSTEM_TAGS = (
    re.compile(r"validationOnly"),
    re.compile(r"bootMode::(Legacy|UEFI|UEFI_WITH_CSM)"),
    re.compile(r"qemuga"),
    re.compile(r"imageInjectGuestTools::.+"),
    re.compile(r"resourceConfig::.+::.+::.+"),
)
MEDIA_TYPES = ("RootVolumeTemplate", "DataVolumeTemplate", "ISO")
PLATFORMS = ("Linux", "Windows", "WindowsVirtio", "Other", "Paravirtualization")
ARCHITECTURES = ("x86_64", "aarch64", "mips64el", "loongarch64")
FORMATS = ("qcow2", "raw", "iso", "vmtx", "vmdk", "vhd")
URL_SCHEMES = ("http://", "https://", "ftp://", "sftp://", "file:///", "/", "upload://")

# The order of ImageInventory's fields in ImageInventory.java; Gson writes them in this order.
IMAGE_FIELDS = (
    "uuid",
    "name",
    "description",
    "state",
    "status",
    "size",
    "actualSize",
    "md5Sum",
    "url",
    "mediaType",
    "guestOsType",
    "type",
    "platform",
    "architecture",
    "format",
    "system",
    "virtio",
    "createDate",
    "lastOpDate",
    "backupStorageRefs",
)
REF_FIELDS = (
    "id",
    "imageUuid",
    "backupStorageUuid",
    "installPath",
    "status",
    "exportMd5Sum",
    "exportUrl",
    "createDate",
    "lastOpDate",
)
# The published page lists the ref without its database id (@APINoSee).
DOCUMENTED_REF_FIELDS = REF_FIELDS[1:]
TIMESTAMP_FIELDS = frozenset({"createDate", "lastOpDate", "expiredDate"})

# DeleteImage's uuid check (PortApiValidator): a well-formed version-1..5 UUID without dashes.
UUID_RE = re.compile(r"^[0-9a-f]{8}[0-9a-f]{4}[1-5][0-9a-f]{3}[89ab][0-9a-f]{3}[0-9a-f]{12}$")


def now() -> float:
    """The time a write records: MySQL's `timestamp` column keeps whole seconds (§10), so two writes in
    the same second carry the same lastOpDate."""
    return float(int(time.time()))


def unknown_system_tag(tags: list[Any] | None) -> str | None:
    """The first tag no known pattern matches (TagManagerImpl: `no system tag matches ...`), else None."""
    for tag in tags or ():
        if isinstance(tag, str) and not any(p.fullmatch(tag) for p in _SYSTEM_TAGS):
            return tag
    return None


def tags_error(tags: dict[str, Any] | None) -> dict[str, Any] | None:
    """The default @APIParam of systemTags and userTags: no null element (nullElements=false, §10)."""
    for name in ("systemTags", "userTags"):
        values = (tags or {}).get(name)
        if values is not None and any(v is None for v in values):
            return error("SYS.1007", f"field[{name}] cannot contain a NULL element")
    return None


def sha512_hex(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


def error(code: str, details: str) -> dict[str, Any]:
    """An ErrorCode as the REST layer serialises it (nulls omitted; `cost` set by elaboration lookup)."""
    return {"code": code, "description": DESCRIPTIONS[code], "details": details, "cost": "0ms"}


def mandatory(field: str) -> dict[str, Any]:
    return error("SYS.1007", f"field[{field}] of message[{_VALIDATOR}] is mandatory, can not be null")


def invalid_value(field: str, valid: tuple[str, ...] | list[str], found: str) -> dict[str, Any]:
    return error(
        "SYS.1007",
        f"valid value for field[{field}] of message[{_VALIDATOR}] are [{', '.join(valid)}], but {found} found",
    )


def not_found(field: str, uuid: str, vo: str) -> dict[str, Any]:
    return error("SYS.1003", f"invalid field[{field}], resource[uuid:{uuid}, type:{vo}] not found")


def too_long(field: str, limit: int, actual: int) -> dict[str, Any]:
    return error(
        "SYS.1007",
        f"field[{field}] of message[{_VALIDATOR}] exceeds max length of string. expected was <= {limit}, "
        f"actual was {actual}",
    )


def admin_only(api: str) -> dict[str, Any]:
    """RBACAPIRequestChecker: an admin-only API called by a normal account (§10)."""
    return error("ID.1002", f"request api[name: {api}] is admin only, can not be executed by current user")


def account_inventory(account: Any, description: str | None = None) -> dict[str, Any]:
    """AccountInventory: uuid, name, description, type, createDate, lastOpDate (nulls omitted)."""
    inventory = {"uuid": account.uuid, "name": account.name, "description": description, "type": account.type}
    inventory["createDate"] = inventory["lastOpDate"] = zstack_time(account.created)
    return {k: v for k, v in inventory.items() if v is not None}


def session_inventory(session: Any, expires: float) -> dict[str, Any]:
    """SessionInventory as login and RenewSession answer it."""
    return {
        "uuid": session.uuid,
        "accountUuid": session.account,
        "userUuid": session.account,
        "expiredDate": zstack_time(expires),
        "createDate": zstack_time(session.created),
    }


def session_expired() -> dict[str, Any]:
    return error("ID.1001", "Session expired")


def not_owner(account_uuid: str, image_uuid: str) -> dict[str, Any]:
    return error(
        "SYS.1006",
        f"permission denied, the account[uuid:{account_uuid}] is not the owner of the "
        f"resource[uuid:{image_uuid}, type:ImageVO]",
    )


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zstack_time(ts: float) -> str:
    """Gson's default java.sql.Timestamp format on Java 8, US locale: `Oct 28, 2025 2:09:26 PM`."""
    return _zstack_second(int(ts))


@functools.lru_cache(maxsize=4096)
def _zstack_second(ts: int) -> str:
    # One second resolution, like the database column: a busy server formats the same few seconds.
    t = time.localtime(ts)
    hour = t.tm_hour % 12 or 12
    half = "AM" if t.tm_hour < 12 else "PM"
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday}, {t.tm_year} {hour}:{t.tm_min:02d}:{t.tm_sec:02d} {half}"


def java_trim(value: str) -> str:
    """String.trim(): strips every char <= U+0020, not Unicode white space."""
    start, end = 0, len(value)
    while start < end and value[start] <= " ":
        start += 1
    while end > start and value[end - 1] <= " ":
        end -= 1
    return value[start:end]


LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def java_double(number: float) -> str:
    """Double.toString: plain between 1e-3 and 1e7, else computerized scientific notation (`1.0E20`)."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0.0" if str(number).startswith("-") else "0.0"
    if 1e-3 <= abs(number) < 1e7:
        text = repr(number)
        if "e" not in text:
            return text if "." in text else f"{text}.0"
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    power = exponent + len(shown) - 1
    if 1e-3 <= abs(number) < 1e7:  # repr chose an exponent: write the digits out plainly
        return f"{number:.{max(1, -exponent)}f}"
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{power}"


def is_long(value: Any) -> bool:
    """A JSON integer Gson reads as java.lang.Long (ToNumberPolicy.LONG_OR_DOUBLE); bigger ones are Doubles."""
    return isinstance(value, int) and not isinstance(value, bool) and LONG_MIN <= value <= LONG_MAX


def gson_string(value: Any) -> str | None:
    """How Gson's String adapter reads a JSON primitive that went through a LinkedHashMap: numbers are Long
    or Double there (LONG_OR_DOUBLE since 2022-10), so 1 reads back as "1" and 1.5 as "1.5". None for values
    Gson refuses (objects, arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_long(value):
        return str(value)
    if isinstance(value, int | float):
        return java_double(float(value))
    if isinstance(value, str):
        return value
    return None


def java_class(value: Any) -> str:
    """The Java class a JSON value has after Gson read it into a LinkedHashMap."""
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if is_long(value):
        return "java.lang.Long"
    if isinstance(value, int | float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "java.util.ArrayList"
    return "com.google.gson.internal.LinkedTreeMap"


def java_to_string(value: Any) -> str:
    """Object.toString() of a value Gson read into a LinkedHashMap (what TypeVerifier sees)."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_to_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_to_string(v) for v in value) + "]"
    text = gson_string(value)
    return "" if text is None else text


def render_image(image: dict[str, Any], *, keep_nulls: bool) -> dict[str, Any]:
    """ImageInventory as JSON. `rest` omits null fields (Gson without serializeNulls); the `documented`
    dialect writes every field the published page lists, null included."""
    out: dict[str, Any] = {}
    for field in IMAGE_FIELDS:
        value = image.get(field)
        if field == "backupStorageRefs":
            fields = DOCUMENTED_REF_FIELDS if keep_nulls else REF_FIELDS
            value = [_render(ref, fields, keep_nulls) for ref in value or ()]
        elif field in TIMESTAMP_FIELDS and value is not None:
            value = zstack_time(value)
        if value is not None or keep_nulls:
            out[field] = value
    return out


def _render(record: dict[str, Any], fields: tuple[str, ...], keep_nulls: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields:
        value = record.get(field)
        if field in TIMESTAMP_FIELDS and value is not None:
            value = zstack_time(value)
        if value is not None or keep_nulls:
            out[field] = value
    return out


def image_schema(prefix: str, image: dict[str, Any]) -> dict[str, str]:
    """JsonSchemaBuilder's map of JSON paths to Java classes for one inventory."""
    schema = {prefix: IMAGE_INVENTORY_CLASS}
    if image.get("backupStorageRefs"):
        schema[f"{prefix}.backupStorageRefs[0]"] = IMAGE_REF_CLASS
    return schema


def query_value(value: Any) -> str | None:
    """A field as the query layer compares it (Java's toString of the column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
