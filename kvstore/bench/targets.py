"""The two systems under test as seen by a benchmark worker: `put(key)` and `get(key)`.

- `KVStoreTarget` uses the real `KVClient`, exactly as an application would:
  routing, coalescing of concurrent ops into Batch RPCs, sessions, retries.
- `EtcdTarget` is a plain grpc.aio client of etcd's v3 KV API: one Put or Range
  RPC per op on one channel to the leader (etcd's best case: no forwarding),
  linearizable Range unless the level maps to serializable.

`get` returns whether the key was found, so a benchmark can report misses (a
get workload whose preload failed would otherwise look fast). Both targets
raise on failure; the driver counts errors. `preload()` writes every key once
so reads measure real lookups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import grpc

from kvstore.bench.config import ETCD_READ_MODE
from kvstore.bench.etcd import etcd_rpc_pb2 as etcd_pb
from kvstore.bench.etcd import etcd_rpc_pb2_grpc as etcd_grpc
from kvstore.client import KVClient
from kvstore.errors import InvalidArgument

SYSTEMS = ("kvstore", "etcd")


class Target(Protocol):
    async def open(self) -> None: ...
    async def put(self, key: bytes) -> None: ...
    async def get(self, key: bytes) -> bool: ...
    def stats(self) -> dict[str, int]: ...
    async def aclose(self) -> None: ...


class KVStoreTarget:
    def __init__(self, endpoints: Sequence[str], consistency: str, value: bytes,
                 rpc_timeout_s: float) -> None:
        self.value = value
        self.consistency = consistency
        self.client = KVClient(list(endpoints), consistency=consistency,
                               timeout=max(10.0, 2 * rpc_timeout_s), rpc_timeout=rpc_timeout_s)

    async def open(self) -> None:
        await self.client.connect()

    async def put(self, key: bytes) -> None:
        await self.client.put(key, self.value)

    async def get(self, key: bytes) -> bool:
        return await self.client.get(key, consistency=self.consistency) is not None

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.client.stats().items()}

    async def aclose(self) -> None:
        await self.client.aclose()


class EtcdTarget:
    def __init__(self, endpoints: Sequence[str], consistency: str, value: bytes,
                 rpc_timeout_s: float) -> None:
        if not endpoints:
            raise InvalidArgument("etcd target needs an endpoint")
        self.value = value
        self.timeout = rpc_timeout_s
        self.serializable = ETCD_READ_MODE[consistency] == "serializable"
        self.channel = grpc.aio.insecure_channel(endpoints[0])
        self.stub = etcd_grpc.KVStub(self.channel)
        self.calls = 0

    async def open(self) -> None:
        await asyncio.wait_for(self.channel.channel_ready(), self.timeout)

    async def put(self, key: bytes) -> None:
        self.calls += 1
        await self.stub.Put(etcd_pb.PutRequest(key=key, value=self.value), timeout=self.timeout)

    async def get(self, key: bytes) -> bool:
        self.calls += 1
        resp = await self.stub.Range(
            etcd_pb.RangeRequest(key=key, serializable=self.serializable), timeout=self.timeout)
        return bool(resp.kvs)

    def stats(self) -> dict[str, int]:
        # One RPC per op: the "batches" are the calls themselves.
        return {"batches": self.calls, "ops": self.calls}

    async def aclose(self) -> None:
        await self.channel.close()


def make_target(system: str, endpoints: Sequence[str], consistency: str, value: bytes,
                rpc_timeout_s: float) -> Target:
    if system == "kvstore":
        return KVStoreTarget(endpoints, consistency, value, rpc_timeout_s)
    if system == "etcd":
        return EtcdTarget(endpoints, consistency, value, rpc_timeout_s)
    raise InvalidArgument(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")


def bench_key(i: int) -> bytes:
    return b"bench-%08d" % i


async def preload(system: str, endpoints: Sequence[str], keys: int, value: bytes,
                  rpc_timeout_s: float, concurrency: int = 128) -> None:
    """Write every key once (reads then hit real values); raises the first failure."""
    target = make_target(system, endpoints, "linearizable", value, rpc_timeout_s)
    await target.open()
    todo = iter(range(keys))

    async def writer() -> None:
        for i in todo:
            await target.put(bench_key(i))

    try:
        await asyncio.gather(*(writer() for _ in range(min(concurrency, keys))))
    finally:
        await target.aclose()


def describe(system: str) -> dict[str, Any]:
    if system == "kvstore":
        return {"client": "kvstore.client.KVClient (coalesced Batch RPCs)"}
    return {"client": "grpc.aio etcdserverpb.KV stub, one RPC per op, to the leader"}
