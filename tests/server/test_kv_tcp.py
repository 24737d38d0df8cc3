"""The raw client link (kvstore/server/kv_tcp.py and kvstore/client/tcp_link.py) over
real loopback sockets: answers find their requests, failures are the stream's
(Timeout, Unavailable), and a bad hello or frame closes the link without ever
reaching the handler. The node-level behaviour is in tests/cluster/test_kv_link.py."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import msgpack
import pytest

from kvstore.client.tcp_link import TcpBatchLink
from kvstore.errors import NotLeader, Timeout, Unavailable
from kvstore.framing import frame_bytes
from kvstore.proto import kv_pb2
from kvstore.server.kv_tcp import MAGIC, KVTcpServer


class Handler:
    """Answers each batch with one result per op, echoing the first op's value."""

    def __init__(self) -> None:
        self.seen: list[kv_pb2.MultiBatchRequest] = []
        self.gate: asyncio.Event | None = None
        self.running = 0

    async def __call__(self, req: kv_pb2.MultiBatchRequest) -> kv_pb2.MultiBatchResponse:
        self.seen.append(req)
        self.running += 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            if req.batches and req.batches[0].header.shard_id == 99:
                raise NotLeader("not the leader", shard=99)
            return kv_pb2.MultiBatchResponse(responses=[
                kv_pb2.BatchResponse(results=[kv_pb2.OpResult(value=op.value) for op in b.ops])
                for b in req.batches])
        finally:
            self.running -= 1


def _req(value: bytes, shard: int = 1) -> kv_pb2.MultiBatchRequest:
    return kv_pb2.MultiBatchRequest(batches=[kv_pb2.BatchRequest(
        header=kv_pb2.RequestHeader(shard_id=shard),
        ops=[kv_pb2.Op(type=kv_pb2.OP_TYPE_PUT, key=b"k", value=value)])])


@pytest.fixture
async def served() -> AsyncIterator[tuple[Handler, int]]:
    handler = Handler()
    server = KVTcpServer(7, "c1", handler, max_inflight=4)
    port = await server.start("127.0.0.1")
    try:
        yield handler, port
    finally:
        server.close()


async def test_concurrent_requests_get_their_own_answers(served: tuple[Handler, int]) -> None:
    handler, port = served
    link = TcpBatchLink("127.0.0.1", port, "c1")
    try:
        resps = await asyncio.gather(*(link.request(_req(b"v%d" % i), 5.0) for i in range(50)))
        assert [r.responses[0].results[0].value for r in resps] == [b"v%d" % i
                                                                    for i in range(50)]
        assert link.opened == 1 and len(handler.seen) == 50
    finally:
        await link.aclose()


async def test_a_failed_request_is_its_error_and_the_link_goes_on(
        served: tuple[Handler, int]) -> None:
    _, port = served
    link = TcpBatchLink("127.0.0.1", port, "c1")
    try:
        with pytest.raises(NotLeader):
            await link.request(_req(b"x", shard=99), 5.0)
        resp = await link.request(_req(b"after"), 5.0)
        assert resp.responses[0].results[0].value == b"after" and link.opened == 1
    finally:
        await link.aclose()


async def test_no_answer_in_time_is_a_timeout_and_a_late_answer_is_dropped(
        served: tuple[Handler, int]) -> None:
    handler, port = served
    handler.gate = asyncio.Event()
    link = TcpBatchLink("127.0.0.1", port, "c1")
    try:
        with pytest.raises(Timeout):
            await link.request(_req(b"slow"), 0.2)
        handler.gate.set()
        resp = await link.request(_req(b"next"), 5.0)
        assert resp.responses[0].results[0].value == b"next" and link.opened == 1
    finally:
        await link.aclose()


async def test_a_node_going_away_fails_waiting_requests_and_the_next_reopens() -> None:
    handler = Handler()
    handler.gate = asyncio.Event()
    server = KVTcpServer(7, "c1", handler, max_inflight=4)
    port = await server.start("127.0.0.1")
    link = TcpBatchLink("127.0.0.1", port, "c1")
    try:
        waiting = asyncio.ensure_future(link.request(_req(b"w"), 5.0))
        while not handler.seen:
            await asyncio.sleep(0.01)
        server.close()
        with pytest.raises(Unavailable):
            await waiting
        with pytest.raises(Unavailable) as ei:  # nothing listens any more
            await link.request(_req(b"again"), 5.0)
        assert ei.value.details.get("unreachable")
        handler.gate.set()
        server = KVTcpServer(7, "c1", handler, max_inflight=4)
        await server.start("127.0.0.1", port)
        resp = await link.request(_req(b"back"), 5.0)
        assert resp.responses[0].results[0].value == b"back" and link.opened == 2
    finally:
        await link.aclose()
        server.close()


async def test_a_wrong_cluster_is_refused_at_the_hello(served: tuple[Handler, int]) -> None:
    handler, port = served
    link = TcpBatchLink("127.0.0.1", port, "another-cluster")
    try:
        with pytest.raises(Unavailable):
            await link.request(_req(b"x"), 5.0)
        assert handler.seen == []
    finally:
        await link.aclose()


async def _closed_after(port: int, data: bytes) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 5.0)  # b"" once the node closed it
        return rest == b"" or rest.startswith(frame_bytes(msgpack.packb([MAGIC, 7])))
    finally:
        writer.close()


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n\r\n",  # not frames at all: an oversized first frame
    frame_bytes(b"\xc1garbage"),  # a hello that is not msgpack
    frame_bytes(msgpack.packb(["kvstore-raft/1", "c1", 2, 7])),  # a Raft link's hello
    frame_bytes(msgpack.packb([MAGIC, "c1"])) + struct.pack(">I", 1 << 30),  # huge frame
    frame_bytes(msgpack.packb([MAGIC, "c1"])) + frame_bytes(b"\xff\xff\xff"),  # not protobuf
])
async def test_bad_input_closes_the_link_and_never_reaches_the_handler(
        served: tuple[Handler, int], data: bytes) -> None:
    handler, port = served
    assert await _closed_after(port, data)
    assert handler.seen == []
    link = TcpBatchLink("127.0.0.1", port, "c1")  # the listener still serves others
    try:
        assert (await link.request(_req(b"ok"), 5.0)).responses[0].results[0].value == b"ok"
    finally:
        await link.aclose()


async def test_past_max_inflight_the_node_stops_reading(served: tuple[Handler, int]) -> None:
    handler, port = served
    handler.gate = asyncio.Event()
    link = TcpBatchLink("127.0.0.1", port, "c1")
    try:
        waiting = [asyncio.ensure_future(link.request(_req(b"%d" % i), 5.0))
                   for i in range(10)]
        await asyncio.sleep(0.3)
        assert handler.running == 4  # max_inflight: the rest waits in the socket
        handler.gate.set()
        resps = await asyncio.gather(*waiting)
        assert len(resps) == 10 and len(handler.seen) == 10
    finally:
        await link.aclose()
