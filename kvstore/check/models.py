"""Sequential specifications the checker tests histories against.

Role: a model says which state a key starts in and, for each op, which state
follows from a given state, or that the op is illegal there. Two models:
- `register`: one value per key (usually one key), initially nil (None), with
  read, write and cas(from, to);
- `kv`: one string per key, initially "", with get, put, append and cas.
Both are P-compositional: ops on different keys never interact, so the
checker checks each key (a partition) on its own.

Invariants:
- States are hashable and immutable (they go into the memo cache).
- `step_fn(op)` returns a one-argument function: state -> next state, or
  `ILLEGAL`. It is built once per op so that the search loop pays one call per
  step and no dispatch on the op kind.
- An indeterminate op (`op.indeterminate`) has no known output, so it is
  legal in every state: a write applies; a cas applies iff its `from` matches.
  "It never took effect" is covered by the search placing it after all
  completed ops (its return time is +inf).
- `validate(op)` raises `CheckError` naming the op's line for an op the model
  does not know or a malformed value; the checker calls it before searching.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Final, Protocol

from kvstore.check.history import Operation, Value
from kvstore.errors import CheckError

__all__ = ["ILLEGAL", "MODELS", "KVModel", "Model", "RegisterModel", "StepFn", "get_model"]


class _Illegal:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ILLEGAL"


#: Returned by a step function when the op cannot happen in that state.
ILLEGAL: Final = _Illegal()

StepFn = Callable[[Hashable], Hashable]


class Model(Protocol):
    """What the checker needs from a sequential specification."""

    name: str
    fs: tuple[str, ...]

    def initial(self) -> Hashable: ...

    def validate(self, op: Operation) -> None: ...

    def step_fn(self, op: Operation) -> StepFn: ...

    def describe(self, op: Operation) -> str: ...


def _show(value: Value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _cas_step(frm: Value, to: Value, indeterminate: bool) -> StepFn:
    if indeterminate:
        return lambda s: to if s == frm else s
    return lambda s: to if s == frm else ILLEGAL


def _read_step(op: Operation, expected: Value) -> StepFn:
    if op.indeterminate:
        # An unknown read result constrains nothing.
        return lambda s: s
    return lambda s: s if s == expected else ILLEGAL


def _const_step(value: Value) -> StepFn:
    return lambda s: value


def _bad(op: Operation, message: str) -> CheckError:
    return CheckError(f"line {op.line}: {message}", line=op.line, op=op.id)


def _check_cas(op: Operation) -> None:
    if not (isinstance(op.input, tuple) and len(op.input) == 2):
        raise _bad(op, f"cas needs [from to], got {_show(op.input)}")


def _pair(op: Operation) -> tuple[Value, Value]:
    """The (from, to) of a validated cas."""
    pair: tuple[Value, Value] = op.input  # type: ignore[assignment]
    return pair


class _Base:
    name: str = ""
    fs: tuple[str, ...] = ()

    def _check_known(self, op: Operation) -> None:
        if op.f not in self.fs:
            raise _bad(op, f"op {op.f!r} is not part of the {self.name} model "
                           f"({', '.join(self.fs)})")

    def _result(self, op: Operation, shown: str) -> str:
        if op.indeterminate:
            return f"{shown} -> ? (indeterminate)"
        return shown


class RegisterModel(_Base):
    """A register per key holding any value, initially nil."""

    name: str = "register"
    fs: tuple[str, ...] = ("read", "write", "cas")

    def initial(self) -> Hashable:
        return None

    def validate(self, op: Operation) -> None:
        self._check_known(op)
        if op.f == "cas":
            _check_cas(op)

    def step_fn(self, op: Operation) -> StepFn:
        if op.f == "read":
            return _read_step(op, op.output)
        if op.f == "write":
            return _const_step(op.input)
        frm, to = _pair(op)
        return _cas_step(frm, to, op.indeterminate)

    def describe(self, op: Operation) -> str:
        if op.f == "read":
            return f"read() -> {_show(op.output)}"
        if op.f == "write":
            return self._result(op, f"write({_show(op.input)})")
        frm, to = _pair(op)
        shown = f"cas({_show(frm)}, {_show(to)})"
        return self._result(op, shown) if op.indeterminate else f"{shown} -> ok"


class KVModel(_Base):
    """A string per key, initially "" (a get of an absent key reads "" or nil)."""

    name: str = "kv"
    fs: tuple[str, ...] = ("get", "put", "append", "cas")

    def initial(self) -> Hashable:
        return ""

    def validate(self, op: Operation) -> None:
        self._check_known(op)
        if op.key is None:
            raise _bad(op, f"kv op {op.f!r} has no key")
        if op.f == "cas":
            _check_cas(op)
            values: tuple[Value, ...] = op.input  # type: ignore[assignment]
        elif op.f == "get":
            values = (op.output,)
        else:
            values = (op.input,)
        for value in values:
            if value is not None and not isinstance(value, str):
                raise _bad(op, f"kv values are strings, got {_show(value)}")
        if op.f in ("put", "append") and op.input is None:
            raise _bad(op, f"{op.f} needs a value")

    def step_fn(self, op: Operation) -> StepFn:
        if op.f == "get":
            return _read_step(op, "" if op.output is None else op.output)
        if op.f == "put":
            return _const_step(op.input)
        if op.f == "append":
            suffix = op.input
            return lambda s: s + suffix  # type: ignore[operator]
        frm, to = _pair(op)
        return _cas_step("" if frm is None else frm, "" if to is None else to, op.indeterminate)

    def describe(self, op: Operation) -> str:
        if op.f == "get":
            return f"get({op.key!r}) -> {_show(op.output)}"
        if op.f in ("put", "append"):
            return self._result(op, f"{op.f}({op.key!r}, {_show(op.input)})")
        frm, to = _pair(op)
        shown = f"cas({op.key!r}, {_show(frm)}, {_show(to)})"
        return self._result(op, shown) if op.indeterminate else f"{shown} -> ok"


MODELS: dict[str, Model] = {"register": RegisterModel(), "kv": KVModel()}


def get_model(name: str) -> Model:
    """The model called `name`; an unknown name is a `CheckError`."""
    try:
        return MODELS[name]
    except KeyError:
        raise CheckError(f"unknown model {name!r}; expected one of "
                         f"{', '.join(sorted(MODELS))}") from None
