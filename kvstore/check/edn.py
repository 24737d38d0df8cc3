"""A small EDN reader, enough for Jepsen histories.

Role: turn the text of one EDN form (or a run of forms) into Python values so
that the Jepsen log and Jepsen EDN parsers can read `nil`, `[1 2]`,
`{:process 0, :type :invoke}` and friends.

Mapping (chosen so that every value is hashable, because values end up in the
checker's memo cache as model states):
- `nil` -> None, `true`/`false` -> bool, integers -> int, decimals -> float;
- strings -> str; keywords -> `Keyword` (a str subclass, so `Keyword("ok")`
  is distinct from the string "ok" only by type); symbols -> `Symbol`;
- vectors and lists -> tuple; sets -> frozenset; maps -> `EdnMap` (a dict
  subclass that hashes by its items).

Invariants: the reader never raises anything but `EdnError`; commas are
whitespace; `;` starts a comment to the end of the line. Tagged literals other
than `#{...}` and `#_` (discard) are rejected rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Hashable

__all__ = ["EdnError", "EdnMap", "Keyword", "Symbol", "read_all", "read_one"]


class EdnError(ValueError):
    """The text is not valid EDN (the message names the column)."""


class Keyword(str):
    """An EDN keyword such as `:invoke`, stored without the colon."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str(self)


class Symbol(str):
    """An EDN symbol such as `x` or `foo/bar`."""

    __slots__ = ()


class EdnMap(dict[Hashable, Hashable]):
    """An EDN map; hashable (by its items) so it may sit inside a state."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


_WS = " \t\r\n,"
_DELIMS = _WS + "()[]{}\";"
_INT_RE = re.compile(r"[+-]?\d+N?")
_FLOAT_RE = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


class _Reader:
    """Recursive-descent reader over one string; `pos` is the next character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> EdnError:
        return EdnError(f"{message} at column {self.pos + 1}")

    def skip_ws(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in _WS:
                self.pos += 1
            elif ch == ";":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            else:
                return

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def read(self) -> Hashable:
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("unexpected end of input")
        ch = self.text[self.pos]
        if ch in _CLOSERS:
            self.pos += 1
            items = self.read_until(_CLOSERS[ch])
            return self.make_map(items) if ch == "{" else tuple(items)
        if ch in ")]}":
            raise self.error(f"unexpected {ch!r}")
        if ch == '"':
            return self.read_string()
        if ch == "#":
            return self.read_dispatch()
        if ch == "\\":
            return self.read_char()
        return self.read_atom()

    def read_until(self, closer: str) -> list[Hashable]:
        items: list[Hashable] = []
        while True:
            self.skip_ws()
            if self.pos >= len(self.text):
                raise self.error(f"missing {closer!r}")
            if self.text[self.pos] == closer:
                self.pos += 1
                return items
            items.append(self.read())

    def make_map(self, items: list[Hashable]) -> EdnMap:
        if len(items) % 2:
            raise self.error("map literal with an odd number of forms")
        return EdnMap(zip(items[0::2], items[1::2], strict=True))

    def read_string(self) -> str:
        out: list[str] = []
        text, i = self.text, self.pos + 1
        while i < len(text):
            ch = text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch == "\\":
                i += 1
                if i >= len(text):
                    break
                esc = text[i]
                if esc == "u":
                    digits = text[i + 1 : i + 5]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                        self.pos = i
                        raise self.error("bad \\u escape")
                    out.append(chr(int(digits, 16)))
                    i += 4
                elif esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                else:
                    self.pos = i
                    raise self.error(f"bad escape \\{esc}")
            else:
                out.append(ch)
            i += 1
        raise self.error("unterminated string")

    def read_dispatch(self) -> Hashable:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        if nxt == "{":
            self.pos += 2
            return frozenset(self.read_until("}"))
        if nxt == "_":
            self.pos += 2
            self.read()
            return self.read()
        raise self.error("unsupported tagged literal")

    def read_char(self) -> str:
        start = self.pos + 1
        end = start + 1
        while end < len(self.text) and self.text[end] not in _DELIMS:
            end += 1
        self.pos = end
        name = self.text[start:end]
        named = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
        if len(name) == 1:
            return name
        if name in named:
            return named[name]
        raise self.error(f"bad character literal \\{name}")

    def read_atom(self) -> Hashable:
        start = self.pos
        end = start
        while end < len(self.text) and self.text[end] not in _DELIMS:
            end += 1
        self.pos = end
        token = self.text[start:end]
        if token == "nil":
            return None
        if token in ("true", "false"):
            return token == "true"
        if _INT_RE.fullmatch(token):
            return int(token.rstrip("N"))
        if _FLOAT_RE.fullmatch(token):
            return float(token.rstrip("M"))
        if token.startswith(":"):
            if len(token) == 1:
                raise self.error("empty keyword")
            return Keyword(token[1:])
        if token[0].isdigit():
            raise self.error(f"bad number {token!r}")
        return Symbol(token)


def read_one(text: str) -> Hashable:
    """Read exactly one EDN form from `text`; trailing forms are an error."""
    reader = _Reader(text)
    value = reader.read()
    if not reader.at_end():
        raise reader.error("trailing text after the form")
    return value


def read_all(text: str) -> list[Hashable]:
    """Read every EDN form in `text`, in order."""
    reader = _Reader(text)
    forms: list[Hashable] = []
    while not reader.at_end():
        forms.append(reader.read())
    return forms
