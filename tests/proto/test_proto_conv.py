"""ShardMap <-> admin_pb2.ClusterInfo, and Raft roles for Admin.Status."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.errors import InvalidArgument
from kvstore.proto import admin_pb2
from kvstore.proto_conv import raft_role_to_proto, shard_map_from_proto, shard_map_to_proto
from kvstore.raft.types import StateRole
from kvstore.sharding import ShardMap


@st.composite
def shard_maps(draw: st.DrawFn) -> ShardMap:
    ids = draw(st.sets(st.integers(1, (1 << 64) - 1), min_size=1, max_size=8))
    m = ShardMap.build(
        draw(st.text(min_size=1, max_size=20)),
        {n: draw(st.text(min_size=1, max_size=20)) for n in ids},
        shard_count=draw(st.integers(1, 16)), replication_factor=draw(st.integers(1, 5)),
        vnodes=draw(st.integers(1, 8)), epoch=draw(st.integers(0, (1 << 64) - 1)),
    )
    for info in m.shards:
        if draw(st.booleans()):
            m = m.with_leader(info.shard_id, draw(st.sampled_from(info.replicas)))
    return m


@settings(max_examples=50)
@given(shard_maps())
def test_round_trip_through_protobuf_bytes(m: ShardMap) -> None:
    wire = admin_pb2.ClusterInfo.FromString(shard_map_to_proto(m).SerializeToString())
    back = shard_map_from_proto(wire)
    assert back == m
    assert back.to_msgpack() == m.to_msgpack()


def test_fields_are_where_the_proto_says() -> None:
    m = ShardMap.build("c9", {5: "h:5", 2: "h:2"}, shard_count=2, replication_factor=2,
                       vnodes=16, epoch=7).with_leader(1, 5)
    msg = shard_map_to_proto(m)
    assert (msg.cluster_id, msg.epoch, msg.shard_count, msg.vnodes, msg.hash_version) == (
        "c9", 7, 2, 16, 1)
    assert [(n.id, n.address) for n in msg.nodes] == [(2, "h:2"), (5, "h:5")]
    assert [s.id for s in msg.shards] == [1, 2]
    assert msg.shards[0].leader_hint == 5 and set(msg.shards[0].replicas) == {2, 5}


def _valid() -> admin_pb2.ClusterInfo:
    m = ShardMap.build("c1", {1: "h:1", 2: "h:2"}, shard_count=2, replication_factor=2)
    return shard_map_to_proto(m)


def _dup_node(msg: admin_pb2.ClusterInfo) -> None:
    msg.nodes.add(id=1, address="h:x")


def _no_hash_version(msg: admin_pb2.ClusterInfo) -> None:
    msg.ClearField("hash_version")


def _unknown_replica(msg: admin_pb2.ClusterInfo) -> None:
    msg.shards[0].replicas.append(9)


def _missing_shard(msg: admin_pb2.ClusterInfo) -> None:
    del msg.shards[1]


def _empty_cluster(msg: admin_pb2.ClusterInfo) -> None:
    msg.cluster_id = ""


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_dup_node, "listed twice"),
        (_no_hash_version, "hash_version"),
        (_unknown_replica, "not known nodes"),
        (_missing_shard, "lists 1 shards"),
        (_empty_cluster, "cluster id"),
    ],
)
def test_invalid_cluster_info_is_invalid_argument(mutate: object, message: str) -> None:
    msg = _valid()
    assert shard_map_from_proto(msg).epoch == 1
    mutate(msg)  # type: ignore[operator]
    with pytest.raises(InvalidArgument, match=message):
        shard_map_from_proto(msg)


def test_an_empty_message_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        shard_map_from_proto(admin_pb2.ClusterInfo())


def test_every_raft_role_has_its_own_named_proto_role() -> None:
    names = {role: admin_pb2.RaftRole.Name(raft_role_to_proto(role)) for role in StateRole}
    assert names == {
        StateRole.FOLLOWER: "RAFT_ROLE_FOLLOWER",
        StateRole.PRE_CANDIDATE: "RAFT_ROLE_PRE_CANDIDATE",
        StateRole.CANDIDATE: "RAFT_ROLE_CANDIDATE",
        StateRole.LEADER: "RAFT_ROLE_LEADER",
    }
