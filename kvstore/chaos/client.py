"""Chaos clients: `KVClient`s that reach every node only through its client proxy.

A node's `Admin.ClusterInfo` answers with the addresses of ITS peers table,
which under chaos are that node's peer-link proxies, not addresses a client
should use. `open_client` therefore pins each node id to the client proxy of
that node (`address_overrides`), so that cutting a client link really cuts
the clients off, and cutting a peer link never does.

Invariant: every address the client dials is one of the override addresses.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from kvstore.client import KVClient
from kvstore.client.breaker import CircuitBreaker
from kvstore.client.router import Router
from kvstore.errors import KVError
from kvstore.sharding import ShardMap


class OverrideRouter(Router):
    """A router whose shard maps name the given address for each overridden node."""

    def __init__(self, address_overrides: Mapping[int, str]) -> None:
        super().__init__(CircuitBreaker)
        self.address_overrides = dict(address_overrides)

    def set_map(self, m: ShardMap) -> None:
        nodes = {nid: self.address_overrides.get(nid, addr) for nid, addr in m.nodes.items()}
        super().set_map(dataclasses.replace(m, nodes=nodes))


def make_client(address_overrides: Mapping[int, str], *, timeout: float,
                consistency: str = "linearizable", seed: int | None = None) -> KVClient:
    """A client with a fresh session whose every connection goes through the overrides."""
    kv = KVClient(list(address_overrides.values()), consistency=consistency, timeout=timeout,
                  rpc_timeout=min(timeout, 1.0), seed=seed)
    kv.router = OverrideRouter(address_overrides)
    return kv


async def connect_client(address_overrides: Mapping[int, str], *, timeout: float,
                         consistency: str, seed: int, give_up: asyncio.Event
                         ) -> KVClient | None:
    """Open a client, retrying while no node answers, until `give_up` is set."""
    while not give_up.is_set():
        kv = make_client(address_overrides, timeout=timeout, consistency=consistency,
                         seed=seed)
        try:
            await asyncio.wait_for(kv.connect(), timeout + 1.0)
            return kv
        except (KVError, TimeoutError):
            await kv.aclose()
            await asyncio.sleep(0.2)
    return None
