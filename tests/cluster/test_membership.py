"""Issue 7 §2 on real processes: add a learner, promote it, remove the leader — under load.

The learner starts empty and catches up through a snapshot that carries the
configuration; a removed leader steps down and the rest elect a new one.
Every acknowledged write stays readable, and the new member holds the data.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from kvstore.client import KVClient
from kvstore.cluster.probe import node_status
from kvstore.errors import KVError
from tests.cluster.conftest import _dump_logs, start_cluster
from tests.cluster.test_node import kvctl, shard_leader
from tests.cluster.test_snapshots import _scan_stale


def voters(out: str) -> list[int]:
    m = re.search(r"voters \[([\d, ]*)\]", out)
    assert m, out
    return [int(x) for x in m.group(1).split(",") if x.strip()]


def test_add_learner_promote_and_remove_leader_under_load(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", n=4, shards=1, replication=3,
                      extra={"snapshot_entries": 20, "log_retain_entries": 5,
                             "rebalance": False})
    acked: set[bytes] = set()
    errors: list[str] = []
    try:
        hosting = [g for n in c.nodes if (s := node_status(c.nodes[n].addr))
                   for g in s.groups if g.group_id == 1]
        replicas = list(hosting[0].voters)
        assert len(replicas) == 3
        newcomer = next(n for n in c.nodes if n not in replicas)

        async def load(stop: asyncio.Event) -> None:
            async with KVClient(c.endpoints, timeout=20) as kv:
                async def w(j: int) -> None:
                    i = 0
                    while not stop.is_set():
                        k = b"m%d-%05d" % (j, i)
                        try:
                            await kv.put(k, k)
                            acked.add(k)
                        except KVError as exc:
                            errors.append(exc.message)
                        i += 1
                await asyncio.gather(*(w(j) for j in range(8)))

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(load(stop))
            await asyncio.sleep(1.0)
            r = await asyncio.to_thread(kvctl, c, "member", "add-learner", "--shard", "1",
                                        "--node", str(newcomer))
            assert r.returncode == 0 and f"learners [{newcomer}]" in r.stdout, r.stderr
            deadline = time.monotonic() + 30
            while True:  # the learner catches up (snapshot, then log)
                r = await asyncio.to_thread(kvctl, c, "member", "promote", "--shard", "1",
                                            "--node", str(newcomer))
                if r.returncode == 0:
                    break
                assert any(why in r.stderr for why in
                           ("behind", "not a learner", "not acknowledged")), r.stderr
                assert time.monotonic() < deadline, r.stderr
                await asyncio.sleep(0.3)
            assert newcomer in voters(r.stdout)
            old = shard_leader(c, 1)
            r = await asyncio.to_thread(kvctl, c, "member", "remove", "--shard", "1",
                                        "--node", str(old))
            assert r.returncode == 0, r.stderr
            assert old not in voters(r.stdout) and newcomer in voters(r.stdout)
            await asyncio.sleep(2.0)
            stop.set()
            await task

        asyncio.run(scenario())
        assert errors == [] and len(acked) > 100
        assert "snapshot.received" in c.nodes[newcomer].log_path.read_text()

        async def missing() -> list[bytes]:
            async with KVClient(c.endpoints, timeout=20) as kv:
                vals = await asyncio.gather(*(kv.get(k) for k in sorted(acked)))
            return [k for k, v in zip(sorted(acked), vals, strict=True) if v != k]

        assert asyncio.run(missing()) == []
        lead = shard_leader(c, 1)
        deadline = time.monotonic() + 20
        while _scan_stale(c.nodes[newcomer].addr, 1) != _scan_stale(c.nodes[lead].addr, 1):
            assert time.monotonic() < deadline, "the new member's data differs"
            time.sleep(0.2)
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()
