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
from collections.abc import Mapping

from kvstore.client import KVClient
from kvstore.errors import KVError


def make_client(address_overrides: Mapping[int, str], *, timeout: float,
                consistency: str = "linearizable", seed: int | None = None,
                link_overrides: Mapping[int, str] | None = None) -> KVClient:
    """A client with a fresh session whose every connection goes through the overrides
    (its raw batch links through `link_overrides`; without them it uses gRPC streams)."""
    return KVClient(list(address_overrides.values()), consistency=consistency, timeout=timeout,
                    rpc_timeout=min(timeout, 1.0), seed=seed,
                    address_overrides=address_overrides, link_overrides=link_overrides)


async def connect_client(address_overrides: Mapping[int, str], *, timeout: float,
                         consistency: str, seed: int, give_up: asyncio.Event,
                         link_overrides: Mapping[int, str] | None = None
                         ) -> KVClient | None:
    """Open a client, retrying while no node answers, until `give_up` is set."""
    while not give_up.is_set():
        kv = make_client(address_overrides, timeout=timeout, consistency=consistency,
                         seed=seed, link_overrides=link_overrides)
        try:
            await asyncio.wait_for(kv.connect(), timeout + 1.0)
            return kv
        except (KVError, TimeoutError):
            await kv.aclose()
            await asyncio.sleep(0.2)
    return None
