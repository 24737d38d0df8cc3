"""Conversions between domain objects and their protobuf messages.

`kvstore/sharding` imports nothing of ours (no protobuf), so the shard map's
protobuf form, `admin_pb2.ClusterInfo`, is built and parsed here. Parsing
validates exactly as `ShardMap.from_msgpack` does and raises
`kvstore.errors.InvalidArgument` on any bad content, never a bare exception.
"""

from __future__ import annotations

from kvstore.errors import InvalidArgument
from kvstore.proto import admin_pb2
from kvstore.raft.types import StateRole
from kvstore.sharding import RingSpec, ShardInfo, ShardingError, ShardMap

_ROLES = {
    StateRole.FOLLOWER: admin_pb2.RAFT_ROLE_FOLLOWER,
    StateRole.PRE_CANDIDATE: admin_pb2.RAFT_ROLE_PRE_CANDIDATE,
    StateRole.CANDIDATE: admin_pb2.RAFT_ROLE_CANDIDATE,
    StateRole.LEADER: admin_pb2.RAFT_ROLE_LEADER,
}


def shard_map_to_proto(m: ShardMap) -> admin_pb2.ClusterInfo:
    """The ClusterInfo message for a shard map (nodes by ascending id, shards in order)."""
    return admin_pb2.ClusterInfo(
        cluster_id=m.cluster_id,
        epoch=m.epoch,
        shard_count=m.ring.shard_count,
        vnodes=m.ring.vnodes,
        hash_version=m.ring.hash_version,
        nodes=[admin_pb2.NodeInfo(id=n, address=a) for n, a in m.nodes.items()],
        shards=[
            admin_pb2.ShardInfo(id=s.shard_id, replicas=s.replicas, leader_hint=s.leader_hint)
            for s in m.shards
        ],
    )


def shard_map_from_proto(msg: admin_pb2.ClusterInfo) -> ShardMap:
    """The shard map a ClusterInfo describes; InvalidArgument if it is not a valid one."""
    try:
        nodes: dict[int, str] = {}
        for node in msg.nodes:
            if node.id in nodes:
                raise ShardingError(f"node {node.id} listed twice")
            nodes[node.id] = node.address
        shards = tuple(
            ShardInfo(s.id, tuple(s.replicas), s.leader_hint) for s in msg.shards
        )
        ring = RingSpec(msg.shard_count, msg.vnodes, msg.hash_version)
        return ShardMap(msg.cluster_id, msg.epoch, ring, nodes, shards)
    except ShardingError as e:
        raise InvalidArgument(f"invalid cluster info: {e}") from None


def raft_role_to_proto(role: StateRole) -> admin_pb2.RaftRole:
    """The Admin.Status role of a Raft core role."""
    return _ROLES[role]
