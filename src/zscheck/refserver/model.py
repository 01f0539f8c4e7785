"""ZStack's vocabulary as the reference server speaks it: error codes, timestamps, inventories.

Written from `../shared/zstack-api.md` independently of the harness's checks (the tests are only
meaningful if the oracle and the server do not share code).
"""

from __future__ import annotations

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
    "ID.1006": "Max number of active sessions exceeded",
}

# ApiMessageParamValidator names itself in these messages (verbatim from the facts file, odd as it reads).
_VALIDATOR = "org.zstack.header.message.ApiMessageParamValidator"

IMAGE_INVENTORY_CLASS = "org.zstack.header.image.ImageInventory"
IMAGE_REF_CLASS = "org.zstack.header.image.ImageBackupStorageRefInventory"
SESSION_INVENTORY_CLASS = "org.zstack.header.identity.SessionInventory"

ADMIN_UUID = "36c27e8ff05c4780bf6d2fa65700f22e"  # AccountConstant.INITIAL_SYSTEM_ADMIN_UUID

STATE_EVENTS = {"enable": "Enabled", "disable": "Disabled"}
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


def gson_string(value: Any) -> str | None:
    """How Gson's String adapter reads a JSON primitive that went through a LinkedHashMap (numbers are
    Doubles there, so 1 reads back as "1.0"). None for values Gson refuses (objects, arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        if number.is_integer() and abs(number) < 1e7:
            return f"{number:.1f}"
        text = repr(number)
        return text.replace("e+", "E").replace("e-", "E-")
    if isinstance(value, str):
        return value
    return None


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
