"""Property tests: histories produced by running a real sequential model are
linearizable; one read changed to an impossible value makes them not; and on
tiny random histories the checker agrees with a brute-force search."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from _check_support import assert_valid_order
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.check import INF, Verdict, check, make_history

IMPOSSIBLE = {"register": -1, "kv": "never-appended"}


@dataclass
class Spec:
    model: str
    rows: list[tuple]


def _apply(model: str, state: object, f: str, inp: object) -> tuple[bool, object, object]:
    """Reference semantics, written independently of kvstore.check.models.

    Returns (took effect / succeeded, new state, output).
    """
    if f in ("read", "get"):
        return True, state, state
    if f in ("write", "put"):
        return True, inp, None
    if f == "append":
        return True, str(state) + str(inp), None
    frm, to = inp  # type: ignore[misc]
    return (True, to, None) if state == frm else (False, state, None)


@st.composite
def sequential_histories(draw: st.DrawFn) -> Spec:
    """Run the model at distinct linearization points 10*i; each op's interval
    [call, ret] contains its point, so intervals overlap at random."""
    model = draw(st.sampled_from(["register", "kv"]))
    keys = [None] if model == "register" else ["a", "b", "c"]
    fs = ("read", "write", "cas") if model == "register" else ("get", "put", "append", "cas")
    values = st.integers(0, 4) if model == "register" else st.sampled_from(["x", "y", "z"])
    states = {k: (None if model == "register" else "") for k in keys}
    rows: list[tuple] = []
    busy_until: list[float] = []
    for i in range(draw(st.integers(1, 40))):
        key = draw(st.sampled_from(keys))
        f = draw(st.sampled_from(fs))
        if f == "cas":
            frm = states[key] if draw(st.booleans()) else draw(values)
            inp: object = (frm, draw(values))
        else:
            inp = None if f in ("read", "get") else draw(values)
        indeterminate = f not in ("read", "get") and draw(st.integers(0, 9)) == 0
        never_applied = indeterminate and draw(st.booleans())
        if never_applied:
            ok, out = True, None  # crashed before reaching the store
        else:
            ok, states[key], out = _apply(model, states[key], f, inp)
        if not ok:
            continue  # a cas that did not match would be a :fail, which is dropped
        point = 10.0 * i
        call = point - draw(st.integers(0, 30))
        ret = INF if indeterminate else point + draw(st.integers(0, 30))
        # Each client is sequential: reuse one whose last op has returned.
        client = next((c for c, t in enumerate(busy_until) if t < call), len(busy_until))
        if client == len(busy_until):
            busy_until.append(ret)
        busy_until[client] = ret
        rows.append((client, f, key, inp, out, call, ret))
    return Spec(model, rows)


@settings(max_examples=150, deadline=None)
@given(sequential_histories())
def test_model_generated_histories_are_linearizable(spec: Spec) -> None:
    history = make_history(spec.rows)
    result = check(history, spec.model, timeout_s=20)
    assert result.verdict is Verdict.LINEARIZABLE
    by_key: dict[object, list] = {}
    for op in history.ops:
        by_key.setdefault(op.key, []).append(op)
    for part in result.partitions:
        assert_valid_order(by_key[part.key], part.order, spec.model, complete=True)


@settings(max_examples=150, deadline=None)
@given(sequential_histories(), st.data())
def test_one_impossible_read_makes_it_not_linearizable(spec: Spec, data: st.DataObject) -> None:
    reads = [i for i, row in enumerate(spec.rows)
             if row[1] in ("read", "get") and row[6] != INF]
    rows = list(spec.rows)
    if reads:
        i = data.draw(st.sampled_from(reads))
        client, f, key, inp, _out, call, ret = rows[i]
        rows[i] = (client, f, key, inp, IMPOSSIBLE[spec.model], call, ret)
    else:
        f = "read" if spec.model == "register" else "get"
        key = None if spec.model == "register" else "a"
        rows.append((999, f, key, None, IMPOSSIBLE[spec.model], 0.0, 1e9))
    result = check(make_history(rows), spec.model, timeout_s=20)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.failing is not None and result.failing.blocked is not None


def _brute_force(rows: list[tuple]) -> bool:
    """Try every order of every subset that contains all completed ops."""
    n = len(rows)
    completed = {i for i, r in enumerate(rows) if r[6] != INF}
    optional = [i for i in range(n) if i not in completed]
    for k in range(len(optional) + 1):
        for extra in itertools.combinations(optional, k):
            chosen = sorted(completed | set(extra))
            for order in itertools.permutations(chosen):
                if _legal(rows, order):
                    return True
    return False


def _legal(rows: list[tuple], order: tuple[int, ...]) -> bool:
    for a, b in itertools.combinations(order, 2):
        if rows[b][6] < rows[a][5]:  # b returned before a was called, yet follows a
            return False
    state: object = None
    for i in order:
        _client, f, _key, inp, out, _call, ret = rows[i]
        ok, new_state, got = _apply("register", state, f, inp)
        if not ok or (f == "read" and ret != INF and got != out):
            return False
        state = new_state
    return True


@st.composite
def tiny_random_histories(draw: st.DrawFn) -> list[tuple]:
    rows = []
    for client in range(draw(st.integers(1, 6))):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        v = st.sampled_from([None, 1, 2]) if f == "read" else st.sampled_from([1, 2])
        inp = (draw(v), draw(v)) if f == "cas" else (None if f == "read" else draw(v))
        out = draw(v) if f == "read" else None
        call = draw(st.integers(0, 10))
        ret = INF if draw(st.integers(0, 5)) == 0 else call + draw(st.integers(0, 6))
        rows.append((client, f, None, inp, out, float(call), float(ret)))
    return rows


@settings(max_examples=300, deadline=None)
@given(tiny_random_histories())
def test_agrees_with_brute_force_on_tiny_histories(rows: list[tuple]) -> None:
    # make_history sorts by call time; the brute force sees the same rows.
    history = make_history(rows)
    ordered = [(op.client, op.f, op.key, op.input, op.output, op.call, op.ret)
               for op in history.ops]
    expected = Verdict.LINEARIZABLE if _brute_force(ordered) else Verdict.NOT_LINEARIZABLE
    assert check(history, "register").verdict is expected
