"""Consistent-hash ring: golden mapping, exact movement on growth, balance, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvstore.sharding import MAX_SHARDS, MAX_VNODES, HashRing, RingSpec, ShardingError, key_hash

RING_SIZE = 1 << 64


def test_golden_key_to_shard_mapping() -> None:
    # Pins the ring algorithm (points, ordering, clockwise lookup), not only the hash.
    ring = HashRing(RingSpec(8, 16))
    keys = [b"", b"a", b"hello", b"user:42", bytes(range(256))]
    assert [ring.shard_for_key(k) for k in keys] == [6, 4, 2, 3, 7]


@given(st.integers(1, 40), st.integers(1, 64), st.binary(max_size=64))
def test_every_key_maps_to_a_shard_in_range(shards: int, vnodes: int, key: bytes) -> None:
    ring = HashRing(RingSpec(shards, vnodes))
    assert 1 <= ring.shard_for_key(key) <= shards
    assert ring.shard_for_key(key) == ring.shard_for_hash(key_hash(key))


def test_lookup_wraps_past_the_highest_point() -> None:
    ring = HashRing(RingSpec(5, 8))
    first_owner = ring.shard_for_hash(0)
    assert ring.shard_for_hash(RING_SIZE - 1) == first_owner


def _boundaries(*rings: HashRing) -> list[int]:
    # The owner is constant on each arc (p_i, p_i+1] of the union of both rings'
    # points, so evaluating at every point covers the whole hash space exactly.
    points: set[int] = set()
    for r in rings:
        points.update(r._points)
    return sorted(points)


@pytest.mark.parametrize("shards", range(1, 33))
def test_growing_by_one_shard_moves_only_keys_onto_the_new_shard(shards: int) -> None:
    old, new = HashRing(RingSpec(shards, 64)), HashRing(RingSpec(shards + 1, 64))
    for p in _boundaries(old, new):
        before, after = old.shard_for_hash(p), new.shard_for_hash(p)
        assert after in (before, shards + 1)
    moved = new.ownership()[shards + 1]
    # About 1/(S+1) of the space moves; 64 vnodes keep it within 1.5x of that.
    assert 0 < moved <= 1.5 / (shards + 1)


def test_ownership_sums_to_one_and_is_balanced_with_128_vnodes() -> None:
    share = HashRing(RingSpec(64, 128)).ownership()
    assert sum(share.values()) == pytest.approx(1.0, abs=1e-12)
    # Deterministic (the hash is a format): measured 0.80..1.23 of the fair share.
    assert min(share.values()) >= 0.75 / 64 and max(share.values()) <= 1.3 / 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 16), "shard_count"),
        ((4, 0), "vnodes"),
        ((MAX_SHARDS, MAX_VNODES), "shard_count \\* vnodes"),
        ((4, 16, 2), "hash_version"),
        ((True, 16), "must be an int"),
        (("4", 16), "must be an int"),
    ],
)
def test_bad_ring_specs_are_rejected(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ShardingError, match=message):
        RingSpec(*args)  # type: ignore[arg-type]
