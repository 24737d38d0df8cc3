"""Request coalescing: concurrent ops bound for the same node (and consistency level)
become one MultiBatch request, grouped by shard inside it (as TiKV's client
does with BatchCommands per store); the client sends it as a message on the
node's MultiBatchStream (kvstore/client/stream.py) or as a `KV.MultiBatch`
call. A Python gRPC call costs far more CPU than the op it carries, so this
is the client's main throughput lever. Batching per
node rather than per shard matters: ops that complete together and continue on
random keys would otherwise scatter into one-op batches, one per shard.

At most `max_inflight` batches per (node, consistency) are in flight; ops that
arrive meanwhile wait and leave together when one returns (Nagle-like, but
adaptive: an idle key sends at once, so a lone op pays no delay, while a busy
server sees fewer, larger batches exactly when it is the bottleneck).

An op's future resolves with `(OpResult, ResponseHeader)` (the result may carry
a per-op error) or fails with the `KVError` of its shard or of the whole call.
`max_batch_ops` bounds the ops in one RPC; the rest goes in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kvstore.errors import InternalError, Unavailable
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_from_proto

BatchKey = tuple[str, int]  # (address, consistency slot)
ShardOps = dict[int, list[kv_pb2.Op]]
SendFn = Callable[[BatchKey, ShardOps], Awaitable[list[tuple[int, kv_pb2.BatchResponse]]]]
_Item = tuple[int, kv_pb2.Op, asyncio.Future[Any]]


class Batcher:
    def __init__(self, send: SendFn, max_batch_ops: int = 512, coalesce: bool = True,
                 max_inflight: int = 2) -> None:
        if max_batch_ops < 1 or max_inflight < 1:
            raise ValueError("max_batch_ops and max_inflight must be >= 1")
        self._send = send
        self.max_batch_ops = max_batch_ops
        self.coalesce = coalesce
        self.max_inflight = max_inflight
        self._queues: dict[BatchKey, list[_Item]] = {}
        self._scheduled: set[BatchKey] = set()
        self._inflight: dict[BatchKey, int] = {}
        self._closed = False
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
        q.append((shard, op, fut))
        self._schedule(key)
        return fut

    def _schedule(self, key: BatchKey) -> None:
        if key not in self._scheduled and self._inflight.get(key, 0) < self.max_inflight:
            self._scheduled.add(key)
            # Flush after every other callback ready in this turn had a chance to add ops.
            asyncio.get_running_loop().call_soon(self._flush, key)

    def _flush(self, key: BatchKey) -> None:
        self._scheduled.discard(key)
        q = self._queues.get(key)
        while q and self._inflight.get(key, 0) < self.max_inflight:
            items, q[:] = q[:self.max_batch_ops], q[self.max_batch_ops:]
            self._start(key, items)
        if not q:
            self._queues.pop(key, None)

    def _start(self, key: BatchKey, items: list[_Item]) -> None:
        self._inflight[key] = self._inflight.get(key, 0) + 1
        t = asyncio.ensure_future(self._run(key, items))
        self._tasks.add(t)
        t.add_done_callback(lambda _t: self._done(key, _t))

    def _done(self, key: BatchKey, t: asyncio.Task[None]) -> None:
        self._tasks.discard(t)
        n = self._inflight.get(key, 0) - 1
        if n > 0:
            self._inflight[key] = n
        else:
            self._inflight.pop(key, None)
        if self._queues.get(key) and not self._closed:
            self._schedule(key)

    async def _run(self, key: BatchKey, items: list[_Item]) -> None:
        self.batches_sent += 1
        self.ops_sent += len(items)
        by_shard: dict[int, list[_Item]] = {}
        for it in items:
            by_shard.setdefault(it[0], []).append(it)
        try:
            responses = await self._send(
                key, {s: [op for _, op, _ in its] for s, its in by_shard.items()})
        except asyncio.CancelledError:
            _fail([f for _, _, f in items], Unavailable("client closed"))
            raise
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
        self._closed = True
        queued, self._queues = self._queues, {}
        for items in queued.values():
            _fail([f for _, _, f in items], Unavailable("client closed"))
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _fail(futs: list[asyncio.Future[Any]], exc: BaseException) -> None:
    for f in futs:
        if not f.done():
            f.set_exception(exc)
