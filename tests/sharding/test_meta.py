"""ClusterMeta: the metadata group's record (node table, epoch, target placement)."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvstore.sharding import ShardingError
from kvstore.sharding.meta import (
    META_GROUP,
    ClusterMeta,
    LeaderPolicy,
    NodeRecord,
    NodeState,
)


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


def test_spread_is_the_default_and_its_record_keeps_the_five_field_form() -> None:
    m = _meta()
    assert m.leader_policy == LeaderPolicy.SPREAD
    body = msgpack.unpackb(m.encode())
    assert len(body) == 5  # what nodes without leader policies decode


def test_pack_prefers_each_groups_lowest_voter_and_keeps_the_same_replicas() -> None:
    spread = _meta(n=5)
    pack = spread.with_leader_policy(LeaderPolicy.PACK)
    assert pack.epoch == spread.epoch + 1
    firsts = set()
    for gid in range(0, 9):
        s, p = spread.targets(gid), pack.targets(gid)
        assert sorted(s.voters) == sorted(p.voters) and s.learners == p.learners
        assert p.voters == tuple(sorted(s.voters))
        firsts.add(s.voters[0])
    assert len(firsts) > 1  # spread really spreads preferred leaders over 5 nodes
    assert pack.with_leader_policy(LeaderPolicy.PACK) is pack


def test_leader_policy_roundtrips_and_bad_values_are_refused() -> None:
    pack = _meta().with_leader_policy(LeaderPolicy.PACK)
    assert ClusterMeta.decode(pack.encode()) == pack
    back = ClusterMeta.decode(pack.with_leader_policy(LeaderPolicy.SPREAD).encode())
    assert back.leader_policy == LeaderPolicy.SPREAD and back.epoch == pack.epoch + 1
    body = msgpack.unpackb(pack.encode())
    body[5] = 7
    with pytest.raises(ShardingError, match="unknown leader policy"):
        ClusterMeta.decode(msgpack.packb(body))
    assert LeaderPolicy.parse(" Pack ") == LeaderPolicy.PACK
    with pytest.raises(ShardingError, match="expected spread or pack"):
        LeaderPolicy.parse("random")


def test_pack_puts_the_chosen_node_first_wherever_it_holds_a_replica() -> None:
    m = _meta(n=5).with_leader_policy(LeaderPolicy.PACK, 4)
    assert ClusterMeta.decode(m.encode()) == m and len(msgpack.unpackb(m.encode())) == 7
    for gid in range(1, 9):
        voters = m.targets(gid).voters
        if 4 in voters:
            assert voters[0] == 4 and list(voters[1:]) == sorted(voters[1:])
        else:
            assert list(voters) == sorted(voters)
    gone = m.without_node(4)  # a removed first leader: the lowest id leads again
    assert gone.leader_node == 4 and all(
        list(gone.targets(g).voters) == sorted(gone.targets(g).voters) for g in range(1, 9))


@pytest.mark.parametrize(("policy", "node"), [
    (LeaderPolicy.SPREAD, 2),   # a first leader only means something when packing
    (LeaderPolicy.PACK, 9),     # not a member
])
def test_a_bad_first_leader_is_refused(policy: LeaderPolicy, node: int) -> None:
    with pytest.raises(ShardingError, match="first leader must be an active node"):
        _meta().with_leader_policy(policy, node)
    with pytest.raises(ShardingError, match="needs the pack policy and must be a member"):
        ClusterMeta(1, 8, 3, _meta().nodes, policy, node)
