"""The error-code table: which answer a correct server gives to which class of input.

The table itself is data (`contracts/error_codes.toml`), readable and extendable by QA; this module
loads it, validates it in one place, and answers `expect(facets, dialect)`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, cast, get_args

from zscheck._wire import DIALECTS, Dialect
from zscheck.checks.violations import BodyKind, Expected, Stage
from zscheck.errors import ConfigError

# Every facet and its values, in the vocabulary of the table's `when` clauses.
FACETS: dict[str, tuple[str, ...]] = {
    "body": ("action", "wrong-key", "empty", "not-json", "not-object", "bad-tags", "field-wrong-kind"),
    "auth": ("oauth", "missing", "not-oauth"),
    "event": ("valid", "invalid", "missing", "not-a-string"),
    "tags": ("strings", "null-element", "not-string-in-action", "not-string-top"),
    "image": ("own", "unknown", "foreign", "tenants-own", "admin-on-tenants"),
    "session": ("valid", "unknown", "expired", "logged-out"),
}


# The fields of APIChangeImageStateMsg that Gson's rehash reads from the action map besides stateEvent and
# the tags, with their Java kind (facts §10): the ones every message inherits (Message.id, serviceId,
# createdTime; NeedReplyMessage.timeout) and, in the rest dialect, the declared `uuid`.
INHERITED_FIELDS: dict[str, str] = {"id": "string", "serviceId": "string", "timeout": "long", "createdTime": "long"}
DECLARED_FIELDS: dict[str, dict[str, str]] = {"rest": {"uuid": "string"}, "documented": {}}
_LONG = (-(2**63), 2**63 - 1)


def gson_reads(value: Any, kind: str) -> bool:
    """Whether Gson reads this JSON value into a field of this Java kind (`string` or `long`). A string
    field takes any scalar (a number or a boolean reads as its text); a long takes an integral number in
    range or a string that parses as one (JsonReader.nextLong). Null is always fine (the field stays null)."""
    if value is None:
        return True
    if kind == "string":
        return not isinstance(value, dict | list)
    if isinstance(value, bool | dict | list):
        return False
    number: float | int
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return False
    else:
        number = value
    if isinstance(number, float) and not (number == number and abs(number) != float("inf") and number.is_integer()):
        return False
    return _LONG[0] <= number <= _LONG[1]


def field_of_wrong_kind(action: dict[str, Any], dialect: str) -> str | None:
    """The first field of the action map (in its order, as the rehash reads it) that Gson cannot read
    into its message field, stateEvent and the tags aside (they have classes of their own); None if none."""
    kinds = INHERITED_FIELDS | DECLARED_FIELDS.get(dialect, {})
    for name, value in action.items():
        kind = kinds.get(name)
        if kind is not None and not gson_reads(value, kind):
            return name
    return None


@dataclass(frozen=True, slots=True)
class Facets:
    """A request, described by the classes its parts fall into. The defaults are a correct request."""

    body: str = "action"
    auth: str = "oauth"
    event: str = "valid"
    tags: str = "strings"
    image: str = "own"
    session: str = "valid"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in FACETS[f.name]:
                raise ConfigError(f"facet {f.name}={value!r} is not one of {', '.join(FACETS[f.name])}")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    when: dict[str, frozenset[str]]
    answers: dict[Dialect, Expected]

    def matches(self, facets: Facets) -> bool:
        return all(getattr(facets, facet) in values for facet, values in self.when.items())


DEFAULT_TABLE = Path(__file__).resolve().parents[3] / "contracts" / "error_codes.toml"


@dataclass(frozen=True, slots=True)
class ProtocolRule:
    """A synchronous plain-text answer to protocol misuse (the table's [[protocol]] entries)."""

    name: str
    description: str
    check: str  # the violation a wrong answer is reported as
    status: int
    text: str | None


class ErrorTable:
    def __init__(
        self,
        rules: list[Rule],
        source: str,
        descriptions: dict[str, str] | None = None,
        protocol: dict[str, ProtocolRule] | None = None,
    ) -> None:
        self.rules = rules
        self.source = source
        self.protocol = protocol or {}
        # code -> the one description ZStack gives it (the table's [descriptions]); unknown codes are not judged
        self.descriptions = descriptions or {}

    def rule_for(self, facets: Facets) -> Rule:
        for rule in self.rules:
            if rule.matches(facets):
                return rule
        raise ConfigError(f"{self.source}: no rule matches {facets}; the last rule should have `when = {{}}`")

    def expect(self, facets: Facets, dialect: Dialect) -> Expected:
        return self.rule_for(facets).answers[dialect]

    @classmethod
    def load(cls, path: Path = DEFAULT_TABLE) -> ErrorTable:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"error-code table not found at {path} (run from a checkout of zscheck)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        rules = [_rule(raw, f"{path}: rule #{i + 1}") for i, raw in enumerate(data.get("rule", []))]
        if not rules:
            raise ConfigError(f"{path} has no [[rule]] entries")
        descriptions = data.get("descriptions", {})
        if not isinstance(descriptions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in descriptions.items()
        ):
            raise ConfigError(f'{path}: [descriptions] maps codes to non-empty strings, e.g. "SYS.1003" = "..."')
        table = dict(descriptions)
        rules = [
            Rule(r.name, r.description, r.when, {d: replace(e, descriptions=table) for d, e in r.answers.items()})
            for r in rules
        ]
        protocol = {}
        for i, raw in enumerate(data.get("protocol", [])):
            entry = _protocol(raw, f"{path}: protocol #{i + 1}")
            protocol[entry.name] = entry
        return cls(rules, str(path), table, protocol)

    def protocol_rule(self, name: str) -> ProtocolRule:
        try:
            return self.protocol[name]
        except KeyError:
            known = ", ".join(self.protocol) or "none"
            raise ConfigError(f"{self.source} has no [[protocol]] entry {name!r}; it has {known}") from None


def _rule(raw: dict[str, Any], where: str) -> Rule:
    name = raw.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"{where} has no name")
    when: dict[str, frozenset[str]] = {}
    for facet, values in raw.get("when", {}).items():
        if facet not in FACETS:
            raise ConfigError(f"{where} ({name}): unknown facet {facet!r}; facets are {', '.join(FACETS)}")
        unknown = set(values) - set(FACETS[facet])
        if unknown:
            raise ConfigError(
                f"{where} ({name}): {facet} has no value {sorted(unknown)}; it takes {', '.join(FACETS[facet])}"
            )
        when[facet] = frozenset(values)
    answers: dict[Dialect, Expected] = {}
    for dialect in DIALECTS:
        answer = raw.get(dialect)
        if not isinstance(answer, dict):
            raise ConfigError(f"{where} ({name}) gives no answer for the {dialect} dialect")
        answers[dialect] = _expected(name, answer, f"{where} ({name}, {dialect})")
    return Rule(name, str(raw.get("description", "")), when, answers)


def _expected(rule: str, answer: dict[str, Any], where: str) -> Expected:
    stage, body = answer.get("stage"), answer.get("body")
    if stage not in get_args(Stage):
        raise ConfigError(f"{where}: stage {stage!r} must be one of {', '.join(get_args(Stage))}")
    if body not in get_args(BodyKind):
        raise ConfigError(f"{where}: body {body!r} must be one of {', '.join(get_args(BodyKind))}")
    status = answer.get("status")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ConfigError(f"{where}: status {status!r} must be an HTTP status code")
    return Expected(
        rule=rule,
        stage=cast(Stage, stage),
        status=status,
        body=cast(BodyKind, body),
        code=answer.get("code"),
        text=answer.get("text"),
        success=bool(answer.get("success", False)),
    )


def _protocol(raw: dict[str, Any], where: str) -> ProtocolRule:
    name, check, status, text = raw.get("name"), raw.get("check"), raw.get("status"), raw.get("text")
    if not isinstance(name, str) or not isinstance(check, str):
        raise ConfigError(f"{where} needs a name and a check (the violation's name), both strings")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ConfigError(f"{where} ({name}): status {status!r} must be an HTTP status code")
    if text is not None and not isinstance(text, str):
        raise ConfigError(f"{where} ({name}): text {text!r} must be the start of the answer, a string")
    return ProtocolRule(name, str(raw.get("description", "")), check, status, text)


@cache
def default_table() -> ErrorTable:
    return ErrorTable.load()
