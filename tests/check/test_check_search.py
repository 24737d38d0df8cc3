"""The checker on small hand-built histories: models, indeterminate ops, explanations."""

from __future__ import annotations

import pytest
from _check_support import assert_valid_order

from kvstore.check import INF, Verdict, check, explain, get_model, make_history
from kvstore.errors import CheckError

W, R, C = "write", "read", "cas"


def verdict(rows: list[tuple], model: str = "register") -> Verdict:
    return check(make_history(rows), model).verdict


def test_quiz_register_linearizable() -> None:
    # write(100) spans both reads; one read sees the old value, one the new.
    rows = [(0, W, None, 100, None, 0, 100), (1, R, None, None, 100, 25, 75),
            (2, R, None, None, None, 30, 60)]
    assert verdict(rows) is Verdict.LINEARIZABLE


def test_quiz_register_stale_read_after_new_value_is_illegal() -> None:
    # A read returns the new value and returns before another read starts
    # that still sees the old value: no order fits.
    rows = [(0, W, None, 200, None, 0, 100), (1, R, None, None, 200, 10, 30),
            (2, R, None, None, None, 40, 90)]
    result = check(make_history(rows), "register")
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.failing is not None
    assert result.failing.blocked == 2
    assert result.failing.order == [0, 1]


def test_touching_ops_are_concurrent() -> None:
    # The read is called exactly when the write returns: either order is allowed.
    rows = [(0, W, None, 1, None, 0, 10), (1, R, None, None, None, 10, 20)]
    assert verdict(rows) is Verdict.LINEARIZABLE


def test_sequential_stale_read_is_illegal() -> None:
    rows = [(0, W, None, 1, None, 0, 10), (1, R, None, None, None, 11, 20)]
    assert verdict(rows) is Verdict.NOT_LINEARIZABLE


def test_cas_ok_requires_matching_value() -> None:
    ok = [(0, W, None, 1, None, 0, 1), (0, C, None, (1, 2), None, 2, 3),
          (1, R, None, None, 2, 4, 5)]
    assert verdict(ok) is Verdict.LINEARIZABLE
    bad = [(0, W, None, 1, None, 0, 1), (0, C, None, (3, 2), None, 2, 3)]
    assert verdict(bad) is Verdict.NOT_LINEARIZABLE


def test_indeterminate_write_may_take_effect_late() -> None:
    rows = [(0, W, None, 1, None, 0, INF), (1, R, None, None, None, 5, 6),
            (1, R, None, None, 1, 50, 60)]
    assert verdict(rows) is Verdict.LINEARIZABLE


def test_indeterminate_write_may_never_take_effect() -> None:
    rows = [(0, W, None, 1, None, 0, INF), (1, R, None, None, None, 5, 6),
            (1, R, None, None, None, 50, 60)]
    assert verdict(rows) is Verdict.LINEARIZABLE


def test_indeterminate_write_cannot_be_undone() -> None:
    # Once a read saw it, the write happened; a later read of nil is illegal.
    rows = [(0, W, None, 1, None, 0, INF), (1, R, None, None, 1, 5, 6),
            (1, R, None, None, None, 50, 60)]
    assert verdict(rows) is Verdict.NOT_LINEARIZABLE


def test_indeterminate_write_cannot_take_effect_before_its_call() -> None:
    rows = [(1, R, None, None, 1, 0, 5), (0, W, None, 1, None, 10, INF)]
    assert verdict(rows) is Verdict.NOT_LINEARIZABLE


def test_indeterminate_cas_applies_only_on_match() -> None:
    base = [(0, W, None, 1, None, 0, 1), (1, C, None, (1, 5), None, 2, INF)]
    assert verdict([*base, (2, R, None, None, 5, 10, 11)]) is Verdict.LINEARIZABLE
    assert verdict([*base, (2, R, None, None, 1, 10, 11)]) is Verdict.LINEARIZABLE
    wrong = [(0, W, None, 1, None, 0, 1), (1, C, None, (7, 5), None, 2, INF),
             (2, R, None, None, 5, 10, 11)]
    assert verdict(wrong) is Verdict.NOT_LINEARIZABLE


def test_kv_append_and_per_key_partitions() -> None:
    rows = [(0, "append", "a", "x", None, 0, 10), (1, "append", "a", "y", None, 1, 11),
            (2, "get", "a", None, "yx", 12, 13), (3, "put", "b", "v", None, 0, 1),
            (3, "get", "b", None, "v", 2, 3), (4, "get", "c", None, None, 0, 1)]
    result = check(make_history(rows), "kv")
    assert result.verdict is Verdict.LINEARIZABLE
    assert sorted(p.key for p in result.partitions) == ["a", "b", "c"]
    bad = [*rows[:2], (2, "get", "a", None, "xyx", 12, 13)]
    result = check(make_history(bad), "kv")
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.failing is not None and result.failing.key == "a"


def test_kv_cas() -> None:
    rows = [(0, "put", "k", "a", None, 0, 1), (0, "cas", "k", ("a", "b"), None, 2, 3),
            (1, "get", "k", None, "b", 4, 5)]
    assert verdict(rows, "kv") is Verdict.LINEARIZABLE
    rows[1] = (0, "cas", "k", ("z", "b"), None, 2, 3)
    assert verdict(rows, "kv") is Verdict.NOT_LINEARIZABLE


def test_full_order_is_a_valid_linearization() -> None:
    rows = [(i % 3, W if i % 2 else R, None, i if i % 2 else None, None, i, i + 2.5)
            for i in range(12)]
    # Reads return whatever the latest write before them was, in call order.
    fixed, last = [], None
    for client, f, key, inp, _out, call, ret in rows:
        if f == W:
            last = inp
            fixed.append((client, f, key, inp, None, call, ret))
        else:
            fixed.append((client, f, key, None, last, call, ret))
    history = make_history(fixed)
    result = check(history, "register")
    assert result.verdict is Verdict.LINEARIZABLE
    assert_valid_order(history.ops, result.partitions[0].order, "register", complete=True)


def test_empty_history_is_linearizable() -> None:
    result = check(make_history([]), "kv")
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.partitions == []


def test_model_rejects_unknown_op_with_line() -> None:
    history = make_history([(0, "append", None, "x", None, 0, 1)])
    with pytest.raises(CheckError, match="op 'append' is not part of the register model"):
        check(history, "register")


def test_model_rejects_malformed_values() -> None:
    with pytest.raises(CheckError, match="cas needs"):
        check(make_history([(0, C, None, 5, None, 0, 1)]), "register")
    with pytest.raises(CheckError, match="has no key"):
        check(make_history([(0, "get", None, None, "x", 0, 1)]), "kv")
    with pytest.raises(CheckError, match="strings"):
        check(make_history([(0, "put", "k", 3, None, 0, 1)]), "kv")
    with pytest.raises(CheckError, match="unknown model"):
        check(make_history([]), "queue")


def test_explain_names_partition_and_blocked_op() -> None:
    rows = [(0, "put", "k1", "v", None, 0, 10), (1, "get", "k1", None, "w", 20, 30)]
    history = make_history(rows)
    result = check(history, "kv")
    text = explain(result, history, get_model("kv"))
    assert "key 'k1'" in text
    assert "get('k1') -> 'w'" in text
    assert "places 1 ops" in text
