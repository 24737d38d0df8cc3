"""Human-readable explanations of a check result.

Role: turn a `CheckResult` into the short text the CLI prints and the HTML
timeline shows: which partition (key) failed, which op cannot be placed, and
how far the longest partial linearization got.

Invariant: the text names ops by their source line and process, because that
is how a reader finds them in the history file.
"""

from __future__ import annotations

from kvstore.check.checker import CheckResult, Verdict
from kvstore.check.history import History, Operation
from kvstore.check.models import Model

__all__ = ["describe_op", "explain", "partition_label"]


def partition_label(key: str | None) -> str:
    return "the register" if key is None else f"key {key!r}"


def describe_op(op: Operation, model: Model) -> str:
    """E.g. `process 3 read() -> 4 (line 57)`."""
    where = f" (line {op.line})" if op.line else ""
    return f"process {op.process} {model.describe(op)}{where}"


def explain(result: CheckResult, history: History, model: Model) -> str:
    """A few lines saying why the verdict is what it is."""
    ops = history.ops
    parts = len(result.partitions)
    if result.verdict is Verdict.LINEARIZABLE:
        return (f"all {result.n_ops} ops in {parts} partition(s) have a linearization "
                f"({result.elapsed_s:.3f} s)")
    if result.verdict is Verdict.UNKNOWN:
        return f"gave up: {result.reason or 'limit reached'} after {result.elapsed_s:.3f} s"
    failing = result.failing
    assert failing is not None  # NOT_LINEARIZABLE always has an illegal partition
    lines = [f"in {partition_label(failing.key)} ({failing.n_ops} ops), "
             f"the longest partial linearization places {len(failing.order)} ops"]
    if failing.blocked is not None:
        lines.append(f"the first op that cannot be placed after it: "
                     f"{describe_op(ops[failing.blocked], model)}")
    if failing.order:
        last = ops[failing.order[-1]]
        lines.append(f"last op placed: {describe_op(last, model)}")
    return "\n".join(lines)
