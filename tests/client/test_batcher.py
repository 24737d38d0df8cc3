"""The client batcher bounds the batches in flight per (node, consistency) and lets
the ops that arrive meanwhile leave together in the next batch.

The send function is the batcher's injected seam (normally one MultiBatch RPC);
here it is a coroutine that answers every op after the test releases it, so the
test controls exactly when a batch returns.
"""

from __future__ import annotations

import asyncio

import pytest

from kvstore.client.batcher import Batcher, BatchKey, ShardOps
from kvstore.errors import Unavailable
from kvstore.proto import kv_pb2


class _Server:
    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.inflight: dict[BatchKey, int] = {}
        self.max_inflight: dict[BatchKey, int] = {}
        self.release = asyncio.Event()

    async def send(self, key: BatchKey, shard_ops: ShardOps
                   ) -> list[tuple[int, kv_pb2.BatchResponse]]:
        self.batches.append([op.key for ops in shard_ops.values() for op in ops])
        self.inflight[key] = self.inflight.get(key, 0) + 1
        self.max_inflight[key] = max(self.max_inflight.get(key, 0), self.inflight[key])
        try:
            await self.release.wait()
        finally:
            self.inflight[key] -= 1
        return [(s, kv_pb2.BatchResponse(results=[kv_pb2.OpResult(value=op.key) for op in ops]))
                for s, ops in shard_ops.items()]


def _get(key: bytes) -> kv_pb2.Op:
    return kv_pb2.Op(type=kv_pb2.OP_TYPE_GET, key=key)


async def test_ops_arriving_while_a_batch_is_in_flight_leave_together() -> None:
    srv = _Server()
    b = Batcher(srv.send, max_inflight=1)
    key = ("n1", 0)
    first = b.submit(key, 1, _get(b"a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert srv.batches == [[b"a"]]  # an idle key sends at once
    later = [b.submit(key, 1 + i % 3, _get(b"k%d" % i)) for i in range(10)]
    await asyncio.sleep(0.01)
    assert len(srv.batches) == 1  # the rest waits for the batch in flight
    srv.release.set()
    results = await asyncio.gather(first, *later)
    assert [r.value for r, _ in results] == [b"a"] + [b"k%d" % i for i in range(10)]
    assert len(srv.batches) == 2 and len(srv.batches[1]) == 10
    assert srv.max_inflight[key] == 1
    await b.aclose()


async def test_inflight_bound_is_per_key_and_respects_max_batch_ops() -> None:
    srv = _Server()
    b = Batcher(srv.send, max_batch_ops=4, max_inflight=2)
    keys = [("n1", 0), ("n2", 0), ("n1", -1)]
    futs = [b.submit(k, 1, _get(b"%d" % i)) for i in range(20) for k in keys]
    await asyncio.sleep(0.01)
    assert all(srv.inflight[k] == 2 for k in keys)
    srv.release.set()
    await asyncio.gather(*futs)
    assert all(len(ops) <= 4 for ops in srv.batches)
    assert sum(len(ops) for ops in srv.batches) == 60
    assert srv.max_inflight == {k: 2 for k in keys}
    await b.aclose()


async def test_close_fails_queued_ops() -> None:
    srv = _Server()
    b = Batcher(srv.send, max_inflight=1)
    key = ("n1", 0)
    inflight = b.submit(key, 1, _get(b"a"))
    await asyncio.sleep(0.01)
    queued = b.submit(key, 1, _get(b"b"))
    await b.aclose()
    with pytest.raises(Unavailable):
        await queued
    with pytest.raises(Unavailable):
        await inflight


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Batcher(_Server().send, max_inflight=0)
