"""The kv layout against a dict model: long keys (> LMDB's 511-byte limit) keep get,
delete and ordered scans exact, groups stay isolated, collisions are refused."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.storage import NodeStore
from kvstore.storage.kvdata import (
    INLINE_KEY_MAX,
    _long_key,
    drop_prefix,
    kv_delete,
    kv_get,
    kv_iter,
    kv_put,
    kv_scan,
)
from kvstore.storage.layout import group_prefix

HEAD = b"k" * (INLINE_KEY_MAX - 2)
# Keys around the inline limit, sharing heads, with 0x00/0xff bytes: the hard cases.
keys = st.one_of(
    st.binary(min_size=1, max_size=6),
    st.binary(max_size=8).map(lambda t: HEAD + t),
    st.binary(max_size=4).map(lambda t: HEAD + b"\xff\xff" + t),
    st.binary(max_size=3500).map(lambda t: HEAD + b"kk" + t),
)
ops = st.lists(st.tuples(st.sampled_from(["put", "put", "del"]), keys,
                         st.binary(max_size=20)), max_size=40)


@pytest.fixture(scope="module")
def store() -> Iterator[NodeStore]:
    with tempfile.TemporaryDirectory() as d, NodeStore(d, map_size=256 << 20, sync=False) as s:
        yield s


@settings(max_examples=60, deadline=None)
@given(ops=ops, other=ops, bounds=st.lists(st.tuples(keys, st.none() | keys,
                                                     st.integers(1, 50)), max_size=6))
def test_kv_layout_matches_a_sorted_dict(store: NodeStore, ops: list[tuple[str, bytes, bytes]],
                                         other: list[tuple[str, bytes, bytes]],
                                         bounds: list[tuple[bytes, bytes | None, int]]) -> None:
    db = store.kv_db
    p1, p2 = group_prefix(1), group_prefix(2)
    with store.env.begin(write=True) as txn:
        drop_prefix(txn, db, p1)
        drop_prefix(txn, db, p2)
        models: dict[bytes, dict[bytes, bytes]] = {p1: {}, p2: {}}
        for prefix, seq in ((p1, ops), (p2, other)):
            model = models[prefix]
            for kind, key, value in seq:
                if kind == "put":
                    assert kv_put(txn, db, prefix, key, value)
                    model[key] = value
                else:
                    assert kv_delete(txn, db, prefix, key) == (model.pop(key, None) is not None)
        for prefix, model in models.items():
            for _, key, _ in ops + other:
                assert kv_get(txn, db, prefix, key) == model.get(key)
            items = sorted(model.items())
            assert kv_scan(txn, db, prefix, b"", None, 10**6) == items
            assert sorted(kv_iter(txn, db, prefix)) == items
            for start, end, limit in bounds:
                want = [kv for kv in items if kv[0] >= start and (end is None or kv[0] < end)]
                assert kv_scan(txn, db, prefix, start, end, limit) == want[:limit]
        assert drop_prefix(txn, db, p1) == len(models[p1])
        assert kv_scan(txn, db, p2, b"", None, 10**6) == sorted(models[p2].items())
        txn.abort()


def test_long_key_hash_collision_is_refused_not_overwritten(store: NodeStore) -> None:
    a, b = HEAD + b"kk-a" * 100, HEAD + b"kk-b" * 100
    prefix = group_prefix(9)
    with store.env.begin(write=True) as txn:
        # Plant b's record under a's slot: what a 128-bit collision would look like.
        txn.put(_long_key(prefix, a), len(b).to_bytes(4, "big") + b + b"vb", db=store.kv_db)
        assert kv_get(txn, store.kv_db, prefix, a) is None
        assert kv_delete(txn, store.kv_db, prefix, a) is False
        assert kv_put(txn, store.kv_db, prefix, a, b"va") is False
        assert kv_scan(txn, store.kv_db, prefix, b"", None, 10) == [(b, b"vb")]
        txn.abort()
