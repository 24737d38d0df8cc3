"""Consistent-hash ring of shards with virtual nodes: key (bytes) -> shard id.

Shards are numbered 1..shard_count (0 is reserved for a future metadata group).
Each shard owns `vnodes` points on a 64-bit ring (`hashing.vnode_point`); a key
belongs to the shard owning the first point at or clockwise after
`hashing.key_hash(key)`, wrapping past 2**64 - 1 to the lowest point.

Invariants:
- The mapping depends only on (shard_count, vnodes, hash_version), so any
  process can rebuild it from a `RingSpec`; equal points are ordered by
  (shard, vnode) so even a hash collision resolves the same way everywhere.
- Growing the ring from S to S+1 shards only moves keys onto shard S+1.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from kvstore.sharding.errors import ShardingError
from kvstore.sharding.hashing import HASH_VERSION, SUPPORTED_HASH_VERSIONS, key_hash, vnode_point

MAX_SHARDS = 65_536
MAX_VNODES = 4_096
# Bounds the ring's memory and build time (about 1 s of hashing at the limit).
MAX_RING_POINTS = 1 << 20
DEFAULT_VNODES = 128

_RING_SIZE = 1 << 64


@dataclass(frozen=True, slots=True)
class RingSpec:
    """Everything needed to recompute key ownership."""

    shard_count: int
    vnodes: int = DEFAULT_VNODES
    hash_version: int = HASH_VERSION

    def __post_init__(self) -> None:
        for name in ("shard_count", "vnodes", "hash_version"):
            value = getattr(self, name)
            if type(value) is not int:
                raise ShardingError(f"ring {name} must be an int, got {type(value).__name__}")
        if not 1 <= self.shard_count <= MAX_SHARDS:
            raise ShardingError(f"shard_count must be in 1..{MAX_SHARDS}, got {self.shard_count}")
        if not 1 <= self.vnodes <= MAX_VNODES:
            raise ShardingError(f"vnodes must be in 1..{MAX_VNODES}, got {self.vnodes}")
        if self.shard_count * self.vnodes > MAX_RING_POINTS:
            raise ShardingError(
                f"shard_count * vnodes must be at most {MAX_RING_POINTS}, "
                f"got {self.shard_count * self.vnodes}"
            )
        if self.hash_version not in SUPPORTED_HASH_VERSIONS:
            raise ShardingError(
                f"unsupported hash_version {self.hash_version} "
                f"(supported: {sorted(SUPPORTED_HASH_VERSIONS)})"
            )


class HashRing:
    """An immutable ring built from a `RingSpec`; `shard_for_key` is the hot path."""

    __slots__ = ("_owners", "_points", "spec")

    def __init__(self, spec: RingSpec) -> None:
        self.spec = spec
        ring = sorted(
            (vnode_point(shard, v), shard, v)
            for shard in range(1, spec.shard_count + 1)
            for v in range(spec.vnodes)
        )
        self._points = [p for p, _, _ in ring]
        self._owners = [s for _, s, _ in ring]

    def shard_for_key(self, key: bytes) -> int:
        """The shard id (1..shard_count) that owns `key`."""
        return self.shard_for_hash(key_hash(key))

    def shard_for_hash(self, h: int) -> int:
        """The shard owning ring position `h` (0 <= h < 2**64)."""
        i = bisect_left(self._points, h)
        return self._owners[i if i < len(self._owners) else 0]

    def ownership(self) -> dict[int, float]:
        """The exact fraction of the 64-bit hash space each shard owns."""
        share = dict.fromkeys(range(1, self.spec.shard_count + 1), 0)
        prev = self._points[-1] - _RING_SIZE
        for point, owner in zip(self._points, self._owners, strict=True):
            share[owner] += point - prev
            prev = point
        return {s: n / _RING_SIZE for s, n in share.items()}
