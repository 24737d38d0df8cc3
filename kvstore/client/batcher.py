"""Request coalescing: concurrent ops bound for the same node (and consistency level)
become one `KV.MultiBatch` RPC per event-loop turn, grouped by shard inside it
(as TiKV's client does with BatchCommands per store). A Python gRPC call costs
far more CPU than the op it carries, so this is the client's main throughput
lever. Batching per node rather than per shard matters: ops that complete
together and continue on random keys would otherwise scatter into one-op
batches, one per shard.

An op's future resolves with `(OpResult, ResponseHeader)` (the result may carry
a per-op error) or fails with the `KVError` of its shard or of the whole call.
`max_batch_ops` bounds the ops in one RPC; the rest goes in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kvstore.errors import InternalError
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_from_proto

BatchKey = tuple[str, int]  # (address, consistency slot)
ShardOps = dict[int, list[kv_pb2.Op]]
SendFn = Callable[[BatchKey, ShardOps], Awaitable[list[tuple[int, kv_pb2.BatchResponse]]]]
_Item = tuple[int, kv_pb2.Op, asyncio.Future[Any]]


class Batcher:
    def __init__(self, send: SendFn, max_batch_ops: int = 512, coalesce: bool = True) -> None:
        self._send = send
        self.max_batch_ops = max_batch_ops
        self.coalesce = coalesce
        self._queues: dict[BatchKey, list[_Item]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_sent = 0
        self.ops_sent = 0

    def submit(self, key: BatchKey, shard: int, op: kv_pb2.Op) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self.coalesce:
            self._start(key, [(shard, op, fut)])
            return fut
        q = self._queues.get(key)
        if q is None:
            self._queues[key] = q = []
            # Flush after every other callback ready in this turn had a chance to add ops.
            loop.call_soon(self._flush, key)
        q.append((shard, op, fut))
        return fut

    def _flush(self, key: BatchKey) -> None:
        items = self._queues.pop(key, [])
        for i in range(0, len(items), self.max_batch_ops):
            self._start(key, items[i : i + self.max_batch_ops])

    def _start(self, key: BatchKey, items: list[_Item]) -> None:
        t = asyncio.ensure_future(self._run(key, items))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _run(self, key: BatchKey, items: list[_Item]) -> None:
        self.batches_sent += 1
        self.ops_sent += len(items)
        by_shard: dict[int, list[_Item]] = {}
        for it in items:
            by_shard.setdefault(it[0], []).append(it)
        try:
            responses = await self._send(
                key, {s: [op for _, op, _ in its] for s, its in by_shard.items()})
        except Exception as exc:
            _fail([f for _, _, f in items], exc)
            return
        for shard, resp in responses:
            its = by_shard.pop(shard, [])
            if resp.HasField("error"):
                _fail([f for _, _, f in its], error_from_proto(resp.error))
                continue
            results = resp.results
            for i, (_, _, fut) in enumerate(its):
                if fut.done():
                    continue
                if i < len(results):
                    fut.set_result((results[i], resp.header))
                else:
                    fut.set_exception(InternalError("server returned fewer results than ops"))
        for its in by_shard.values():
            _fail([f for _, _, f in its], InternalError("server skipped a shard's batch"))

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _fail(futs: list[asyncio.Future[Any]], exc: BaseException) -> None:
    for f in futs:
        if not f.done():
            f.set_exception(exc)
