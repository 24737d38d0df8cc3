"""kvstore's own history format: JSON lines, written by the chaos recorder.

Format (one JSON object per line, UTF-8, blank lines ignored)::

    {"process": 3, "type": "invoke", "f": "cas", "key": "k1", "value": ["a", "b"], "time": 1200}
    {"process": 3, "type": "ok",     "f": "cas", "key": "k1", "value": ["a", "b"], "time": 1950}

- `process` (int, required): the client process. Each op is one `invoke` line
  followed later by one completion line of the same process, paired as in
  Jepsen: a process has at most one op in flight.
- `type` (required): `"invoke"`, `"ok"` (took effect, with this result),
  `"fail"` (certainly did not take effect; the op is dropped) or `"info"`
  (indeterminate: timed out or crashed; it may take effect at any time after
  its invoke, or never). An invoke with no completion by the end of the file
  counts as `"info"`.
- `f` (required): `"read"`, `"write"`, `"cas"` (register model) or `"get"`,
  `"put"`, `"append"`, `"cas"` (kv model).
- `key` (string or null): the key; ops are checked per key. The register model
  allows null (one register).
- `value`: strings (or null for "absent"). On invoke: the argument (null for
  read/get). On `ok`: the result, which for read/get is the value read
  (null = key absent). For cas the value is `[from, to]` on both lines.
- `time` (int, required): a monotonic clock in nanoseconds
  (`time.monotonic_ns()` in the recorder), non-decreasing within an op.

`HistoryWriter` writes exactly this format; `parse_jsonl` reads it. Invariant:
what the writer writes, the parser reads back to the same operations.
"""

from __future__ import annotations

import json
import threading
import time as _time
from collections.abc import Hashable, Iterable
from typing import IO, Any

from kvstore.check.history import History, HistoryBuilder, Value
from kvstore.errors import CheckError

__all__ = ["HistoryWriter", "parse_jsonl"]

_TYPES = ("invoke", "ok", "fail", "info")


def _freeze(value: Any) -> Hashable:
    """JSON arrays become tuples so that values are hashable model states."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        raise TypeError("objects are not valid values")
    result: Hashable = value
    return result


def _field(obj: dict[str, Any], name: str, types: tuple[type, ...], line: int) -> Any:
    if name not in obj:
        raise CheckError(f"line {line}: missing field {name!r}", line=line)
    value = obj[name]
    # bool is an int subclass; a boolean process or time is a bug in the writer.
    if isinstance(value, bool) or not isinstance(value, types):
        raise CheckError(f"line {line}: field {name!r} has a bad value {value!r}", line=line)
    return value


def parse_jsonl(lines: Iterable[str], source: str = "<memory>") -> History:
    """Parse kvstore JSON-lines history text (see the module docstring)."""
    builder = HistoryBuilder(source, "jsonl")
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CheckError(f"line {lineno}: invalid JSON: {exc.msg}", line=lineno) from None
        if not isinstance(obj, dict):
            raise CheckError(f"line {lineno}: expected a JSON object", line=lineno)
        process = _field(obj, "process", (int,), lineno)
        kind = _field(obj, "type", (str,), lineno)
        f = _field(obj, "f", (str,), lineno)
        stamp = _field(obj, "time", (int,), lineno)
        key = obj.get("key")
        if key is not None and not isinstance(key, str):
            raise CheckError(f"line {lineno}: field 'key' must be a string or null", line=lineno)
        try:
            value = _freeze(obj.get("value"))
        except TypeError:
            raise CheckError(f"line {lineno}: field 'value' is an object", line=lineno) from None
        if kind == "invoke":
            builder.invoke(lineno, process, f, key, value, stamp)
        elif kind in _TYPES:
            builder.complete(lineno, process, kind, f, key, value, stamp)
        else:
            raise CheckError(f"line {lineno}: unknown type {kind!r}", line=lineno)
    return builder.finish()


def _thaw(value: Value) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class HistoryWriter:
    """Writes history events as JSON lines to a text file handle.

    Each method writes one line and, with `flush=True` (the default), flushes
    it, so that a recorder killed mid-run leaves a history that parses: its
    last ops simply become indeterminate. A lock keeps lines whole when
    several threads record at once.
    """

    def __init__(self, fh: IO[str], *, flush: bool = True) -> None:
        self._fh = fh
        self._flush = flush
        self._lock = threading.Lock()

    def write(
        self, process: int, kind: str, f: str, key: str | None, value: Value,
        time_ns: int | None = None,
    ) -> None:
        """Write one event; `time_ns` defaults to `time.monotonic_ns()`."""
        if kind not in _TYPES:
            raise ValueError(f"unknown event type {kind!r}")
        stamp = _time.monotonic_ns() if time_ns is None else time_ns
        record = {"process": process, "type": kind, "f": f, "key": key,
                  "value": _thaw(value), "time": stamp}
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._fh.write(line)
            if self._flush:
                self._fh.flush()

    def invoke(self, process: int, f: str, key: str | None, value: Value = None,
               time_ns: int | None = None) -> None:
        self.write(process, "invoke", f, key, value, time_ns)

    def ok(self, process: int, f: str, key: str | None, value: Value = None,
           time_ns: int | None = None) -> None:
        self.write(process, "ok", f, key, value, time_ns)

    def fail(self, process: int, f: str, key: str | None, value: Value = None,
             time_ns: int | None = None) -> None:
        self.write(process, "fail", f, key, value, time_ns)

    def info(self, process: int, f: str, key: str | None, value: Value = None,
             time_ns: int | None = None) -> None:
        self.write(process, "info", f, key, value, time_ns)
