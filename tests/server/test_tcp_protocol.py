"""The raw TCP link's framing (kvstore/transport/tcp.py) over a real loopback socket:
frames split at every byte, or many in one read, arrive whole and in order."""

from __future__ import annotations

import asyncio

from kvstore.raft import Message, MessageType
from kvstore.transport.tcp import TcpRaftServer, frame, hello
from kvstore.transport.wire import encode_batch


def _batch(i: int) -> list[tuple[int, Message]]:
    return [(i % 3, Message(MessageType.HEARTBEAT, to=1, frm=2, term=i, commit=i))]


async def _serve_and_send(chunks: list[bytes]) -> list[tuple[int, list[tuple[int, Message]]]]:
    got: list[tuple[int, list[tuple[int, Message]]]] = []
    server = TcpRaftServer(1, "c", {1: "a", 2: "b"}, lambda frm, items: got.append((frm, items)))
    port = await server.start("127.0.0.1")
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0)
        for _ in range(200):
            if len(got) == 20:
                break
            await asyncio.sleep(0.01)
        writer.close()
    finally:
        server.close()
    return got


def _stream() -> bytes:
    parts = frame(hello("c", 2, 1))
    for i in range(20):
        parts += frame(encode_batch(_batch(i)))
    return b"".join(parts)


async def test_frames_split_at_every_byte_arrive_whole_and_in_order() -> None:
    data = _stream()
    got = await _serve_and_send([data[i:i + 1] for i in range(len(data))])
    assert got == [(2, _batch(i)) for i in range(20)]


async def test_many_frames_in_one_write_all_arrive() -> None:
    got = await _serve_and_send([_stream()])
    assert got == [(2, _batch(i)) for i in range(20)]


async def test_a_name_with_several_addresses_gets_one_port_on_all() -> None:
    server = TcpRaftServer(1, "c", {1: "a", 2: "b"}, lambda frm, items: None)
    port = await server.start("localhost")
    try:
        assert port > 0
        assert server._server is not None
        assert {s.getsockname()[1] for s in server._server.sockets} == {port}
    finally:
        server.close()
