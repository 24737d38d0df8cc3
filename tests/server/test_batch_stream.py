"""The server's MultiBatchStream loop (`kvstore.server.batch_stream.serve`) at its bound.

The loop is driven with a plain async iterator of requests and a handler the
test controls, which is what grpc.aio hands it; tests/cluster/test_client.py
drives it through real nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kvstore.errors import InvalidArgument
from kvstore.proto import kv_pb2
from kvstore.server.batch_stream import serve


async def _requests(n: int, pulled: list[int]) -> AsyncIterator[kv_pb2.MultiBatchRequest]:
    for rid in range(1, n + 1):
        pulled.append(rid)
        yield kv_pb2.MultiBatchRequest(request_id=rid)


def test_at_most_max_inflight_requests_run_and_the_rest_wait_unread() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        running, peak, pulled = 0, 0, []

        async def handle(req: kv_pb2.MultiBatchRequest) -> kv_pb2.MultiBatchResponse:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1
            return kv_pb2.MultiBatchResponse()

        out = serve(_requests(10, pulled), handle, max_inflight=4)
        first = asyncio.ensure_future(anext(out))
        await asyncio.sleep(0.05)
        assert peak == 4 and running == 4
        assert pulled == [1, 2, 3, 4]  # the fifth stays unread: flow control holds the client
        release.set()
        ids = [(await first).request_id] + [r.request_id async for r in out]
        assert sorted(ids) == list(range(1, 11))
        assert peak == 4

    asyncio.run(scenario())


def test_answers_leave_in_completion_order_and_a_failure_answers_only_its_request() -> None:
    async def scenario() -> list[kv_pb2.MultiBatchResponse]:
        async def handle(req: kv_pb2.MultiBatchRequest) -> kv_pb2.MultiBatchResponse:
            if req.request_id == 2:
                raise InvalidArgument("bad request 2")
            await asyncio.sleep(0.02 * (4 - req.request_id))  # 3 finishes first
            return kv_pb2.MultiBatchResponse()

        return [r async for r in serve(_requests(3, []), handle, max_inflight=8)]

    out = asyncio.run(scenario())
    assert [r.request_id for r in out] == [2, 3, 1]
    assert out[0].error.type == "InvalidArgument" and "bad request 2" in out[0].error.message
    assert not out[1].HasField("error") and not out[2].HasField("error")


def test_a_broken_request_stream_ends_the_answers_with_its_error() -> None:
    async def broken() -> AsyncIterator[kv_pb2.MultiBatchRequest]:
        yield kv_pb2.MultiBatchRequest(request_id=1)
        raise ConnectionResetError("client went away")

    async def scenario() -> None:
        async def handle(req: kv_pb2.MultiBatchRequest) -> kv_pb2.MultiBatchResponse:
            return kv_pb2.MultiBatchResponse()

        with pytest.raises(ConnectionResetError):
            async for _ in serve(broken(), handle, max_inflight=2):
                pass

    asyncio.run(scenario())
