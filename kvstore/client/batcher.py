"""Request coalescing: concurrent ops for the same (address, shard, consistency)
become one `KV.Batch` RPC per event-loop turn (as TiKV's client does with
BatchCommands). A Python gRPC call costs far more CPU than the op it carries,
so this is the client's main throughput lever.

An op's future resolves with its `OpResult` (which may carry a per-op error)
or fails with the `KVError` of the whole call. `max_batch_ops` bounds a batch;
the rest goes in the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kvstore.errors import InternalError
from kvstore.proto import kv_pb2

BatchKey = tuple[str, int, int]  # (address, shard, consistency)
SendFn = Callable[[BatchKey, list[kv_pb2.Op]], Awaitable[kv_pb2.BatchResponse]]


class Batcher:
    def __init__(self, send: SendFn, max_batch_ops: int = 512, coalesce: bool = True) -> None:
        self._send = send
        self.max_batch_ops = max_batch_ops
        self.coalesce = coalesce
        self._queues: dict[BatchKey, list[tuple[kv_pb2.Op, asyncio.Future[Any]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_sent = 0
        self.ops_sent = 0

    def submit(self, key: BatchKey, op: kv_pb2.Op) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self.coalesce:
            self._start(key, [(op, fut)])
            return fut
        q = self._queues.get(key)
        if q is None:
            self._queues[key] = q = []
            # Flush after every other callback ready in this turn had a chance to add ops.
            loop.call_soon(self._flush, key)
        q.append((op, fut))
        return fut

    def _flush(self, key: BatchKey) -> None:
        items = self._queues.pop(key, [])
        for i in range(0, len(items), self.max_batch_ops):
            self._start(key, items[i : i + self.max_batch_ops])

    def _start(self, key: BatchKey, items: list[tuple[kv_pb2.Op, asyncio.Future[Any]]]) -> None:
        t = asyncio.ensure_future(self._run(key, items))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _run(self, key: BatchKey, items: list[tuple[kv_pb2.Op, asyncio.Future[Any]]]) -> None:
        self.batches_sent += 1
        self.ops_sent += len(items)
        try:
            resp = await self._send(key, [op for op, _ in items])
        except Exception as exc:
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(exc)
            return
        results = resp.results
        for i, (_, fut) in enumerate(items):
            if fut.done():
                continue
            if i < len(results):
                fut.set_result((results[i], resp.header))
            else:
                fut.set_exception(InternalError("server returned fewer results than ops"))

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
