"""The versioned shard map: which nodes replicate each shard and who leads it.

A `ShardMap` is immutable. `epoch` versions ownership and membership: it grows
whenever a shard's replica set or the node table changes, and a map with a
higher epoch supersedes a lower one. Leader hints are advisory (the last known
leader) and change without an epoch bump. Key ownership is recomputed from
`ring` (shard count, vnodes, hash version), never stored key by key.

Invariants, checked on construction and decoding (violations raise
`ShardingError`): shards are exactly 1..shard_count in order; every shard has
at least one replica, replicas are distinct known nodes; a leader hint is 0
(unknown) or one of the shard's replicas.

Msgpack form (format 1), a positional list:
`[1, cluster_id, epoch, [shard_count, vnodes, hash_version],
  [[node_id, address], ...ascending id], [[shard_id, [replica, ...], leader_hint], ...]]`
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import msgpack

from kvstore.sharding.errors import ShardingError
from kvstore.sharding.placement import MAX_NODE_ID, place_all
from kvstore.sharding.ring import DEFAULT_VNODES, MAX_SHARDS, HashRing, RingSpec

FORMAT_VERSION = 1
MAX_EPOCH = (1 << 64) - 1
MAX_NODES = 1_024
MAX_CLUSTER_ID_LEN = 128
MAX_ADDRESS_LEN = 256
# A map for MAX_SHARDS shards with 7 replicas each stays far below this.
MAX_ENCODED_BYTES = 16 << 20


@lru_cache(maxsize=16)
def ring_for(spec: RingSpec) -> HashRing:
    """A shared ring per spec: maps of successive epochs reuse the same ring."""
    return HashRing(spec)


def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise ShardingError(f"{what} must be an int in {lo}..{hi}, got {value!r}")
    return value


def _check_str(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise ShardingError(f"{what} must be a string of 1..{max_len} characters, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One shard: its replicas (preferred leader first) and last known leader."""

    shard_id: int
    replicas: tuple[int, ...]
    leader_hint: int = 0

    def __post_init__(self) -> None:
        _check_int(self.shard_id, "shard id", 1, MAX_SHARDS)
        if not isinstance(self.replicas, tuple) or not self.replicas:
            raise ShardingError(f"shard {self.shard_id}: replicas must be a non-empty tuple")
        for r in self.replicas:
            _check_int(r, f"shard {self.shard_id} replica", 1, MAX_NODE_ID)
        if len(set(self.replicas)) != len(self.replicas):
            raise ShardingError(f"shard {self.shard_id}: duplicate replicas {self.replicas}")
        _check_int(self.leader_hint, "leader hint", 0, MAX_NODE_ID)
        if self.leader_hint and self.leader_hint not in self.replicas:
            raise ShardingError(
                f"shard {self.shard_id}: leader hint {self.leader_hint} is not a replica"
            )


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Cluster id, epoch, ring definition, node addresses and per-shard replicas."""

    cluster_id: str
    epoch: int
    ring: RingSpec
    nodes: Mapping[int, str]
    shards: tuple[ShardInfo, ...]
    _hash_ring: HashRing | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_str(self.cluster_id, "cluster id", MAX_CLUSTER_ID_LEN)
        _check_int(self.epoch, "epoch", 0, MAX_EPOCH)
        if not isinstance(self.ring, RingSpec):
            raise ShardingError("ring must be a RingSpec")
        if not isinstance(self.nodes, Mapping) or len(self.nodes) > MAX_NODES:
            raise ShardingError(f"nodes must be a mapping of at most {MAX_NODES} entries")
        for node_id, addr in self.nodes.items():
            _check_int(node_id, "node id", 1, MAX_NODE_ID)
            _check_str(addr, f"address of node {node_id}", MAX_ADDRESS_LEN)
        object.__setattr__(self, "nodes", MappingProxyType(dict(sorted(self.nodes.items()))))
        object.__setattr__(self, "shards", tuple(self.shards))
        self._check_shards()

    def _check_shards(self) -> None:
        if len(self.shards) != self.ring.shard_count:
            raise ShardingError(
                f"shard map lists {len(self.shards)} shards, ring has {self.ring.shard_count}"
            )
        for expected, info in enumerate(self.shards, start=1):
            if not isinstance(info, ShardInfo) or info.shard_id != expected:
                raise ShardingError(f"shards must be ShardInfo for ids 1..N in order at {expected}")
            unknown = [r for r in info.replicas if r not in self.nodes]
            if unknown:
                raise ShardingError(f"shard {expected}: replicas {unknown} are not known nodes")

    @classmethod
    def build(
        cls,
        cluster_id: str,
        nodes: Mapping[int, str],
        shard_count: int,
        replication_factor: int,
        vnodes: int = DEFAULT_VNODES,
        epoch: int = 1,
    ) -> ShardMap:
        """A fresh map placing min(replication_factor, len(nodes)) replicas per shard."""
        ring = RingSpec(shard_count, vnodes)
        if not nodes:
            raise ShardingError("a shard map needs at least one node")
        placed = place_all(shard_count, nodes.keys(), replication_factor)
        shards = tuple(ShardInfo(s, placed[s]) for s in range(1, shard_count + 1))
        return cls(cluster_id, epoch, ring, nodes, shards)

    # -- lookups (client hot path) --------------------------------------------

    def shard_for_key(self, key: bytes) -> int:
        """The shard id (1..shard_count) owning `key`."""
        ring = self._hash_ring
        if ring is None:
            ring = ring_for(self.ring)
            object.__setattr__(self, "_hash_ring", ring)
        return ring.shard_for_key(key)

    def shard(self, shard_id: int) -> ShardInfo:
        """The entry of `shard_id`; ShardingError if the map has no such shard."""
        if type(shard_id) is not int or not 1 <= shard_id <= len(self.shards):
            raise ShardingError(f"no shard {shard_id!r} in a map of {len(self.shards)} shards")
        return self.shards[shard_id - 1]

    def address(self, node_id: int) -> str:
        """The address of `node_id`; ShardingError if unknown."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise ShardingError(f"unknown node {node_id!r}") from None

    # -- derived maps ---------------------------------------------------------

    def with_leader(self, shard_id: int, leader_id: int) -> ShardMap:
        """The same epoch with a new leader hint for `shard_id` (0 clears it)."""
        info = self.shard(shard_id)
        if info.leader_hint == leader_id:
            return self
        return self._replace_shard(ShardInfo(shard_id, info.replicas, leader_id), self.epoch)

    def with_replicas(self, shard_id: int, replicas: Iterable[int]) -> ShardMap:
        """The next epoch with `shard_id` replicated on `replicas`."""
        info = self.shard(shard_id)
        reps = tuple(replicas)
        hint = info.leader_hint if info.leader_hint in reps else 0
        return self._replace_shard(ShardInfo(shard_id, reps, hint), self._next_epoch())

    def with_nodes(self, nodes: Mapping[int, str]) -> ShardMap:
        """The next epoch with a new node table (every replica must stay listed)."""
        new = dataclasses.replace(self, nodes=nodes, epoch=self._next_epoch())
        object.__setattr__(new, "_hash_ring", self._hash_ring)
        return new

    def _next_epoch(self) -> int:
        if self.epoch >= MAX_EPOCH:
            raise ShardingError("epoch overflow")
        return self.epoch + 1

    def _replace_shard(self, info: ShardInfo, epoch: int) -> ShardMap:
        shards = list(self.shards)
        shards[info.shard_id - 1] = info
        new = dataclasses.replace(self, shards=tuple(shards), epoch=epoch)
        object.__setattr__(new, "_hash_ring", self._hash_ring)
        return new

    # -- msgpack form ---------------------------------------------------------

    def to_msgpack(self) -> bytes:
        body = [
            FORMAT_VERSION,
            self.cluster_id,
            self.epoch,
            [self.ring.shard_count, self.ring.vnodes, self.ring.hash_version],
            [[n, a] for n, a in self.nodes.items()],
            [[s.shard_id, list(s.replicas), s.leader_hint] for s in self.shards],
        ]
        return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def from_msgpack(cls, data: bytes) -> ShardMap:
        """Decode and validate; any malformed input raises ShardingError."""
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) > MAX_ENCODED_BYTES:
            raise ShardingError(f"shard map must be bytes of at most {MAX_ENCODED_BYTES}")
        try:
            body = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
        except (ValueError, TypeError) as e:
            raise ShardingError(f"shard map is not valid msgpack: {e}") from None
        return cls._from_body(body)

    @classmethod
    def _from_body(cls, body: Any) -> ShardMap:
        if not isinstance(body, list) or len(body) != 6:
            raise ShardingError("shard map must be a list of 6 fields")
        version, cluster_id, epoch, ring, nodes, shards = body
        if version != FORMAT_VERSION or type(version) is not int:
            raise ShardingError(f"unsupported shard map format {version!r}")
        if not isinstance(ring, list) or len(ring) != 3:
            raise ShardingError("ring must be [shard_count, vnodes, hash_version]")
        if not isinstance(nodes, list) or not isinstance(shards, list):
            raise ShardingError("nodes and shards must be lists")
        if len(nodes) > MAX_NODES:
            raise ShardingError(f"at most {MAX_NODES} nodes")
        node_table: dict[int, str] = {}
        for entry in nodes:
            if not isinstance(entry, list) or len(entry) != 2:
                raise ShardingError("a node must be [node_id, address]")
            node_id = _check_int(entry[0], "node id", 1, MAX_NODE_ID)
            if node_id in node_table:
                raise ShardingError(f"node {node_id} listed twice")
            node_table[node_id] = entry[1]
        infos = []
        for entry in shards:
            if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[1], list):
                raise ShardingError("a shard must be [shard_id, [replicas], leader_hint]")
            infos.append(ShardInfo(entry[0], tuple(entry[1]), entry[2]))
        return cls(cluster_id, epoch, RingSpec(*ring), node_table, tuple(infos))
