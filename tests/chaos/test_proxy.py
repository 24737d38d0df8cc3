"""Fault-injecting proxies against a real TCP echo server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from kvstore.chaos.net import CLIENT, ChaosNet
from kvstore.chaos.proxy import LinkProxy, LinkState


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_addr() -> AsyncIterator[str]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def proxy(echo_addr: str) -> AsyncIterator[LinkProxy]:
    p = LinkProxy("test", echo_addr)
    await p.start()
    try:
        yield p
    finally:
        await p.aclose()


async def _open(p: LinkProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = p.address.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     data: bytes, timeout: float = 2.0) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), timeout)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_open_link_forwards_both_ways_including_large_payloads(proxy: LinkProxy) -> None:
    reader, writer = await _open(proxy)
    assert await _roundtrip(reader, writer, b"hello") == b"hello"
    big = bytes(range(256)) * 20_000  # 5 MB: exercises flow control in both directions
    assert await _roundtrip(reader, writer, big, timeout=20) == big
    assert proxy.bytes_forwarded >= 2 * (len(big) + 5)
    await _close(writer)


async def test_drop_resets_live_connections_and_refuses_new_ones(proxy: LinkProxy) -> None:
    reader, writer = await _open(proxy)
    assert await _roundtrip(reader, writer, b"x") == b"x"
    proxy.set_state(LinkState.DROP)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await _roundtrip(reader, writer, b"y")
    await _close(writer)
    reader2, writer2 = await _open(proxy)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await _roundtrip(reader2, writer2, b"z")
    await _close(writer2)
    assert proxy.refused == 1
    proxy.set_state(LinkState.OPEN)
    reader3, writer3 = await _open(proxy)
    assert await _roundtrip(reader3, writer3, b"back") == b"back"
    await _close(writer3)


async def test_blackhole_swallows_bytes_and_heal_resets_the_held_connections(
        proxy: LinkProxy) -> None:
    reader, writer = await _open(proxy)
    assert await _roundtrip(reader, writer, b"a") == b"a"
    proxy.set_state(LinkState.BLACKHOLE)
    with pytest.raises(TimeoutError):
        await _roundtrip(reader, writer, b"lost", timeout=0.3)  # no reset: silence
    reader2, writer2 = await _open(proxy)  # accepted, then fed nothing
    with pytest.raises(TimeoutError):
        await _roundtrip(reader2, writer2, b"lost too", timeout=0.3)
    forwarded = proxy.bytes_forwarded
    proxy.set_state(LinkState.OPEN)
    # A blackholed stream lost bytes, so it must never resume: heal resets it.
    for r in (reader, reader2):
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(r.readexactly(1), 2)
    assert proxy.bytes_forwarded == forwarded
    await _close(writer)
    await _close(writer2)
    reader3, writer3 = await _open(proxy)
    assert await _roundtrip(reader3, writer3, b"fresh") == b"fresh"
    await _close(writer3)


async def test_dead_target_looks_like_a_reset() -> None:
    p = LinkProxy("nowhere", "127.0.0.1:1")
    await p.start()
    try:
        reader, writer = await _open(p)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _roundtrip(reader, writer, b"?")
        await _close(writer)
    finally:
        await p.aclose()


async def test_chaos_net_blocks_exactly_the_named_links(echo_addr: str) -> None:
    async with ChaosNet({1: echo_addr, 2: echo_addr, 3: echo_addr}) as net:
        assert set(net.peer_addresses()[1]) == {2, 3}
        assert set(net.client_addresses()) == {1, 2, 3}
        net.cut({(1, 2), (CLIENT, 3)}, LinkState.DROP)
        states = {link: p.state for link, p in net.proxies.items()}
        assert states[(1, 2)] is LinkState.DROP and states[(CLIENT, 3)] is LinkState.DROP
        assert states[(2, 1)] is LinkState.OPEN  # one direction only
        assert sum(s is not LinkState.OPEN for s in states.values()) == 2
        net.cut({(2, 1)}, LinkState.BLACKHOLE)  # a new cut replaces the old one
        assert {link for link, p in net.proxies.items()
                if p.state is not LinkState.OPEN} == {(2, 1)}
        with pytest.raises(ValueError):
            net.cut({(1, 9)})
        net.heal()
        assert all(p.state is LinkState.OPEN for p in net.proxies.values())
        assert net.blocked == frozenset()
