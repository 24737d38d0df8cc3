"""A partition through the proxies is a real network cut between node processes.

Isolate one node of a real 3-node cluster: the other two must keep (or
elect) leaders for every shard and accept writes from a client that reaches
them only through the client proxies, while the isolated node, asked
directly, leads nothing and misses the write. After healing it catches up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from kvstore.chaos import faults
from kvstore.chaos.client import make_client
from kvstore.chaos.net import CLIENT, ChaosNet
from kvstore.chaos.proxy import LinkState
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import node_status
from kvstore.proto import admin_pb2

LEADER = admin_pb2.RAFT_ROLE_LEADER


async def _until(what: str, cond: Callable[[], bool], c: LocalCluster,
                 timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(cond):
        if time.monotonic() >= deadline:
            state = {n: {s: (g.role, g.leader_id, g.term, g.quiesced)
                         for s, g in _groups(c, n).items()} for n in c.nodes}
            raise AssertionError(f"timed out waiting until {what}; "
                                 f"(role, leader, term, quiesced) per node and group: {state}")
        await asyncio.sleep(0.1)


def _groups(c: LocalCluster, nid: int) -> dict[int, admin_pb2.GroupStatus]:
    st = node_status(c.nodes[nid].addr, 1.0)  # direct: the nemesis's side channel
    return {} if st is None else {g.group_id: g for g in st.groups}


async def test_isolated_node_is_cut_off_and_catches_up_after_heal(tmp_path: Path) -> None:
    c = LocalCluster.create(tmp_path / "c", 3, shards=2, tick_ms=20, election_ticks=10)
    async with ChaosNet({n: c.nodes[n].addr for n in c.nodes},
                        {n: c.nodes[n].raft_addr for n in c.nodes}) as net:
        c.set_peer_addresses(net.peer_addresses(), net.raft_peer_addresses())
        try:
            await asyncio.to_thread(c.start)
            await asyncio.to_thread(c.wait_ready, 60.0)
            part = faults.isolated([1, 2, 3], 1)
            net.cut(part.cuts | {(CLIENT, 1)}, LinkState.DROP)

            def majority_leads() -> bool:
                g1, g2, g3 = _groups(c, 1), _groups(c, 2), _groups(c, 3)
                return (len(g2) == len(g3) == 3  # the metadata group and 2 shards
                        and all(g.role != LEADER for g in g1.values())
                        and all(g2[s].leader_id == g3[s].leader_id in (2, 3) for s in (1, 2)))

            await _until("nodes 2 and 3 lead every shard and node 1 leads none", majority_leads, c)
            kv = make_client(net.client_addresses(), timeout=10.0)
            try:
                await kv.connect()
                for i in range(20):  # keys on both shards
                    await kv.put(f"k{i}".encode(), b"v")
            finally:
                await kv.aclose()
            applied = {s: g.applied_index for s, g in _groups(c, 2).items() if s}
            assert all(g.applied_index < applied[s] for s, g in _groups(c, 1).items() if s)
            assert "transport=tcp" in c.nodes[2].log_path.read_text()  # through the proxies
            net.heal()
            await _until("node 1 applies what the majority applied", lambda: all(
                g.applied_index >= applied[s] for s, g in _groups(c, 1).items() if s), c)
        finally:
            await asyncio.to_thread(c.stop)
