"""Server side of `KV.MultiBatchStream`: many MultiBatch requests over one call.

A grpc.aio unary call costs about 200 µs of CPU on each side, more than the
ops a coalesced batch carries, while a message on an open stream costs a
third of that (see README, "Performance"). So the client keeps one stream per
node and sends each coalesced batch as a message, as TiKV's client does with
BatchCommands.

Requests run concurrently (a read batch must not wait behind a write batch)
and are answered as they complete, each answer carrying its request_id. At
most `max_inflight` requests of one stream run at once; past that the
handler stops reading, so a client that floods the stream meets gRPC flow
control instead of growing the node's task list. A request that fails as a
whole is answered with its `error`; the stream itself stays open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_to_proto

Handle = Callable[[kv_pb2.MultiBatchRequest], Awaitable[kv_pb2.MultiBatchResponse]]
_END = None  # queued by the reader when the client half-closed the stream


async def serve(requests: AsyncIterator[kv_pb2.MultiBatchRequest], handle: Handle,
                max_inflight: int) -> AsyncIterator[kv_pb2.MultiBatchResponse]:
    """Yield the answers to every request in `requests`, in completion order."""
    out: asyncio.Queue[kv_pb2.MultiBatchResponse | None] = asyncio.Queue()
    slots = asyncio.Semaphore(max_inflight)
    tasks: set[asyncio.Task[None]] = set()

    async def answer(req: kv_pb2.MultiBatchRequest) -> None:
        try:
            resp = await handle(req)
        except Exception as exc:  # the request fails; the stream goes on
            resp = kv_pb2.MultiBatchResponse(error=error_to_proto(exc))
        finally:
            slots.release()
        resp.request_id = req.request_id
        out.put_nowait(resp)

    async def read() -> int:
        n = 0
        try:
            it = aiter(requests)
            while True:
                await slots.acquire()
                try:
                    req = await anext(it)
                except StopAsyncIteration:
                    return n
                n += 1
                t = asyncio.ensure_future(answer(req))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        finally:
            out.put_nowait(_END)

    reader = asyncio.ensure_future(read())
    answered, total = 0, -1  # total: requests read, known once reading ended
    try:
        while answered != total:
            item = await out.get()
            if item is _END:
                total = await reader  # re-raises a failed read: the call is broken
            else:
                answered += 1
                yield item
    finally:
        reader.cancel()
        for t in list(tasks):
            t.cancel()
