"""Sharding: consistent-hash ring (key -> shard), replica placement, shard map.

This package imports nothing of ours, so any layer (client, server, tools) can
use it. The hash functions in `hashing` are a format shared by all processes
and versions; see that module's docstring. Errors are `ShardingError`
(a ValueError), translated to `kvstore.errors.InvalidArgument` above.
"""

from __future__ import annotations

from kvstore.sharding.errors import ShardingError
from kvstore.sharding.hashing import HASH_VERSION, key_hash, placement_score, vnode_point
from kvstore.sharding.placement import (
    MAX_NODE_ID,
    MAX_REPLICATION_FACTOR,
    place_all,
    place_replicas,
)
from kvstore.sharding.ring import (
    DEFAULT_VNODES,
    MAX_RING_POINTS,
    MAX_SHARDS,
    MAX_VNODES,
    HashRing,
    RingSpec,
)
from kvstore.sharding.shardmap import FORMAT_VERSION, ShardInfo, ShardMap, ring_for

__all__ = [
    "DEFAULT_VNODES",
    "FORMAT_VERSION",
    "HASH_VERSION",
    "MAX_NODE_ID",
    "MAX_REPLICATION_FACTOR",
    "MAX_RING_POINTS",
    "MAX_SHARDS",
    "MAX_VNODES",
    "HashRing",
    "RingSpec",
    "ShardInfo",
    "ShardMap",
    "ShardingError",
    "key_hash",
    "place_all",
    "place_replicas",
    "placement_score",
    "ring_for",
    "vnode_point",
]
