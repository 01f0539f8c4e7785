"""Dataclasses to JSON and back, and their JSON Schema, from the same type hints.

One walk over a dataclass's fields drives all three, so a model, the files written from it and its
published schema cannot disagree. The types a report model may use are the ones JSON has: str, int,
float, bool, None, `Literal[...]` of strings, `X | None`, `list[X]`, `tuple[X, Y]` (a fixed-length
array), `dict[str, X]` (an open map) and nested dataclasses. A field whose JSON key is not a Python name
(`p99.9`) says so in its metadata: `field(metadata={"json": "p99.9"})`.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any, Literal, Union

JSON_NAME = "json"  # dataclass field metadata key: the field's key in the JSON document


class DocumentError(ValueError):
    """A JSON document that is not what its model says: names the file and the field."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source, self.path, self.problem = source, path, problem
        where = f"field `{path}`" if path else "the document"
        super().__init__(f"{source}: {where}: {problem}")


def json_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get(JSON_NAME, f.name))


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# ------------------------------------------------------------------------------------- decoding


def decode(tp: Any, value: object, path: str, source: str) -> Any:
    """`value` (parsed JSON) as type `tp`, or DocumentError naming `path` in `source`."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        if value is not None:
            raise DocumentError(source, path, f"expected null, got {_describe(value)}")
        return None
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        rest = [o for o in options if o is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported union {tp} in a report model")
        return decode(rest[0], value, path, source)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or isinstance(value, bool):
            raise DocumentError(source, path, f"expected one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise DocumentError(source, path, f"expected a boolean, got {_describe(value)}")
        return value
    if tp is int:  # as JSON Schema says: 3.0 is an integer too
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise DocumentError(source, path, f"expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise DocumentError(source, path, f"expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise DocumentError(source, path, f"expected a string, got {_describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise DocumentError(source, path, f"expected an array, got {_describe(value)}")
        (item,) = typing.get_args(tp)
        return [decode(item, v, _join(path, i), source) for i, v in enumerate(value)]
    if origin is tuple:
        items = typing.get_args(tp)
        if not isinstance(value, list) or len(value) != len(items):
            raise DocumentError(source, path, f"expected an array of {len(items)} items, got {_describe(value)}")
        return tuple(decode(t, v, _join(path, i), source) for i, (t, v) in enumerate(zip(items, value, strict=True)))
    if origin is dict:
        key_type, item = typing.get_args(tp)
        if key_type is not str:
            raise TypeError(f"unsupported dict key {key_type} in a report model")
        if not isinstance(value, dict):
            raise DocumentError(source, path, f"expected an object, got {_describe(value)}")
        return {k: decode(item, v, _join(path, k), source) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return decode_dataclass(tp, value, path, source)
    raise TypeError(f"unsupported type {tp!r} in a report model")


def decode_dataclass(
    cls: type, value: object, path: str, source: str, *, skip: frozenset[str] = frozenset(), older: bool = False
) -> Any:
    """Every field is required and no other key is allowed (`skip`: keys the caller has read itself).
    `older`: the document is of an older version that lacked the fields added since: a missing field that
    has a default takes it (at the top level only; that is where versions add fields)."""
    if not isinstance(value, dict):
        raise DocumentError(source, path, f"expected an object ({cls.__name__}), got {_describe(value)}")
    hints = _hints(cls)
    fields = {json_name(f): f for f in dataclasses.fields(cls)}
    unexpected = [k for k in value if k not in fields and k not in skip]
    if unexpected:
        raise DocumentError(
            source, _join(path, unexpected[0]), f"unexpected field (not in {cls.__name__}: {', '.join(fields)})"
        )
    kwargs: dict[str, Any] = {}
    for key, f in fields.items():
        if key not in value:
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if older and has_default:
                continue
            raise DocumentError(source, _join(path, key), f"missing (a {cls.__name__} has it)")
        kwargs[f.name] = decode(hints[f.name], value[key], _join(path, key), source)
    return cls(**kwargs)


# ------------------------------------------------------------------------------------- encoding


def encode(value: object) -> Any:
    """Plain JSON data: dataclasses become objects under their fields' JSON names, tuples become arrays."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {json_name(f): encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------------ the schema


def schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `tp`; nested dataclasses go to `defs` and are referenced."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return {"type": "null"}
    if origin in (Union, types.UnionType):
        options = [o for o in typing.get_args(tp) if o is not type(None)]
        inner = schema_of(options[0], defs)
        if set(inner) == {"type"} and isinstance(inner["type"], str):
            return {"type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is Literal:
        allowed = list(typing.get_args(tp))
        return {"const": allowed[0]} if len(allowed) == 1 else {"enum": allowed}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    if origin is list:
        return {"type": "array", "items": schema_of(typing.get_args(tp)[0], defs)}
    if origin is tuple:
        items = [schema_of(t, defs) for t in typing.get_args(tp)]
        return {"type": "array", "prefixItems": items, "items": False, "minItems": len(items)}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(typing.get_args(tp)[1], defs)}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder first: a model may refer to itself
            defs[tp.__name__] = object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"unsupported type {tp!r} in a report model")


def object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    properties = {json_name(f): schema_of(hints[f.name], defs) for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {"type": "object"}
    doc = inspect.cleandoc(cls.__doc__ or "")
    if doc and not doc.startswith(cls.__name__ + "("):  # not the signature dataclass writes when there is none
        out["description"] = doc
    out |= {"properties": properties, "required": list(properties), "additionalProperties": False}
    return out
