"""The stable hash functions behind the ring and replica placement (a wire format).

Clients and servers in different processes and versions must agree on which
shard owns a key and where its replicas live, so these functions are a format:
changing any byte here is a new `HASH_VERSION`, never an edit of version 1.
Python's `hash()` is never used (it is salted per process).

Hash version 1, all integers unsigned 64-bit, big-endian digest:

- `key_hash(key)`          = BLAKE2b(key, digest_size=8)
- `vnode_point(shard, v)`  = BLAKE2b(b"shard:%d:vnode:%d" % (shard, v), digest_size=8)
- `placement_score(n, s)`  = BLAKE2b(b"node:%d:shard:%d" % (n, s), digest_size=8)

with no BLAKE2 key, salt or personalisation, and the decimal numbers in ASCII.
`b2sum --length=64` computes the same digests.
"""

from __future__ import annotations

from hashlib import blake2b

HASH_VERSION = 1
SUPPORTED_HASH_VERSIONS = frozenset({1})


def key_hash(key: bytes) -> int:
    """The 64-bit ring position of a user key."""
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "big")


def vnode_point(shard_id: int, vnode: int) -> int:
    """The 64-bit ring position of virtual node `vnode` of `shard_id`."""
    return key_hash(b"shard:%d:vnode:%d" % (shard_id, vnode))


def placement_score(node_id: int, shard_id: int) -> int:
    """The rendezvous (HRW) weight of `node_id` for `shard_id`: highest wins."""
    return key_hash(b"node:%d:shard:%d" % (node_id, shard_id))
