"""Client-side routing: key -> shard (consistent-hash ring) -> replica address.

The router caches the cluster's `ShardMap` (bootstrapped from any endpoint via
Admin.ClusterInfo) and a leader per shard. Leader hints from NOT_LEADER
errors update the cache immediately; WRONG_SHARD or an unknown shard forces a
map refresh. Replica choice for follower reads rotates over the replicas whose
circuit breaker admits a call. `address_overrides` (node id -> address)
replace the addresses a shard map names, for clients that must reach nodes
another way than the nodes' own peer tables say (e.g. through the chaos
harness's proxies).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping

from kvstore.client.breaker import CircuitBreaker
from kvstore.errors import InvalidArgument, Unavailable
from kvstore.sharding import ShardMap


class Router:
    def __init__(self, breaker_factory: Callable[[], CircuitBreaker],
                 address_overrides: Mapping[int, str] | None = None) -> None:
        self.address_overrides = dict(address_overrides or {})
        self.map: ShardMap | None = None
        self.leaders: dict[int, int] = {}
        self.breakers: dict[str, CircuitBreaker] = {}
        self._breaker_factory = breaker_factory
        self._rr = itertools.count()

    def set_map(self, m: ShardMap) -> None:
        if self.map is not None and m.epoch < self.map.epoch:
            return  # never go back to an older epoch
        if self.address_overrides:
            m = dataclasses.replace(m, nodes={n: self.address_overrides.get(n, a)
                                              for n, a in m.nodes.items()})
        self.map = m
        for info in m.shards:
            if info.leader_hint and info.shard_id not in self.leaders:
                self.leaders[info.shard_id] = info.leader_hint
            if self.leaders.get(info.shard_id) not in info.replicas:
                self.leaders[info.shard_id] = info.leader_hint or info.replicas[0]

    def require_map(self) -> ShardMap:
        if self.map is None:
            raise Unavailable("no shard map yet: no endpoint answered ClusterInfo")
        return self.map

    def shard_for(self, key: bytes) -> int:
        return self.require_map().shard_for_key(key)

    def shard_ids(self) -> list[int]:
        return [s.shard_id for s in self.require_map().shards]

    def breaker(self, addr: str) -> CircuitBreaker:
        b = self.breakers.get(addr)
        if b is None:
            b = self.breakers[addr] = self._breaker_factory()
        return b

    def leader_addr(self, shard: int) -> str:
        """The cached leader's address, or another replica if its breaker is open."""
        m = self.require_map()
        info = m.shard(shard)
        lead = self.leaders.get(shard, info.replicas[0])
        addr = m.address(lead)
        if self.breaker(addr).allow():
            return addr
        # Leader believed dead: ask another replica (it answers with a fresh hint).
        for r in info.replicas:
            other = m.address(r)
            if other != addr and self.breaker(other).allow():
                return other
        raise Unavailable(f"no reachable replica for shard {shard}: all "
                          f"{len(info.replicas)} circuit breakers are open")

    def replica_addr(self, shard: int) -> str:
        """Any replica (rotating) whose breaker admits a call: follower reads."""
        m = self.require_map()
        replicas = m.shard(shard).replicas
        start = next(self._rr)
        for i in range(len(replicas)):
            addr = m.address(replicas[(start + i) % len(replicas)])
            if self.breaker(addr).allow():
                return addr
        raise Unavailable(f"no reachable replica for shard {shard}: all "
                          f"{len(replicas)} circuit breakers are open")

    def note_leader(self, shard: int, leader_id: int) -> None:
        if self.map is None or leader_id == 0:
            return
        # Any cluster node may lead after membership changes; the map's replica
        # list is the static placement, so trust the hint if the node exists.
        if leader_id in self.map.nodes:
            self.leaders[shard] = leader_id

    def rotate_leader(self, shard: int) -> None:
        """No hint known: try the next replica as leader."""
        m = self.require_map()
        replicas = m.shard(shard).replicas
        cur = self.leaders.get(shard, replicas[0])
        i = replicas.index(cur) if cur in replicas else -1
        self.leaders[shard] = replicas[(i + 1) % len(replicas)]

    def all_addresses(self) -> list[str]:
        return list(self.require_map().nodes.values())


def check_key(key: object) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise InvalidArgument(f"keys must be bytes, got {type(key).__name__}")
    k = bytes(key)
    if not k:
        raise InvalidArgument("keys must not be empty")
    return k


def check_value(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidArgument(f"values must be bytes, got {type(value).__name__}")
    return bytes(value)
