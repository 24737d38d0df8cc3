"""Issue 7 §1: snapshots and log compaction on real processes.

A follower kept down while 10,000 writes happen and compaction runs
rejoins through InstallSnapshot, and its data equals the leader's. Disk use
(the log) stays bounded: the leader's log is compacted to the retained tail.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc

from kvstore.client import KVClient
from kvstore.cluster.probe import node_status
from kvstore.proto import admin_pb2, kv_pb2, kv_pb2_grpc
from tests.cluster.conftest import _dump_logs, start_cluster

N_WRITES = 10_000  # the issue: "a follower kept down while 10k writes happen"


async def _write(endpoints: list[str], n: int) -> None:
    async with KVClient(endpoints, timeout=30) as kv:
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with sem:
                await kv.put(b"s%05d" % i, b"v%d" % i)

        await asyncio.gather(*(one(i) for i in range(n)))


def _scan_stale(addr: str, shards: int) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    with grpc.insecure_channel(addr) as ch:
        stub = kv_pb2_grpc.KVStub(ch)
        for shard in range(1, shards + 1):
            start = b""
            while True:
                r = stub.Scan(kv_pb2.ScanRequest(header=kv_pb2.RequestHeader(
                    shard_id=shard, consistency=kv_pb2.CONSISTENCY_STALE),
                    start_key=start, limit=1000), timeout=10)
                out.update((it.key, it.value) for it in r.items)
                if not r.more:
                    break
                start = r.next_start_key
    return out


def test_follower_down_during_compaction_rejoins_via_install_snapshot(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", n=3, shards=2,
                      extra={"snapshot_entries": 20, "log_retain_entries": 5})
    try:
        c.kill(3)
        asyncio.run(_write(c.endpoints[:2], N_WRITES))
        st1 = node_status(c.nodes[1].addr)
        assert st1 is not None
        # Compaction ran: every group's snapshot is recent and its log is short.
        for g in st1.groups:
            assert g.snapshot_index > 0
            assert g.last_index - g.snapshot_index < 20 + 5
        c.start(3)
        deadline = time.monotonic() + 60
        while True:
            st3 = node_status(c.nodes[3].addr)
            if st3 is not None and all(g.snapshot_index > 0 for g in st3.groups):
                want = {g.group_id: g.commit_index for g in node_status(c.nodes[1].addr).groups}
                if all(g.applied_index >= want[g.group_id] for g in st3.groups):
                    break
            assert time.monotonic() < deadline, "node 3 did not catch up via snapshot"
            time.sleep(0.2)
        assert "snapshot.received" in c.nodes[3].log_path.read_text()
        leader_data = _scan_stale(c.nodes[1].addr, 2)
        assert len(leader_data) == N_WRITES
        assert _scan_stale(c.nodes[3].addr, 2) == leader_data
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()


def _g(st: admin_pb2.StatusResponse, gid: int) -> admin_pb2.GroupStatus:
    return next(g for g in st.groups if g.group_id == gid)


def test_kill_9_during_snapshot_install_recovers_with_data_intact(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", n=3, shards=1, extra={
        "snapshot_entries": 20, "log_retain_entries": 5,
        "snapshot_chunk_bytes": 16384, "snapshot_rate_bytes": 256 * 1024})
    try:
        c.kill(3)

        async def big_writes() -> None:
            async with KVClient(c.endpoints[:2], timeout=30) as kv:
                sem = asyncio.Semaphore(32)

                async def one(i: int) -> None:
                    async with sem:
                        await kv.put(b"big%05d" % i, bytes([i % 251]) * 1000)

                await asyncio.gather(*(one(i) for i in range(1500)))

        asyncio.run(big_writes())
        c.start(3)
        # ~1.5 MB at 256 KiB/s takes ~6 s: kill node 3 as soon as it is staging one.
        staged: list[Path] = []
        deadline = time.monotonic() + 20
        while not staged and time.monotonic() < deadline:
            time.sleep(0.1)
            staged = list((c.nodes[3].dir / "data" / "snapshots").glob("*.part"))
        time.sleep(0.5)
        c.kill(3)
        c.start(3)
        deadline = time.monotonic() + 90
        while True:
            st3 = node_status(c.nodes[3].addr)
            st1 = node_status(c.nodes[1].addr)
            if st3 is not None and st1 is not None and \
                    _g(st3, 1).applied_index >= _g(st1, 1).commit_index:
                break
            assert time.monotonic() < deadline, "node 3 never finished installing"
            time.sleep(0.3)
        assert staged, "the kill did not hit a transfer in progress"
        data = _scan_stale(c.nodes[3].addr, 1)
        assert data == _scan_stale(c.nodes[1].addr, 1) and len(data) == 1500
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()
