"""ShardMap: building, derived maps and epochs, msgpack round trip, validation."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.sharding import (
    HashRing,
    RingSpec,
    ShardInfo,
    ShardingError,
    ShardMap,
    place_replicas,
)
from kvstore.sharding.shardmap import MAX_ENCODED_BYTES

NODES = {1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000", 4: "10.0.0.4:7000"}


def test_build_places_every_shard_on_r_known_nodes() -> None:
    m = ShardMap.build("c1", NODES, shard_count=12, replication_factor=3, vnodes=32)
    assert m.epoch == 1 and m.ring == RingSpec(12, 32)
    assert [s.shard_id for s in m.shards] == list(range(1, 13))
    for info in m.shards:
        assert info.replicas == place_replicas(info.shard_id, NODES, 3)
        assert info.leader_hint == 0


def test_build_with_fewer_nodes_than_r_uses_every_node() -> None:
    m = ShardMap.build("c1", {7: "h:1"}, shard_count=3, replication_factor=3)
    assert all(s.replicas == (7,) for s in m.shards)


def test_shard_for_key_agrees_with_a_fresh_ring() -> None:
    m = ShardMap.build("c1", NODES, shard_count=20, replication_factor=3, vnodes=16)
    ring = HashRing(RingSpec(20, 16))
    for i in range(500):
        key = b"k%d" % i
        assert m.shard_for_key(key) == ring.shard_for_key(key)


def test_leader_hints_keep_the_epoch_and_replica_changes_bump_it() -> None:
    m = ShardMap.build("c1", NODES, shard_count=4, replication_factor=3)
    first = m.shard(2).replicas[0]
    led = m.with_leader(2, first)
    assert led.epoch == m.epoch and led.shard(2).leader_hint == first
    assert led.with_leader(2, first) is led
    others = tuple(n for n in NODES if n != first)
    moved = led.with_replicas(2, others)
    assert moved.epoch == m.epoch + 1
    assert moved.shard(2) == ShardInfo(2, others, 0)  # the old leader left: hint cleared
    assert moved.shards[0] == m.shards[0] and moved.shard_for_key(b"x") == m.shard_for_key(b"x")


def test_with_nodes_requires_every_replica_to_stay_listed() -> None:
    m = ShardMap.build("c1", NODES, shard_count=4, replication_factor=4)
    assert m.with_nodes({**NODES, 9: "h:9"}).epoch == 2
    with pytest.raises(ShardingError, match="not known nodes"):
        m.with_nodes({1: "h:1"})


def test_lookup_errors_name_the_missing_thing() -> None:
    m = ShardMap.build("c1", NODES, shard_count=4, replication_factor=3)
    with pytest.raises(ShardingError, match="no shard 5"):
        m.shard(5)
    with pytest.raises(ShardingError, match="no shard 0"):
        m.shard(0)
    with pytest.raises(ShardingError, match="unknown node 9"):
        m.address(9)
    with pytest.raises(ShardingError, match="not a replica"):
        m.with_leader(1, next(n for n in NODES if n not in m.shard(1).replicas))


@st.composite
def shard_maps(draw: st.DrawFn) -> ShardMap:
    node_ids = draw(st.sets(st.integers(1, (1 << 64) - 1), min_size=1, max_size=8))
    nodes = {n: draw(st.text(min_size=1, max_size=20)) for n in node_ids}
    m = ShardMap.build(
        draw(st.text(min_size=1, max_size=30)), nodes,
        shard_count=draw(st.integers(1, 16)), replication_factor=draw(st.integers(1, 5)),
        vnodes=draw(st.integers(1, 8)), epoch=draw(st.integers(0, (1 << 64) - 2)),
    )
    for info in m.shards:
        if draw(st.booleans()):
            m = m.with_leader(info.shard_id, draw(st.sampled_from(info.replicas)))
    return m


@settings(max_examples=50)
@given(shard_maps())
def test_msgpack_round_trip(m: ShardMap) -> None:
    assert ShardMap.from_msgpack(m.to_msgpack()) == m


def _decode_or_reject(data: bytes) -> None:
    # Any other exception type fails the test; anything accepted must round-trip.
    try:
        m = ShardMap.from_msgpack(data)
    except ShardingError:
        return
    assert ShardMap.from_msgpack(m.to_msgpack()) == m


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_raises_only_sharding_error(data: bytes) -> None:
    _decode_or_reject(data)


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=3), inner,
                                                                  max_size=3),
    max_leaves=30,
)


@settings(max_examples=300)
@given(msgpack_values)
def test_decoding_wrong_structures_raises_only_sharding_error(value: Any) -> None:
    _decode_or_reject(msgpack.packb([1, "c", 1, [2, 4, 1], [[1, "a"]], value]))


def _body() -> list[Any]:
    return [1, "c1", 3, [2, 4, 1], [[1, "a:1"], [2, "a:2"]], [[1, [1, 2], 1], [2, [2], 0]]]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ((0,), 2, "format"),
        ((1,), "", "cluster id"),
        ((2,), -1, "epoch"),
        ((3,), [3, 4, 1], "lists 2 shards"),
        ((3, 2), 9, "hash_version"),
        ((4,), [[1, "a:1"], [1, "a:2"]], "listed twice"),
        ((4, 1, 0), 0, "node id"),
        ((5, 1, 0), 1, "ids 1..N in order"),
        ((5, 0, 1), [1, 1], "duplicate replicas"),
        ((5, 0, 1), [1, 3], "not known nodes"),
        ((5, 0, 1), [], "non-empty"),
        ((5, 1, 2), 1, "not a replica"),
        ((5, 1, 2), True, "leader hint"),
    ],
)
def test_invalid_maps_are_rejected_with_a_reason(
    path: tuple[int, ...], value: Any, message: str
) -> None:
    body = _body()
    assert ShardMap.from_msgpack(msgpack.packb(body)).epoch == 3
    target = body
    for i in path[:-1]:
        target = target[i]
    target[path[-1]] = value
    with pytest.raises(ShardingError, match=message):
        ShardMap.from_msgpack(msgpack.packb(body))


def test_oversized_and_non_bytes_input_is_rejected() -> None:
    with pytest.raises(ShardingError, match="at most"):
        ShardMap.from_msgpack(b"\x90" * (MAX_ENCODED_BYTES + 1))
    with pytest.raises(ShardingError, match="bytes"):
        ShardMap.from_msgpack("not bytes")  # type: ignore[arg-type]
    with pytest.raises(ShardingError, match="not valid msgpack"):
        ShardMap.from_msgpack(b"\x91")
