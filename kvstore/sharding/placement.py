"""Replica placement by rendezvous (highest-random-weight) hashing.

A shard's replicas are the `r` nodes with the highest `placement_score(node,
shard)`, ordered by descending score (ties: smaller node id first). The first
replica is the shard's preferred leader, which spreads leaders like replicas.

Invariants (tested as properties):
- deterministic from the node set: input order and duplicates do not matter;
- replicas are distinct and there are min(r, len(nodes)) of them;
- adding a node only ever swaps that node into a shard's set (about 1/(N+1) of
  all replicas move); removing a node only replaces that node's replicas.
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import nlargest

from kvstore.sharding.errors import ShardingError
from kvstore.sharding.hashing import placement_score

MAX_NODE_ID = (1 << 64) - 1
MAX_REPLICATION_FACTOR = 7


def _check_node_ids(nodes: Iterable[int]) -> list[int]:
    ids = set(nodes)
    for n in ids:
        if type(n) is not int or not 1 <= n <= MAX_NODE_ID:
            raise ShardingError(f"node ids must be ints in 1..2**64-1, got {n!r}")
    return sorted(ids)


def place_replicas(shard_id: int, nodes: Iterable[int], replication_factor: int) -> tuple[int, ...]:
    """The replica node ids of `shard_id`, preferred leader first."""
    if type(replication_factor) is not int or not (
        1 <= replication_factor <= MAX_REPLICATION_FACTOR
    ):
        raise ShardingError(
            f"replication_factor must be in 1..{MAX_REPLICATION_FACTOR}, "
            f"got {replication_factor!r}"
        )
    ids = _check_node_ids(nodes)
    # The key sorts by score, then smaller node id, so ties resolve identically everywhere.
    best = nlargest(replication_factor, ids, key=lambda n: (placement_score(n, shard_id), -n))
    return tuple(best)


def place_all(
    shard_count: int, nodes: Iterable[int], replication_factor: int
) -> dict[int, tuple[int, ...]]:
    """Replicas for every shard 1..shard_count."""
    ids = _check_node_ids(nodes)
    return {s: place_replicas(s, ids, replication_factor) for s in range(1, shard_count + 1)}
