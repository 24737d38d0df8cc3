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

The leader policy (`LeaderPolicy`) orders each target's voters, preferred
leader first; leader balancing (kvstore.server.placement_driver) follows it.

Msgpack form (format 1): `[1, epoch, shard_count, replication,
[[node_id, address, state], ...ascending id]]`, plus, only when the leader
policy is not SPREAD, a sixth element (the policy) and, if set, a seventh (the
node that leads first).
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


class LeaderPolicy(IntEnum):
    """Where shard leaders should sit (the preferred leader is `Targets.voters[0]`).

    SPREAD (TiKV's balance-leader): each shard prefers its first placed replica,
    so leadership spreads like replicas. PACK (etcd's shape; CockroachDB's lease
    preferences pin leaders the same way): every shard prefers one node (the
    cluster's `leader_node`, else its voter with the lowest id), so one node
    leads every shard it holds and each Raft round of all shards shares that
    node's turns, transactions and peer frames (see README, Performance)."""

    SPREAD = 1
    PACK = 2

    @classmethod
    def parse(cls, name: str) -> LeaderPolicy:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ShardingError(f"unknown leader policy {name!r}: expected spread or pack"
                                ) from None


# The names configs, flags and RPCs use, in definition order (spread first).
LEADER_POLICY_NAMES = tuple(p.name.lower() for p in LeaderPolicy)


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
    leader_policy: LeaderPolicy = LeaderPolicy.SPREAD
    # PACK only: the node that leads first (0: the lowest id). While it is not
    # a voter of a group (removed, or not placed there), the lowest id leads.
    leader_node: int = 0

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
        if not isinstance(self.leader_policy, LeaderPolicy):
            raise ShardingError(f"unknown leader policy {self.leader_policy!r}")
        if self.leader_node and (self.leader_policy != LeaderPolicy.PACK
                                 or self.leader_node not in self.nodes):
            raise ShardingError(f"leader node {self.leader_node!r} needs the pack policy "
                                "and must be a member")
        object.__setattr__(self, "nodes", MappingProxyType(dict(sorted(self.nodes.items()))))

    @classmethod
    def initial(cls, peers: Mapping[int, str], shard_count: int, replication: int,
                leader_policy: LeaderPolicy = LeaderPolicy.SPREAD) -> ClusterMeta:
        """Epoch 1: every configured peer active (every first-boot node computes the same)."""
        return cls(1, shard_count, replication,
                   {n: NodeRecord(a) for n, a in peers.items()}, leader_policy)

    # --- queries -------------------------------------------------------------
    def active(self) -> list[int]:
        return [n for n, r in self.nodes.items() if r.state == NodeState.ACTIVE]

    def addresses(self) -> dict[int, str]:
        return {n: r.address for n, r in self.nodes.items()}

    def targets(self, group: int) -> Targets:
        """Target membership of `group`; group 0 also has every other active node as a learner."""
        active = self.active()
        voters = place_replicas(group, active, min(self.replication, len(active)))
        if self.leader_policy == LeaderPolicy.PACK:
            voters = tuple(sorted(voters, key=lambda n: (n != self.leader_node, n)))
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

    def with_leader_policy(self, policy: LeaderPolicy, node: int = 0) -> ClusterMeta:
        """Change where leaders sit (`node`: PACK's first leader, 0 = the lowest id).

        The next epoch, since the order of every target changes."""
        if node and (policy != LeaderPolicy.PACK or node not in self.active()):
            raise ShardingError(f"the first leader must be an active node and needs the "
                                f"pack policy (node {node})")
        if (policy, node) == (self.leader_policy, self.leader_node):
            return self
        return dataclasses.replace(self, epoch=self.epoch + 1, leader_policy=policy,
                                   leader_node=node)

    # --- msgpack form --------------------------------------------------------
    def encode(self) -> bytes:
        body: list[Any] = [META_FORMAT, self.epoch, self.shard_count, self.replication,
                           [[n, r.address, int(r.state)] for n, r in self.nodes.items()]]
        # Written only when not the default, so that a SPREAD cluster's record stays
        # what nodes without leader policies read.
        if self.leader_policy != LeaderPolicy.SPREAD:
            body.append(int(self.leader_policy))
            if self.leader_node:
                body.append(self.leader_node)
        return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> ClusterMeta:
        if not isinstance(data, bytes) or len(data) > MAX_META_BYTES:
            raise ShardingError("cluster metadata must be bytes of at most 1 MiB")
        try:
            body: Any = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
        except (ValueError, TypeError) as exc:
            raise ShardingError(f"cluster metadata is not valid msgpack: {exc}") from None
        if not isinstance(body, list) or not 5 <= len(body) <= 7 or body[0] != META_FORMAT:
            raise ShardingError("unsupported cluster metadata format")
        _, epoch, shard_count, replication, raw_nodes = body[:5]
        policy = LeaderPolicy.SPREAD
        if len(body) >= 6:
            if body[5] not in (1, 2):
                raise ShardingError(f"unknown leader policy {body[5]!r}")
            policy = LeaderPolicy(body[5])
        leader_node = body[6] if len(body) == 7 else 0
        if type(leader_node) is not int:
            raise ShardingError("the leader node must be an int")
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
        return cls(epoch, shard_count, replication, nodes, policy, leader_node)
