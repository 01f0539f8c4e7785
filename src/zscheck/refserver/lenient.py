"""Gson's lenient JSON reader (`JsonReader.setLenient(true)`, which `Gson.fromJson` turns on): what ZStack's
REST layer accepts as a body beyond strict JSON (§10).

Accepted: single-quoted strings, unquoted names and values (`{a: enable}`), `//`, `#` and `/* */` comments,
`=` or `=>` between a name and its value, `;` between members, an omitted array element (read as null),
and `true`/`false`/`null` in any letter case. Refused as Gson refuses: a trailing comma in an object, an
unterminated string or container, anything after the top-level value. Only bodies that strict JSON
refuses come here.

The reader is iterative (an explicit stack: no recursion limit) and visits each character a bounded
number of times, so its cost is linear in the body (at most 2 MiB).
"""

from __future__ import annotations

import re
from typing import Any

_WHITESPACE = " \t\n\r"
# isLiteral(): characters that end an unquoted literal.
_LITERAL_END = frozenset(" \t\f\r\n{}[]:,/\\;#=\"'")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", "'": "'", '"': '"', "\\": "\\", "/": "/"}
_KEYWORDS = {"true": True, "false": False, "null": None}


class LenientError(Exception):
    """Gson's refusal: the message is what RestServer's catch-all answers (a 500 text)."""


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.path: list[str | int] = []

    def fail(self, what: str) -> LenientError:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return LenientError(
            "com.google.gson.JsonSyntaxException: com.google.gson.stream.MalformedJsonException: "
            f"{what} at line {self.line} column {self.pos - self.line_start + 1} path ${where}"
        )

    def next_non_blank(self) -> str:
        """The next character that is not white space or inside a comment ('' at the end), not consumed."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c == "\n":
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif c in _WHITESPACE:
                self.pos += 1
            elif c == "#" or text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    self.pos = n
                    raise self.fail("Unterminated comment")
                self._skip_to(end + 2)
            else:
                return c
        return ""

    def _skip_to(self, end: int) -> None:
        newlines = self.text.count("\n", self.pos, end)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", self.pos, end) + 1
        self.pos = end

    def string(self, quote: str) -> str:
        self.pos += 1  # the opening quote
        text, n = self.text, len(self.text)
        out: list[str] = []
        while True:
            # Copy runs of plain characters at once: each character is looked at a bounded number of times.
            run = self.pos
            while run < n and text[run] != quote and text[run] != "\\":
                run += 1
            if run > self.pos:
                chunk = text[self.pos : run]
                self._skip_to(run) if "\n" in chunk else setattr(self, "pos", run)
                out.append(chunk)
            if self.pos >= n:
                raise self.fail("Unterminated string")
            c = text[self.pos]
            self.pos += 1
            if c == quote:
                return "".join(out)
            if self.pos >= n:
                raise self.fail("Unterminated escape sequence")
            e = text[self.pos]
            self.pos += 1
            if e == "u":
                digits = text[self.pos : self.pos + 4]
                if len(digits) < 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise self.fail("Malformed Unicode escape")
                out.append(chr(int(digits, 16)))
                self.pos += 4
            elif e == "\n":
                self.line += 1
                self.line_start = self.pos
                out.append("\n")
            elif e in _ESCAPES:
                out.append(_ESCAPES[e])
            else:
                raise self.fail("Invalid escape sequence")

    def literal(self) -> Any:
        """An unquoted value: a keyword, a number, or else a string."""
        start = self.pos
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] not in _LITERAL_END:
            self.pos += 1
        word = text[start : self.pos]
        if not word:
            raise self.fail("Expected value")
        keyword = word.lower()
        if keyword in _KEYWORDS:
            return _KEYWORDS[keyword]
        if _NUMBER.fullmatch(word):
            return float(word) if any(c in word for c in ".eE") else int(word)
        return word

    def name(self) -> str:
        c = self.next_non_blank()
        if c in ('"', "'"):
            return self.string(c)
        if not c or c in _LITERAL_END:
            raise self.fail("Expected name")
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _LITERAL_END:
            self.pos += 1
        return self.text[start : self.pos]  # an unquoted name is its text, keyword or number alike


class _Frame:
    """An open container: its value, what the reader expects next, and the key being filled (objects)."""

    __slots__ = ("key", "state", "value")

    def __init__(self, value: dict[str, Any] | list[Any]) -> None:
        self.value = value
        self.state = "first"  # first: just opened; next: after a member; sep: after a separator
        self.key: str | None = None


def parse(text: str) -> Any:
    """The value Gson reads from `text` into a LinkedHashMap, or LenientError with Gson's message."""
    r = _Reader(text)
    stack: list[_Frame] = []
    root: list[Any] = []

    def attach(value: Any) -> None:
        if not stack:
            root.append(value)
            return
        frame = stack[-1]
        if isinstance(frame.value, dict):
            assert frame.key is not None
            if frame.key in frame.value:
                raise LenientError(f"com.google.gson.JsonSyntaxException: duplicate key: {frame.key}")
            frame.value[frame.key] = value
        else:
            frame.value.append(value)

    def fail(what: str) -> LenientError:
        r.path = [
            (f.key or "") if isinstance(f.value, dict) else max(0, len(f.value) - (f.state == "next")) for f in stack
        ]
        return r.fail(what)

    want_value = True
    while True:
        if want_value:
            want_value = False
            c = r.next_non_blank()
            if c in ("{", "["):
                r.pos += 1
                container: dict[str, Any] | list[Any] = {} if c == "{" else []
                attach(container)
                stack.append(_Frame(container))
            elif c in ('"', "'"):
                attach(r.string(c))
            elif not c:
                raise fail("End of input")
            elif c in "}],:;=":
                raise fail("Expected value")
            else:
                attach(r.literal())
            continue
        if not stack:
            break
        frame = stack[-1]
        c = r.next_non_blank()
        if isinstance(frame.value, dict):
            if frame.state == "next":
                if c in (",", ";"):
                    r.pos += 1
                    frame.state = "sep"
                elif c == "}":
                    r.pos += 1
                    stack.pop()
                else:
                    raise fail("Unterminated object")
                continue
            if c == "}" and frame.state == "first":
                r.pos += 1
                stack.pop()
                continue
            frame.key = r.name()
            c = r.next_non_blank()
            if c == ":":
                r.pos += 1
            elif c == "=":
                r.pos += 1
                if r.text.startswith(">", r.pos):
                    r.pos += 1
            else:
                raise fail("Expected ':'")
            frame.state = "next"
            want_value = True
            continue
        if frame.state == "next":
            if c in (",", ";"):
                r.pos += 1
                frame.state = "sep"
            elif c == "]":
                r.pos += 1
                stack.pop()
            else:
                raise fail("Unterminated array")
            continue
        if c == "]" and frame.state == "first":
            r.pos += 1
            stack.pop()
            continue
        frame.state = "next"
        if c in (",", ";", "]"):  # an omitted element reads as null (not consumed: it ends this one)
            frame.value.append(None)
            continue
        want_value = True
    if r.next_non_blank():
        raise LenientError("JSON document was not fully consumed.")
    return root[0]
