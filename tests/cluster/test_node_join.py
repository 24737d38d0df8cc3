"""Issue 7 §4 on real processes: nodes join and leave; replicas move online.

`kvctl node add ADDR` adds a node (started with `join` seeds) to the
metadata group's record; `kvctl node remove ID` marks one removed. Shard
leaders then walk every group to the new placement (add learner, catch up by
snapshot, promote, remove). Writes keep flowing; every acknowledged write
stays readable; each shard's members end with identical data. A kill -9 of
the joining node and of a shard leader in the middle of the moves changes
none of that.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import grpc

from kvstore.client import KVClient
from kvstore.cluster.admin import add_node, wait_placement
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import cluster_status, node_status
from kvstore.errors import KVError
from kvstore.proto import kv_pb2, kv_pb2_grpc
from tests.cluster.conftest import _dump_logs, start_cluster
from tests.cluster.test_node import kvctl

SHARDS = 4


class Load:
    """Background writers (own thread and event loop) recording acknowledged writes."""

    def __init__(self, c: LocalCluster, writers: int = 8, value: bytes = b"") -> None:
        self.c, self.writers, self.value = c, writers, value
        self.acked: dict[bytes, bytes] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(60)

    async def _run(self) -> None:
        async with KVClient(self.c.endpoints[:3], timeout=30) as kv:
            async def w(j: int) -> None:
                i = 0
                while not self._stop.is_set():
                    k = b"j%d-%06d" % (j, i)
                    v = k + self.value
                    try:
                        await kv.put(k, v)
                        self.acked[k] = v
                    except KVError as exc:
                        self.errors.append(exc.message)
                    i += 1
            await asyncio.gather(*(w(j) for j in range(self.writers)))


def _members(c: LocalCluster, active: list[int]) -> dict[int, tuple[set[int], int]]:
    """Per group (as its leader reports it): voters + learners, and the leader."""
    out: dict[int, tuple[set[int], int]] = {}
    for nid in active:
        st = node_status(c.nodes[nid].addr)
        assert st is not None, f"node {nid} is down"
        for g in st.groups:
            if g.leader_id == nid:
                out[g.group_id] = (set(g.voters) | set(g.learners), nid)
    return out


def _check_data(c: LocalCluster, active: list[int], acked: dict[bytes, bytes]) -> None:
    async def missing() -> list[bytes]:
        async with KVClient([c.nodes[n].addr for n in active], timeout=30) as kv:
            keys = sorted(acked)
            vals = await asyncio.gather(*(kv.get(k) for k in keys))
        return [k for k, v in zip(keys, vals, strict=True) if v != acked[k]]

    assert asyncio.run(missing()) == []
    groups = _members(c, active)
    for gid in range(1, SHARDS + 1):
        members, leader = groups[gid]
        want = _scan_shard(c, leader, gid)
        for m in members:
            # A member applies up to the leader's commit soon after; allow it a moment.
            for _ in range(50):
                if _scan_shard(c, m, gid) == want:
                    break
                threading.Event().wait(0.2)
            assert _scan_shard(c, m, gid) == want, f"shard {gid}: node {m} differs"


def _scan_shard(c: LocalCluster, nid: int, gid: int) -> dict[bytes, bytes]:
    """Node `nid`'s local copy of shard `gid` (stale read: exactly what it holds)."""
    out: dict[bytes, bytes] = {}
    with grpc.insecure_channel(c.nodes[nid].addr) as ch:
        stub = kv_pb2_grpc.KVStub(ch)
        start = b""
        while True:
            r = stub.Scan(kv_pb2.ScanRequest(header=kv_pb2.RequestHeader(
                shard_id=gid, consistency=kv_pb2.CONSISTENCY_STALE),
                start_key=start, limit=1000), timeout=10)
            out.update((it.key, it.value) for it in r.items)
            if not r.more:
                return out
            start = r.next_start_key


def test_node_add_and_remove_move_replicas_online(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", n=3, shards=SHARDS)
    try:
        r = kvctl(c, "node", "remove", "9")
        assert r.returncode == 1 and "not a member" in r.stderr, r.stderr
        r = kvctl(c, "node", "remove", "2")
        assert r.returncode == 1 and "fewer than the replication factor" in r.stderr, r.stderr
        r = kvctl(c, "node", "add", "127.0.0.1:1", "--timeout", "2")
        assert r.returncode == 1 and "does not answer" in r.stderr, r.stderr
        with Load(c) as load:
            n4 = c.add_node()
            c.start(4)
            r = kvctl(c, "node", "add", n4.addr, "--wait")
            assert r.returncode == 0 and "epoch 2" in r.stdout, r.stdout + r.stderr
            groups = _members(c, [1, 2, 3, 4])
            assert any(4 in m for m, _ in groups.values())  # node 4 took replicas
            assert all(4 in m for m, _ in [groups[0]])  # and is in the metadata group
            r = kvctl(c, "node", "remove", "1", "--wait")
            assert r.returncode == 0 and "removed [1]" in r.stdout, r.stdout + r.stderr
        assert load.errors == [] and len(load.acked) > 100, load.errors[:5]
        groups = _members(c, [2, 3, 4])
        assert set(groups) == set(range(SHARDS + 1))
        assert all(1 not in m for m, _ in groups.values())  # node 1 holds nothing
        r = kvctl(c, "node", "list")
        assert "removed" in r.stdout and "epoch 3" in r.stdout, r.stdout
        # Replica GC: a node deletes every replica it applied its own removal from,
        # so no node keeps data of a shard it no longer replicates.
        for _ in range(100):
            hosted = {n: {g.group_id: g for g in st.groups}
                      for n in c.nodes if (st := node_status(c.nodes[n].addr))}
            if all(n in g.voters or n in g.learners
                   for n, gs in hosted.items() for g in gs.values()):
                break
            threading.Event().wait(0.2)
        assert hosted[1] == {}, sorted(hosted[1])
        assert all(n in g.voters or n in g.learners
                   for n, gs in hosted.items() for g in gs.values())
        assert "storage.group_destroyed" in c.nodes[1].log_path.read_text()
        c.stop(1)  # the removed node can go: nothing depends on it
        _check_data(c, [2, 3, 4], load.acked)
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()


def test_kill_9_during_replica_moves_recovers_with_data_intact(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", n=3, shards=SHARDS, extra={
        "snapshot_entries": 50, "log_retain_entries": 10,
        "snapshot_chunk_bytes": 16384, "snapshot_rate_bytes": 256 * 1024})
    try:
        with Load(c, writers=4, value=b"x" * 1000) as load:
            while len(load.acked) < 1200:
                threading.Event().wait(0.2)
            n4 = c.add_node()
            c.start(4)
            add_node(c.endpoints[:3], n4.addr)
            deadline = threading.Event()
            for _ in range(100):  # until a move is under way
                if cluster_status(c.endpoints)["moves"]:
                    break
                deadline.wait(0.1)
            assert cluster_status(c.endpoints)["moves"], "no move started"
            victim = _members(c, [1, 2, 3])[1][1]  # shard 1's leader
            c.kill(4)
            c.kill(victim)
            deadline.wait(1.0)
            c.start(4)
            c.start(victim)
            wait_placement(c.endpoints, 120)
        assert len(load.acked) > 1200
        assert "snapshot.received" in c.nodes[4].log_path.read_text()
        _check_data(c, [1, 2, 3, 4], load.acked)
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()


def test_node_removed_while_down_drops_its_stale_replicas_when_it_returns(tmp_path: Path) -> None:
    """Replica GC by hint (kvstore/server/replica_gc.py): the node never saw its removals."""
    c = start_cluster(tmp_path / "c", n=4, shards=SHARDS)
    try:
        before = {g.group_id for g in node_status(c.nodes[4].addr).groups}  # type: ignore[union-attr]
        assert 0 in before and len(before) > 1
        c.kill(4)
        r = kvctl(c, "node", "remove", "4", "--wait")
        assert r.returncode == 0 and "removed [4]" in r.stdout, r.stdout + r.stderr
        c.start(4)
        hosted: set[int] = before
        for _ in range(150):
            st = node_status(c.nodes[4].addr)
            hosted = before if st is None else {g.group_id for g in st.groups}
            if not hosted:
                break
            threading.Event().wait(0.2)
        assert hosted == set(), f"node 4 still hosts {sorted(hosted)}"
        text = c.nodes[4].log_path.read_text()
        assert text.count("host.replica_stale") >= len(before), text[-2000:]
        with Load(c, writers=2) as load:  # the others are unaffected
            while len(load.acked) < 50 and not load.errors:
                threading.Event().wait(0.1)
        assert load.errors == []
        _check_data(c, [1, 2, 3], load.acked)
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()
