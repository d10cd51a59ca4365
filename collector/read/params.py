"""params: query parameters as ClickHouse's HTTP interface sends them, made Python values.

A client sends ``param_<name>`` in ClickHouse's text form: a scalar with backslash escapes
(``it\\'s``), a container as a literal (``['a\\'b', NULL]``, ``(1, 'x')``, ``{'k': 2}``).
The store's driver binds Python values and formats them itself, so each value is read
here once, by the type its ``{name:Type}`` placeholder declares, and handed over as the
value it denotes; the driver's text then means the same to the engine on either
transport. Text that is not a literal of that shape is refused with the reason.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPES = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0", "a": "\a", "v": "\v"}
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$", re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d[\w.]*(?:[eE][-+]?\d+)?|inf|nan)", re.IGNORECASE)
_CONTAINERS = ("Array(", "Tuple(", "Map(")


class ParameterError(ValueError):
    """A parameter's text is not a value of its declared type's shape."""


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m[1]
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text)


def _base(type_name: str) -> str:
    type_name = type_name.strip()
    while m := _WRAPPERS.match(type_name):
        type_name = m[1].strip()
    return type_name


def value(text: str, type_name: str) -> Any:
    """The value ``text`` denotes as a parameter of ``type_name``."""
    if _base(type_name).startswith(_CONTAINERS):
        reader = _Literal(text)
        result = reader.read()
        reader.end()
        return result
    if text == "\\N":
        return None
    return _unescape(text)


class _Literal:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, what: str) -> ParameterError:
        return ParameterError(f"{what} at character {self.at + 1} of {self.text[:80]!r}")

    def space(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def end(self) -> None:
        self.space()
        if self.at != len(self.text):
            raise self.fail("unexpected text")

    def read(self) -> Any:
        self.space()
        if self.at >= len(self.text):
            raise self.fail("a value expected")
        c = self.text[self.at]
        if c in "[(":
            return self.sequence("]" if c == "[" else ")", c == "(")
        if c == "{":
            return self.mapping()
        if c == "'":
            return self.string()
        if self.text.startswith("NULL", self.at) or self.text.startswith("null", self.at):
            self.at += 4
            return None
        m = _NUMBER.match(self.text, self.at)
        if m is None:
            raise self.fail("a value expected")
        self.at = m.end()
        token = m[0]
        try:
            return int(token, 0) if token.lstrip("+-").isdigit() else float(token)
        except ValueError:
            raise self.fail(f"not a number: {token!r}") from None

    def string(self) -> str:
        out: list[str] = []
        i = self.at + 1
        text = self.text
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                out.append(text[i : i + 2])
                i += 2
            elif c == "'" and text.startswith("''", i):
                out.append("'")
                i += 2
            elif c == "'":
                self.at = i + 1
                return _unescape("".join(out))
            else:
                out.append(c)
                i += 1
        raise self.fail("unterminated string")

    def sequence(self, close: str, as_tuple: bool) -> list[Any] | tuple[Any, ...]:
        self.at += 1
        items: list[Any] = []
        self.space()
        if self.text.startswith(close, self.at):
            self.at += 1
            return tuple(items) if as_tuple else items
        while True:
            items.append(self.read())
            self.space()
            if self.text.startswith(",", self.at):
                self.at += 1
            elif self.text.startswith(close, self.at):
                self.at += 1
                return tuple(items) if as_tuple else items
            else:
                raise self.fail(f"',' or {close!r} expected")

    def mapping(self) -> dict[Any, Any]:
        self.at += 1
        out: dict[Any, Any] = {}
        self.space()
        if self.text.startswith("}", self.at):
            self.at += 1
            return out
        while True:
            key = self.read()
            self.space()
            if not self.text.startswith(":", self.at):
                raise self.fail("':' expected")
            self.at += 1
            out[key] = self.read()
            self.space()
            if self.text.startswith(",", self.at):
                self.at += 1
            elif self.text.startswith("}", self.at):
                self.at += 1
                return out
            else:
                raise self.fail("',' or '}' expected")
