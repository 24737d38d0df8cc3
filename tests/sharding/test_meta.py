"""ClusterMeta: the metadata group's record (node table, epoch, target placement)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvstore.sharding import ShardingError
from kvstore.sharding.meta import META_GROUP, ClusterMeta, NodeRecord, NodeState


def _meta(n: int = 3, shards: int = 8, replication: int = 3) -> ClusterMeta:
    return ClusterMeta.initial({i: f"127.0.0.1:{7000 + i}" for i in range(1, n + 1)},
                               shards, replication)


def test_initial_record_roundtrips_and_every_node_computes_the_same() -> None:
    a, b = _meta(), _meta()
    assert a.encode() == b.encode()
    assert ClusterMeta.decode(a.encode()) == a
    assert a.epoch == 1 and a.active() == [1, 2, 3]


def test_adding_a_node_bumps_the_epoch_and_is_idempotent() -> None:
    m = _meta()
    m2 = m.with_node(4, "127.0.0.1:7004")
    assert m2.epoch == m.epoch + 1 and m2.active() == [1, 2, 3, 4]
    assert m2.with_node(4, "127.0.0.1:7004") is m2


@pytest.mark.parametrize("nid, addr, msg", [
    (3, "127.0.0.1:9999", "already a member"),
    (9, "127.0.0.1:7001", "already belongs to node 1"),
])
def test_conflicting_additions_are_refused(nid: int, addr: str, msg: str) -> None:
    with pytest.raises(ShardingError, match=msg):
        _meta().with_node(nid, addr)


def test_removed_ids_are_never_reused() -> None:
    m = _meta(4).without_node(4)
    assert m.nodes[4].state == NodeState.REMOVED and m.active() == [1, 2, 3]
    with pytest.raises(ShardingError, match="cannot be reused"):
        m.with_node(4, "127.0.0.1:7004")


def test_removal_below_the_replication_factor_is_refused() -> None:
    with pytest.raises(ShardingError, match="fewer than the replication factor"):
        _meta(3).without_node(2)
    with pytest.raises(ShardingError, match="not a member"):
        _meta(4).without_node(9)


def test_targets_use_active_nodes_only_and_group_zero_has_everyone() -> None:
    m = _meta(5).without_node(5)
    for s in range(1, 9):
        t = m.targets(s)
        assert len(t.voters) == 3 and 5 not in t.voters and t.learners == ()
    t0 = m.targets(META_GROUP)
    assert len(t0.voters) == 3
    assert sorted(t0.voters + t0.learners) == [1, 2, 3, 4]


def test_adding_a_node_moves_only_replicas_onto_it() -> None:
    m = _meta(3)
    m2 = m.with_node(4, "127.0.0.1:7004")
    for s in range(1, 9):
        before, after = set(m.targets(s).voters), set(m2.targets(s).voters)
        assert after - before <= {4}


@given(st.binary(max_size=200))
def test_decode_rejects_garbage_with_a_sharding_error(data: bytes) -> None:
    with contextlib.suppress(ShardingError):
        ClusterMeta.decode(data)


def test_invalid_records_are_refused() -> None:
    with pytest.raises(ShardingError):
        ClusterMeta(1, 8, 3, {1: NodeRecord("nohostport")})
    with pytest.raises(ShardingError, match="at least one active"):
        ClusterMeta(1, 8, 3, {1: NodeRecord("h:1", NodeState.REMOVED)})
    with pytest.raises(ShardingError, match="listed twice"):
        ClusterMeta(1, 8, 3, {1: NodeRecord("h:1"), 2: NodeRecord("h:1")})
