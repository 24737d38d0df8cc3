"""Shared helpers for the checker tests: test data location, hard histories,
and an independent validator of (partial) linearizations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kvstore.check import History, Operation, get_model, make_history
from kvstore.check.models import ILLEGAL

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / ".." / "shared" / "testdata" / "porcupine"


def verdict_rows() -> list[tuple[str, str]]:
    """(relative file, expected) for every file that has a verdict."""
    rows = []
    for line in (TESTDATA / "VERDICTS.tsv").read_text().splitlines()[1:]:
        if line.strip():
            name, expected = line.split("\t")
            rows.append((name, expected.strip()))
    return rows


def model_for(name: str) -> str:
    return "kv" if name.startswith("kv/") else "register"


def hard_history(n_writes: int, key: str | None = None, client0: int = 0) -> list[tuple]:
    """Rows of n concurrent writes and a read of a value nobody wrote.

    Not linearizable, and proving it means visiting every subset of the writes,
    so the search is exponential in `n_writes`.
    """
    f_write, f_read = ("write", "read") if key is None else ("put", "get")
    rows: list[tuple] = [
        (client0 + i, f_write, key, str(i), None, float(i), 1000.0) for i in range(n_writes)
    ]
    rows.append((client0 + n_writes, f_read, key, None, "never-written", 0.5, 999.0))
    return rows


def hard(n_writes: int) -> History:
    return make_history(hard_history(n_writes))


def assert_valid_order(ops: Sequence[Operation], order: Sequence[int], model_name: str,
                       *, complete: bool) -> None:
    """Check that `order` (op ids) is a legal, real-time-respecting sequence.

    With `complete`, every op that returned must appear (indeterminate ops may
    be absent only if they could be placed last, which a full order includes).
    """
    by_id = {op.id: op for op in ops}
    model = get_model(model_name)
    assert len(set(order)) == len(order), "an op is linearized twice"
    state = model.initial()
    for op_id in order:
        state = model.step_fn(by_id[op_id])(state)
        assert state is not ILLEGAL, f"op {op_id} is illegal in the claimed order"
    placed = set(order)
    for pos, op_id in enumerate(order):
        later_ret = by_id[op_id]
        for earlier_id in order[:pos]:
            # An op placed earlier must not have been called after this one returned.
            assert by_id[earlier_id].call <= later_ret.ret
        # Every op that returned before this one was called must already be placed.
        for other in ops:
            if other.ret < later_ret.call:
                assert other.id in placed and order.index(other.id) < pos
    if complete:
        assert placed == {op.id for op in ops}
