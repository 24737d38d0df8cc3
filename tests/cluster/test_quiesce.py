"""Quiesced shards on real node processes: idle groups go quiet, writes and linearizable
reads wake them, and kill -9 of the node leading quiet shards still elects new leaders
(the survivors learn from node-level liveness that the leader's node is gone)."""

from __future__ import annotations

import asyncio
import time

from kvstore.client import KVClient
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import node_status
from tests.cluster.test_node import keys_for_every_shard


def quiesced_replicas(c: LocalCluster, nodes: list[int]) -> tuple[int, int]:
    """(quiesced, total) replicas over the given live nodes."""
    q = total = 0
    for nid in nodes:
        st = node_status(c.nodes[nid].addr)
        if st is None:
            continue
        total += len(st.groups)
        q += sum(1 for g in st.groups if g.quiesced)
    return q, total


def wait_all_quiesced(c: LocalCluster, nodes: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = (0, 0)
    while time.monotonic() < deadline:
        seen = quiesced_replicas(c, nodes)
        # every shard and the metadata group (0) on every node
        if seen[1] == (c.shards + 1) * len(nodes) and seen[0] == seen[1]:
            return
        time.sleep(0.2)
    raise AssertionError(f"not every replica quiesced within {timeout}s: {seen}")


def leaders(c: LocalCluster, nodes: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {s: set() for s in range(0, c.shards + 1)}
    for nid in nodes:
        st = node_status(c.nodes[nid].addr)
        for g in st.groups if st is not None else []:
            out[g.group_id].add(g.leader_id)
    return out


async def _write_and_read(c: LocalCluster, keys: list[bytes]) -> list[bytes | None]:
    async with KVClient(c.endpoints, timeout=20) as kv:
        for k in keys:
            await kv.put(k, b"v-" + k)
        return [await kv.get(k) for k in keys]


def test_idle_shards_quiesce_and_writes_and_reads_wake_them(cluster3: LocalCluster) -> None:
    wait_all_quiesced(cluster3, [1, 2, 3])
    keys = list(keys_for_every_shard(cluster3).values())
    assert asyncio.run(_write_and_read(cluster3, keys)) == [b"v-" + k for k in keys]
    wait_all_quiesced(cluster3, [1, 2, 3])  # and quiet again once idle


def test_kill_9_of_the_leader_of_quiet_shards_elects_new_leaders(
        cluster3: LocalCluster) -> None:
    wait_all_quiesced(cluster3, [1, 2, 3])
    led = leaders(cluster3, [1, 2, 3])
    victim = max((1, 2, 3), key=lambda n: sum(1 for s in led.values() if s == {n}))
    assert any(s == {victim} for s in led.values())
    cluster3.kill(victim)
    alive = [n for n in (1, 2, 3) if n != victim]
    deadline = time.monotonic() + 30
    while True:
        led = leaders(cluster3, alive)
        if all(len(s) == 1 and next(iter(s)) in alive for s in led.values()):
            break
        assert time.monotonic() < deadline, f"shards without a live leader: {led}"
        time.sleep(0.1)
    keys = list(keys_for_every_shard(cluster3).values())
    assert asyncio.run(_write_and_read(cluster3, keys)) == [b"v-" + k for k in keys]
