"""History model: operations with a call and a return, and the pairing of events.

Role: every parser turns its lines into invoke/completion events and feeds them
to `HistoryBuilder`, which pairs them per process (as Jepsen does) into
`Operation`s. The checker only ever sees `Operation`s.

Invariants:
- `Operation.id` is dense from 0 in call order, and `History.ops[i].id == i`.
- `call <= ret`. An indeterminate op (the client timed out or crashed: Jepsen's
  `:info`, or an invoke with no completion by the end of the history) has
  `ret == math.inf` and an unknown output (`None`): it may take effect at any
  point after its call, or never.
- A `:fail` completion means the op did not take effect, so the op is dropped.
  An indeterminate read observes nothing and constrains nothing, so it is
  dropped too. Both are counted in `History.dropped`.
- A process never has two ops in flight; an invoke while one is pending is an
  error. After an indeterminate op Jepsen retires the process id; if the id is
  reused anyway, the new op gets a fresh client id (a new logical client).
- Every error is a `CheckError` that names the line.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from kvstore.errors import CheckError

__all__ = ["INF", "READ_FS", "History", "HistoryBuilder", "Operation", "Value", "make_history"]

INF = math.inf
#: Ops that only observe: their output is what they read.
READ_FS = frozenset({"read", "get"})
#: Every op name any model knows; parsers reject anything else.
KNOWN_FS = frozenset({"read", "write", "cas", "get", "put", "append"})
COMPLETIONS = frozenset({"ok", "fail", "info"})

#: A value in a history: str, int, None (nil, absent) or a tuple such as (from, to).
Value = Hashable


@dataclass(slots=True, frozen=True)
class Operation:
    """One operation of one client, from call to return."""

    id: int
    client: int
    process: int
    f: str
    key: str | None
    input: Value
    output: Value
    call: float
    ret: float
    line: int = 0

    @property
    def indeterminate(self) -> bool:
        return self.ret == INF


@dataclass(slots=True)
class History:
    """A parsed history: its operations and where they came from."""

    ops: list[Operation]
    source: str = "<memory>"
    format: str = ""
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def clients(self) -> list[int]:
        return sorted({op.client for op in self.ops})


@dataclass(slots=True)
class _Pending:
    line: int
    process: int
    client: int
    f: str
    key: str | None
    value: Value
    time: float


@dataclass(slots=True)
class _Done:
    pending: _Pending
    output: Value
    ret: float


class HistoryBuilder:
    """Pairs invoke and completion events per process into operations."""

    def __init__(self, source: str = "<memory>", fmt: str = "") -> None:
        self._source = source
        self._format = fmt
        self._pending: dict[int, _Pending] = {}
        self._client_of: dict[int, int] = {}
        self._retired: set[int] = set()
        self._next_client = 0
        self._done: list[_Done] = []
        self._dropped = {"fail": 0, "indeterminate-read": 0}

    def _client(self, process: int) -> int:
        if process in self._retired or process not in self._client_of:
            self._retired.discard(process)
            self._client_of[process] = self._next_client
            self._next_client += 1
        return self._client_of[process]

    def invoke(
        self, line: int, process: int, f: str, key: str | None, value: Value, time: float
    ) -> None:
        """Record the call of `f` by `process` at `time` (source `line`)."""
        if f not in KNOWN_FS:
            raise CheckError(f"line {line}: unknown op {f!r}", line=line)
        prior = self._pending.get(process)
        if prior is not None:
            raise CheckError(
                f"line {line}: process {process} invokes {f} while its {prior.f} "
                f"from line {prior.line} is still pending",
                line=line,
            )
        client = self._client(process)
        self._pending[process] = _Pending(line, process, client, f, key, value, time)

    def complete(
        self, line: int, process: int, kind: str, f: str, key: str | None, value: Value,
        time: float,
    ) -> None:
        """Record an `ok`, `fail` or `info` completion of `process`'s pending op."""
        if kind not in COMPLETIONS:
            raise CheckError(f"line {line}: unknown event type {kind!r}", line=line)
        pending = self._pending.pop(process, None)
        if pending is None:
            raise CheckError(
                f"line {line}: {kind} {f} of process {process} has no matching invoke",
                line=line,
            )
        if pending.f != f or pending.key != key:
            raise CheckError(
                f"line {line}: {kind} {f} (key {key!r}) of process {process} does not match "
                f"its invoke of {pending.f} (key {pending.key!r}) at line {pending.line}",
                line=line,
            )
        if time < pending.time:
            raise CheckError(f"line {line}: completion time is before its invoke", line=line)
        if kind == "fail":
            self._dropped["fail"] += 1
        elif kind == "info":
            self._retired.add(process)
            self._add_indeterminate(pending)
        else:
            output = value if f in READ_FS else pending.value
            self._done.append(_Done(pending, output, time))

    def _add_indeterminate(self, pending: _Pending) -> None:
        if pending.f in READ_FS:
            self._dropped["indeterminate-read"] += 1
        else:
            self._done.append(_Done(pending, None, INF))

    def finish(self) -> History:
        """Close the history: ops still pending become indeterminate."""
        for process in sorted(self._pending):
            self._add_indeterminate(self._pending[process])
        self._pending.clear()
        done = sorted(self._done, key=lambda d: (d.pending.time, d.pending.line))
        ops = [
            Operation(
                id=i, client=d.pending.client, process=d.pending.process, f=d.pending.f,
                key=d.pending.key, input=d.pending.value, output=d.output,
                call=d.pending.time, ret=d.ret, line=d.pending.line,
            )
            for i, d in enumerate(done)
        ]
        dropped = {k: v for k, v in self._dropped.items() if v}
        return History(ops=ops, source=self._source, format=self._format, dropped=dropped)


def make_history(
    rows: Iterable[tuple[int, str, str | None, Value, Value, float, float]],
    source: str = "<memory>",
) -> History:
    """Build a history directly from `(client, f, key, input, output, call, ret)` rows.

    For tests and callers that already hold complete operations; use `INF` as
    `ret` for an indeterminate op. Rows are renumbered in call order.
    """
    items = sorted(enumerate(rows), key=lambda r: (r[1][5], r[0]))
    ops: list[Operation] = []
    for i, (line, (client, f, key, inp, out, call, ret)) in enumerate(items):
        if f not in KNOWN_FS:
            raise CheckError(f"row {line}: unknown op {f!r}", line=line)
        if ret < call:
            raise CheckError(f"row {line}: return before call", line=line)
        output = None if ret == INF else out
        ops.append(Operation(i, client, client, f, key, inp, output, call, ret, line))
    return History(ops=ops, source=source, format="memory")
