"""History parsers for Jepsen's log and EDN formats, format detection and loading.

Role: turn a history file into a `History`. Three formats:
- `jepsen`: Jepsen's log, e.g. `INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]`.
  Tabs and spaces mix freely. Other log lines (other loggers, indented stack
  traces) are skipped, as are `:nemesis` ops; a `jepsen.util` line that is not
  an op, or any other line, is an error. Times are line numbers: Jepsen writes
  events in the order they happen.
- `edn`: one Jepsen op map per line, e.g.
  `{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}`.
  Times are line numbers too (`:time` is ignored; line order is the order).
- `jsonl`: kvstore's own format, see `kvstore.check.jsonl`.

Invariants: every failure is a `CheckError` naming the line; the parsers never
see the model (the checker validates op names and value shapes per model).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from pathlib import Path

from kvstore.check.edn import EdnError, EdnMap, Keyword, read_all, read_one
from kvstore.check.history import History, HistoryBuilder
from kvstore.check.jsonl import parse_jsonl
from kvstore.errors import CheckError

__all__ = ["FORMATS", "detect_format", "load_history", "parse_edn", "parse_history",
           "parse_jepsen_log"]

FORMATS = ("jepsen", "edn", "jsonl")

_JEPSEN_OP = re.compile(r"\bjepsen\.util\s+-\s+(.*)$")
_LOG_LINE = re.compile(r"^\S*\s*(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b")


def _process(value: Hashable, lineno: int) -> int | None:
    """An int process id, or None for the nemesis (whose ops we skip)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, Keyword) and value == "nemesis":
            return None
        raise CheckError(f"line {lineno}: bad process {value!r}", line=lineno)
    return value


def _keyword(value: Hashable, what: str, lineno: int) -> str:
    if not isinstance(value, Keyword):
        raise CheckError(f"line {lineno}: {what} must be a keyword, got {value!r}", line=lineno)
    return str(value)


def _feed(builder: HistoryBuilder, lineno: int, process: int, kind: str, f: str,
          key: str | None, value: Hashable) -> None:
    if kind == "invoke":
        builder.invoke(lineno, process, f, key, value, lineno)
    else:
        builder.complete(lineno, process, kind, f, key, value, lineno)


def parse_jepsen_log(lines: Iterable[str], source: str = "<memory>") -> History:
    """Parse Jepsen's `jepsen.util` op log (register ops: read, write, cas)."""
    builder = HistoryBuilder(source, "jepsen")
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        match = _JEPSEN_OP.search(line)
        if match is None:
            if _LOG_LINE.match(line) or line[:1].isspace():
                continue
            raise CheckError(f"line {lineno}: not a Jepsen log line: {line[:60]!r}", line=lineno)
        try:
            forms = read_all(match.group(1))
        except EdnError as exc:
            raise CheckError(f"line {lineno}: {exc}", line=lineno) from None
        if len(forms) < 3:
            raise CheckError(
                f"line {lineno}: expected '<process> :<type> :<f> <value>'", line=lineno
            )
        process = _process(forms[0], lineno)
        if process is None:
            continue
        kind = _keyword(forms[1], "the event type", lineno)
        f = _keyword(forms[2], "the op", lineno)
        if len(forms) > 4 and kind not in ("fail", "info"):
            raise CheckError(f"line {lineno}: trailing text after the value", line=lineno)
        value = forms[3] if len(forms) > 3 else None
        _feed(builder, lineno, process, kind, f, None, value)
    return builder.finish()


def _edn_key(value: Hashable, lineno: int) -> str | None:
    if value is None or isinstance(value, str):
        return None if value is None else str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise CheckError(f"line {lineno}: bad key {value!r}", line=lineno)


def parse_edn(lines: Iterable[str], source: str = "<memory>") -> History:
    """Parse one Jepsen op map per line."""
    builder = HistoryBuilder(source, "edn")
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            form = read_one(raw)
        except EdnError as exc:
            raise CheckError(f"line {lineno}: {exc}", line=lineno) from None
        if not isinstance(form, EdnMap):
            raise CheckError(f"line {lineno}: expected an EDN map", line=lineno)
        for name in ("process", "type", "f"):
            if Keyword(name) not in form:
                raise CheckError(f"line {lineno}: missing :{name}", line=lineno)
        process = _process(form[Keyword("process")], lineno)
        if process is None:
            continue
        kind = _keyword(form[Keyword("type")], ":type", lineno)
        f = _keyword(form[Keyword("f")], ":f", lineno)
        key = _edn_key(form.get(Keyword("key")), lineno)
        _feed(builder, lineno, process, kind, f, key, form.get(Keyword("value")))
    return builder.finish()


def detect_format(lines: list[str]) -> str:
    """Guess the format from the first non-blank line."""
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text.startswith('{"') or text.startswith("{ \""):
            return "jsonl"
        if text.startswith("{"):
            return "edn"
        if "jepsen.util" in text or _LOG_LINE.match(text):
            return "jepsen"
        break
    raise CheckError("cannot detect the history format; pass --format jepsen|edn|jsonl")


def parse_history(text: str, fmt: str | None = None, source: str = "<memory>") -> History:
    """Parse history text in `fmt` (detected when None)."""
    lines = text.splitlines()
    if fmt is None and not any(line.strip() for line in lines):
        return History(ops=[], source=source, format="empty")
    chosen = fmt or detect_format(lines)
    if chosen == "jepsen":
        return parse_jepsen_log(lines, source)
    if chosen == "edn":
        return parse_edn(lines, source)
    if chosen == "jsonl":
        return parse_jsonl(lines, source)
    raise CheckError(f"unknown history format {chosen!r}; expected one of {', '.join(FORMATS)}")


def load_history(path: str | Path, fmt: str | None = None) -> History:
    """Read and parse a history file; a missing or unreadable file is a `CheckError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckError(f"no such history file: {p}") from None
    except IsADirectoryError:
        raise CheckError(f"{p} is a directory, not a history file") from None
    except UnicodeDecodeError as exc:
        raise CheckError(f"{p} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CheckError(f"cannot read {p}: {exc.strerror}") from None
    try:
        return parse_history(text, fmt, str(p))
    except CheckError as exc:
        raise CheckError(f"{p}: {exc.message}", **exc.details) from None
