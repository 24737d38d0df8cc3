"""BatchStream against a real grpc.aio server whose KV servicer the test scripts.

The servicer stands in for a node so that each failure the client must survive
(late, reordered and missing answers, a stream the server ends, a node without
the method) happens on cue; the wire, HTTP/2 streams and statuses are real.
Node-side behaviour is tested with real nodes in tests/cluster/test_client.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from kvstore.client.stream import BatchStream, StreamUnsupported
from kvstore.errors import InvalidArgument, Timeout, Unavailable
from kvstore.proto import kv_pb2, kv_pb2_grpc
from kvstore.rpc_status import error_to_proto
from tests.partial_servicer import unimplemented

Script = Callable[[AsyncIterator[kv_pb2.MultiBatchRequest], Any],
                  AsyncIterator[kv_pb2.MultiBatchResponse]]


class ScriptedKV(unimplemented(kv_pb2.DESCRIPTOR, "KV")):  # type: ignore[misc]
    def __init__(self, script: Script | None) -> None:
        self.script = script
        self.streams = 0

    async def MultiBatchStream(self, requests: Any, context: Any) -> AsyncIterator[Any]:
        assert self.script is not None
        self.streams += 1
        async for resp in self.script(requests, context):
            yield resp


async def _with_server(script: Script | None,
                       body: Callable[[BatchStream, ScriptedKV], Awaitable[None]]) -> None:
    servicer = ScriptedKV(script)
    server = grpc.aio.server()
    if script is not None:  # else a server without the KV service: UNIMPLEMENTED, as
        kv_pb2_grpc.add_KVServicer_to_server(servicer, server)  # a node predating it
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stream = BatchStream(kv_pb2_grpc.KVStub(channel).MultiBatchStream)
    try:
        await body(stream, servicer)
    finally:
        await stream.aclose()
        await channel.close()
        await server.stop(0)


def _req(tag: int) -> kv_pb2.MultiBatchRequest:
    return kv_pb2.MultiBatchRequest(batches=[kv_pb2.BatchRequest(
        header=kv_pb2.RequestHeader(shard_id=tag))])


def _answer(req: kv_pb2.MultiBatchRequest) -> kv_pb2.MultiBatchResponse:
    tag = req.batches[0].header.shard_id
    return kv_pb2.MultiBatchResponse(request_id=req.request_id, responses=[
        kv_pb2.BatchResponse(header=kv_pb2.ResponseHeader(node_id=tag))])


def _tag(resp: kv_pb2.MultiBatchResponse) -> int:
    return resp.responses[0].header.node_id


def test_answers_out_of_order_reach_their_requests() -> None:
    async def reverse_pairs(requests: Any, context: Any) -> AsyncIterator[Any]:
        held = None
        async for req in requests:
            if held is None:
                held = req
            else:
                yield _answer(req)
                yield _answer(held)
                held = None

    async def body(stream: BatchStream, _s: ScriptedKV) -> None:
        out = await asyncio.gather(*(stream.request(_req(t), 5.0) for t in range(1, 9)))
        assert [_tag(r) for r in out] == list(range(1, 9))
        assert stream.opened == 1

    asyncio.run(_with_server(reverse_pairs, body))


def test_a_request_error_raises_its_kverror_and_the_stream_goes_on() -> None:
    async def picky(requests: Any, context: Any) -> AsyncIterator[Any]:
        async for req in requests:
            if req.batches[0].header.shard_id == 13:
                yield kv_pb2.MultiBatchResponse(request_id=req.request_id, error=error_to_proto(
                    InvalidArgument("unlucky shard")))
            else:
                yield _answer(req)

    async def body(stream: BatchStream, _s: ScriptedKV) -> None:
        with pytest.raises(InvalidArgument, match="unlucky"):
            await stream.request(_req(13), 5.0)
        assert _tag(await stream.request(_req(2), 5.0)) == 2
        assert stream.opened == 1

    asyncio.run(_with_server(picky, body))


def test_no_answer_times_out_and_a_late_answer_is_dropped() -> None:
    async def slow_first(requests: Any, context: Any) -> AsyncIterator[Any]:
        first = None
        async for req in requests:
            if first is None:
                first = req
                continue
            yield _answer(req)
            yield _answer(first)  # long after its deadline

    async def body(stream: BatchStream, _s: ScriptedKV) -> None:
        with pytest.raises(Timeout):
            await stream.request(_req(1), 0.2)
        assert _tag(await stream.request(_req(2), 5.0)) == 2
        assert _tag(await stream.request(_req(3), 5.0)) == 3  # the stream still works
        assert stream.opened == 1

    asyncio.run(_with_server(slow_first, body))


def test_a_stream_the_node_ends_fails_its_waiters_and_the_next_request_reopens() -> None:
    async def abort_on_second(requests: Any, context: Any) -> AsyncIterator[Any]:
        n = 0
        async for req in requests:
            n += 1
            if n == 2:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "node going down")
            elif n == 1:
                continue  # never answered: it must fail when the stream ends
            yield _answer(req)

    async def body(stream: BatchStream, servicer: ScriptedKV) -> None:
        first = asyncio.ensure_future(stream.request(_req(1), 5.0))
        await asyncio.sleep(0.1)
        with pytest.raises(Unavailable):
            await stream.request(_req(2), 5.0)
        with pytest.raises(Unavailable):
            await first
        # A new stream (n restarts at 1 there, so answer the second request on it).
        r = asyncio.ensure_future(stream.request(_req(3), 5.0))
        await asyncio.sleep(0.1)
        assert not r.done()
        r.cancel()
        assert servicer.streams == 2 and stream.opened == 2

    asyncio.run(_with_server(abort_on_second, body))


def test_a_node_without_the_method_is_marked_unsupported() -> None:
    async def body(stream: BatchStream, _s: ScriptedKV) -> None:
        with pytest.raises(StreamUnsupported):
            await stream.request(_req(1), 5.0)
        assert stream.unsupported
        with pytest.raises(StreamUnsupported):  # no second attempt on the wire
            await stream.request(_req(2), 5.0)
        assert stream.opened == 1

    asyncio.run(_with_server(None, body))
