"""The client's raw TCP batch links against real node processes: found with
KV.LinkInfo, used for every batch, found again after a node restarts on another
port, replaced by the gRPC stream where a node offers none, and asked for again
later (a node may start offering one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from kvstore.chaos.proxy import LinkProxy
from kvstore.client import KVClient
from kvstore.cluster.admin import wait_leaders
from kvstore.cluster.local import LocalCluster
from kvstore.proto import kv_pb2, kv_pb2_grpc

from .conftest import start_cluster


async def _link_port(addr: str) -> int:
    async with grpc.aio.insecure_channel(addr) as ch:
        # wait_for_ready: a node just restarted may not listen yet.
        info = await kv_pb2_grpc.KVStub(ch).LinkInfo(kv_pb2.LinkInfoRequest(), timeout=30,
                                                     wait_for_ready=True)
    return int(info.tcp_port)


async def _round_trip(kv: KVClient, tag: str, n: int = 64) -> None:
    await asyncio.gather(*(kv.put(f"{tag}-{i}".encode(), f"v{i}".encode()) for i in range(n)))
    got = await asyncio.gather(*(kv.get(f"{tag}-{i}".encode()) for i in range(n)))
    assert got == [f"v{i}".encode() for i in range(n)]


async def test_batches_ride_the_raw_link_of_every_node(cluster3: LocalCluster) -> None:
    await asyncio.to_thread(wait_leaders, cluster3.endpoints, 60.0)  # spread: one each
    async with KVClient(cluster3.endpoints) as kv:
        await _round_trip(kv, "a", 200)
        links = {addr: link for addr, link in kv._links.items()}
        assert set(links) == set(cluster3.endpoints)
        for addr, link in links.items():
            assert link is not None and link.opened == 1
            assert link.port == await _link_port(addr)
        assert kv._streams == {}  # no batch went by gRPC


async def test_a_node_restarted_on_another_port_is_found_again(
        cluster3: LocalCluster) -> None:
    addr = cluster3.nodes[1].addr
    before = await _link_port(addr)
    await asyncio.to_thread(wait_leaders, cluster3.endpoints, 60.0)
    async with KVClient(cluster3.endpoints, timeout=30.0) as kv:
        await _round_trip(kv, "b")
        assert kv._links[addr] is not None and kv._links[addr].port == before
        cluster3.kill(1)
        # Writes keep succeeding: the client retries on the other nodes while node 1
        # is down (its link fails with Unavailable, as a stream would).
        await _round_trip(kv, "c")
        cluster3.start(1)
        after = await _link_port(addr)
        await asyncio.to_thread(wait_leaders, cluster3.endpoints, 60.0)  # node 1 leads again
        await _round_trip(kv, "d")
        link = kv._links[addr]
        assert link is not None and link.port == after  # asked LinkInfo again
        assert after == before or link.opened == 1  # a new port: a new link object


async def test_a_node_without_the_link_gets_the_stream(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", extra={"client_transport": "grpc"})
    try:
        assert [await _link_port(a) for a in c.endpoints] == [0, 0, 0]
        async with KVClient(c.endpoints) as kv:
            await _round_trip(kv, "s", 100)
            assert kv._links and all(link is None for link in kv._links.values())
            assert kv._streams and all(st.opened == 1 for st in kv._streams.values())
    finally:
        c.stop()


async def test_a_node_that_starts_offering_the_link_is_asked_again(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", extra={"client_transport": "grpc"})
    try:
        async with KVClient(c.endpoints, timeout=30.0) as kv:
            kv.link_recheck_s = 0.5
            await asyncio.to_thread(wait_leaders, c.endpoints, 60.0)  # spread: one each
            await _round_trip(kv, "u", 64)
            assert set(kv._links) == set(c.endpoints)
            assert all(link is None for link in kv._links.values())
            c.stop()
            c.extra = {}  # the upgrade: every node offers its raw link again
            for node in c.nodes.values():
                node.config_path.write_text(c._toml(node))
            c.start()
            assert [await _link_port(a) for a in c.endpoints] != [0, 0, 0]
            await asyncio.to_thread(wait_leaders, c.endpoints, 60.0)
            await asyncio.sleep(0.6)
            await _round_trip(kv, "v", 64)
            used = [a for a, link in kv._links.items() if link is not None and link.opened]
            assert used, kv._links
    finally:
        c.stop()


async def test_a_client_can_keep_to_the_stream(cluster3: LocalCluster) -> None:
    async with KVClient(cluster3.endpoints, tcp_batches=False) as kv:
        await _round_trip(kv, "g")
        assert kv._links == {} and kv._streams


async def test_a_node_reached_through_a_proxy_keeps_the_stream(
        cluster3: LocalCluster) -> None:
    """The raw link would go around the proxy (chaos partitions would not cut it)."""
    proxies = {nid: LinkProxy(f"client->{nid}", n.addr) for nid, n in cluster3.nodes.items()}
    for p in proxies.values():
        await p.start()
    try:
        overrides = {nid: p.address for nid, p in proxies.items()}
        async with KVClient(list(overrides.values()), address_overrides=overrides) as kv:
            await _round_trip(kv, "p")
            assert kv._links == {} and kv._streams
            assert sum(p.bytes_forwarded for p in proxies.values()) > 64 * 2 * 8  # the ops
    finally:
        for p in proxies.values():
            await p.aclose()


async def test_a_proxied_node_uses_the_link_its_overrides_name(cluster3: LocalCluster) -> None:
    """Chaos clients dial both of a node's client ports through proxies."""
    grpc_proxies = {nid: LinkProxy(f"client->{nid}", n.addr) for nid, n in cluster3.nodes.items()}
    link_proxies = {nid: LinkProxy(f"client->{nid} link", n.link_addr)
                    for nid, n in cluster3.nodes.items()}
    for p in [*grpc_proxies.values(), *link_proxies.values()]:
        await p.start()
    try:
        await asyncio.to_thread(wait_leaders, cluster3.endpoints, 60.0)  # spread: one each
        overrides = {nid: p.address for nid, p in grpc_proxies.items()}
        async with KVClient(list(overrides.values()), address_overrides=overrides,
                            link_overrides={nid: p.address for nid, p in link_proxies.items()}
                            ) as kv:
            await _round_trip(kv, "q", 200)
            assert kv._streams == {}  # every batch took a raw link, through its proxy
            assert all(p.bytes_forwarded > 0 for p in link_proxies.values())
    finally:
        for p in [*grpc_proxies.values(), *link_proxies.values()]:
            await p.aclose()
