"""Cluster metadata: the node table and epoch kept by the metadata Raft group.

The metadata group (group 0) replicates one record, `ClusterMeta`, through
Raft like any other value (it is stored under `META_KEY` in group 0 and
changed only by compare-and-swap). Every node hosts a replica of group 0,
as a voter or a learner, so every node knows the node table and can compute
the *target* placement of every shard from it. Placement itself is never
stored: it is `place_replicas(shard, active nodes, replication)`, the same
pure function on every node.

Node states:
- ACTIVE: receives replicas by placement;
- REMOVED: keeps its address (its replicas are still being moved away and
  it must stay reachable until then) but is never a placement target again.
  A removed id is never reused (a node's Raft id is its node id; reusing it
  with wiped state could double-vote in an old term).

Invariants (checked on construction and decoding, ShardingError otherwise):
epoch >= 1; shard_count and replication in range; node ids in 1..2**64-1
with unique host:port addresses; at least one active node (a cluster smaller
than its replication factor places every shard on all its active nodes).

Msgpack form (format 1): `[1, epoch, shard_count, replication,
[[node_id, address, state], ...ascending id]]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Any

import msgpack

from kvstore.sharding.errors import ShardingError
from kvstore.sharding.placement import MAX_NODE_ID, MAX_REPLICATION_FACTOR, place_replicas
from kvstore.sharding.ring import MAX_SHARDS

META_GROUP = 0
META_KEY = b"\x00cluster/meta"
META_FORMAT = 1
MAX_META_NODES = 1_024
MAX_META_BYTES = 1 << 20


class NodeState(IntEnum):
    ACTIVE = 1
    REMOVED = 2


@dataclass(frozen=True, slots=True)
class NodeRecord:
    address: str
    state: NodeState = NodeState.ACTIVE


@dataclass(frozen=True, slots=True)
class Targets:
    """Where one group should live: voters (preferred leader first) and learners."""

    voters: tuple[int, ...]
    learners: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterMeta:
    epoch: int
    shard_count: int
    replication: int
    nodes: Mapping[int, NodeRecord]

    def __post_init__(self) -> None:
        if type(self.epoch) is not int or self.epoch < 1:
            raise ShardingError(f"epoch must be a positive int, got {self.epoch!r}")
        if type(self.shard_count) is not int or not 1 <= self.shard_count <= MAX_SHARDS:
            raise ShardingError(f"shard_count must be in 1..{MAX_SHARDS}")
        if (type(self.replication) is not int
                or not 1 <= self.replication <= MAX_REPLICATION_FACTOR):
            raise ShardingError(f"replication must be in 1..{MAX_REPLICATION_FACTOR}")
        if not self.nodes or len(self.nodes) > MAX_META_NODES:
            raise ShardingError(f"the node table needs 1..{MAX_META_NODES} nodes")
        seen: set[str] = set()
        for nid, rec in self.nodes.items():
            if type(nid) is not int or not 1 <= nid <= MAX_NODE_ID:
                raise ShardingError(f"node ids must be ints in 1..2**64-1, got {nid!r}")
            if not isinstance(rec, NodeRecord) or not rec.address or ":" not in rec.address:
                raise ShardingError(f"node {nid}: address must be host:port")
            if rec.address in seen:
                raise ShardingError(f"address {rec.address} is listed twice")
            seen.add(rec.address)
        if not self.active():
            raise ShardingError("the cluster needs at least one active node")
        object.__setattr__(self, "nodes", MappingProxyType(dict(sorted(self.nodes.items()))))

    @classmethod
    def initial(cls, peers: Mapping[int, str], shard_count: int, replication: int
                ) -> ClusterMeta:
        """Epoch 1: every configured peer active (every first-boot node computes the same)."""
        return cls(1, shard_count, replication,
                   {n: NodeRecord(a) for n, a in peers.items()})

    # --- queries -------------------------------------------------------------
    def active(self) -> list[int]:
        return [n for n, r in self.nodes.items() if r.state == NodeState.ACTIVE]

    def addresses(self) -> dict[int, str]:
        return {n: r.address for n, r in self.nodes.items()}

    def targets(self, group: int) -> Targets:
        """Target membership of `group`; group 0 also has every other active node as a learner."""
        active = self.active()
        voters = place_replicas(group, active, min(self.replication, len(active)))
        if group != META_GROUP:
            return Targets(voters)
        return Targets(voters, tuple(n for n in active if n not in voters))

    # --- changes (each returns the next epoch) -------------------------------
    def with_node(self, node_id: int, address: str) -> ClusterMeta:
        """Add an active node. Re-adding the same (id, address) is a no-op (idempotent)."""
        rec = self.nodes.get(node_id)
        if rec is not None:
            if rec.address == address and rec.state == NodeState.ACTIVE:
                return self
            if rec.state == NodeState.REMOVED:
                raise ShardingError(f"node id {node_id} was removed and cannot be reused")
            raise ShardingError(f"node {node_id} is already a member at {rec.address}")
        for nid, r in self.nodes.items():
            if r.address == address:
                raise ShardingError(f"address {address} already belongs to node {nid}")
        nodes = dict(self.nodes)
        nodes[node_id] = NodeRecord(address)
        return dataclasses.replace(self, epoch=self.epoch + 1, nodes=nodes)

    def without_node(self, node_id: int) -> ClusterMeta:
        """Mark a node removed. Refused if fewer active nodes than replicas would remain."""
        rec = self.nodes.get(node_id)
        if rec is None:
            raise ShardingError(f"node {node_id} is not a member of this cluster")
        if rec.state == NodeState.REMOVED:
            return self
        left = len(self.active()) - 1
        if left < self.replication:
            raise ShardingError(f"removing node {node_id} would leave {left} active nodes, "
                                f"fewer than the replication factor {self.replication}")
        nodes = dict(self.nodes)
        nodes[node_id] = NodeRecord(rec.address, NodeState.REMOVED)
        return dataclasses.replace(self, epoch=self.epoch + 1, nodes=nodes)

    # --- msgpack form --------------------------------------------------------
    def encode(self) -> bytes:
        body = [META_FORMAT, self.epoch, self.shard_count, self.replication,
                [[n, r.address, int(r.state)] for n, r in self.nodes.items()]]
        return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> ClusterMeta:
        if not isinstance(data, bytes) or len(data) > MAX_META_BYTES:
            raise ShardingError("cluster metadata must be bytes of at most 1 MiB")
        try:
            body: Any = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
        except (ValueError, TypeError) as exc:
            raise ShardingError(f"cluster metadata is not valid msgpack: {exc}") from None
        if not isinstance(body, list) or len(body) != 5 or body[0] != META_FORMAT:
            raise ShardingError("unsupported cluster metadata format")
        _, epoch, shard_count, replication, raw_nodes = body
        if not isinstance(raw_nodes, list):
            raise ShardingError("nodes must be a list")
        nodes: dict[int, NodeRecord] = {}
        for entry in raw_nodes:
            if (not isinstance(entry, list) or len(entry) != 3 or type(entry[0]) is not int
                    or not isinstance(entry[1], str) or entry[2] not in (1, 2)):
                raise ShardingError("a node must be [node_id, address, state]")
            if entry[0] in nodes:
                raise ShardingError(f"node {entry[0]} listed twice")
            nodes[entry[0]] = NodeRecord(entry[1], NodeState(entry[2]))
        return cls(epoch, shard_count, replication, nodes)
