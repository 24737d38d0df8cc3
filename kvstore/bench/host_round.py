"""CPU per write of three real node hosts wired together in one process: `scripts/bench-host`.

    python -m kvstore.bench.host_round [--shards 1,8] [--concurrency 64] [--duration 5]
                                       [--no-fsync] [--json F]

`scripts/bench-round` measures the Raft cores, the wire encoding and apply in
isolation; this adds everything the node host does per loop turn (group
flush, Ready handling, the storage-writer thread, one LMDB transaction per
turn with or without fsync, early answers, message coalescing per peer) but
leaves out gRPC and sockets. Three `MultiRaftHost`s with their own LMDB
environments share one event loop; each coalesced peer batch goes through
the peer-link encoding (`kvstore.transport.wire`) and is delivered on the
next loop iteration. `--concurrency` workers put 100-byte values on 1000 keys
through the shard leaders with `KVClient`'s per-shard sessions.

It prints, per shard count: puts/s, CPU µs per put and per Raft entry
(process time, all threads), and client writes per entry. The CPU figures
are what work on the per-round cost should move; the puts/s of one process
on one core say nothing about a cluster's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from kvstore.client.session import ShardSession
from kvstore.logging import configure
from kvstore.raft import Message, StateRole
from kvstore.server.cluster_view import ClusterView, map_from_meta
from kvstore.server.config import NodeConfig
from kvstore.server.host import MultiRaftHost
from kvstore.sharding.meta import ClusterMeta
from kvstore.statemachine import StateMachine
from kvstore.statemachine.commands import Op, make_command
from kvstore.storage import NodeStore
from kvstore.transport.wire import decode_batch, encode_batch

IDS = (1, 2, 3)
KEYS = [b"key%06d" % i for i in range(1000)]


@dataclass
class HostRun:
    shards: int
    concurrency: int
    fsync: bool
    seconds: float
    puts: int
    entries: int
    cpu_s: float

    def row(self) -> dict[str, Any]:
        return {"shards": self.shards, "concurrency": self.concurrency, "fsync": self.fsync,
                "puts_per_s": round(self.puts / self.seconds),
                "cpu_us_per_put": round(self.cpu_s / max(1, self.puts) * 1e6, 1),
                "cpu_us_per_entry": round(self.cpu_s / max(1, self.entries) * 1e6, 1),
                "puts_per_entry": round(self.puts / max(1, self.entries), 2)}


class Trio:
    """Three hosts, one per node id, with in-memory peer links."""

    def __init__(self, tmp: str, shards: int, fsync: bool, **node_opts: Any) -> None:
        peers = {i: f"127.0.0.1:{7000 + i}" for i in IDS}
        meta = ClusterMeta.initial(peers, shards, len(IDS))
        self.stores: list[NodeStore] = []
        self.hosts: dict[int, MultiRaftHost] = {}
        for i in IDS:
            cfg = NodeConfig(node_id=i, listen=peers[i], peers=peers, shards=shards,
                             data_dir=os.path.join(tmp, f"n{i}"), fsync=fsync, **node_opts)
            cfg.validate()
            store = NodeStore(cfg.data_dir, sync=fsync, cluster_id=cfg.cluster_id.encode(),
                              node_id=i)
            self.stores.append(store)
            view = ClusterView(cfg.cluster_id, i, dict(peers), map_from_meta(cfg.cluster_id, meta),
                               meta)
            self.hosts[i] = MultiRaftHost(cfg, store, StateMachine(store), view, self._sender(i))
        self.view = view
        self.batches = 0

    def _sender(self, frm: int) -> Any:
        def send(to: int, items: list[tuple[int, Message]]) -> None:
            payload = encode_batch(items)
            self.batches += 1
            asyncio.get_running_loop().call_soon(self._deliver, frm, to, payload)
        return send

    def _deliver(self, frm: int, to: int, payload: bytes) -> None:
        host = self.hosts[to]
        host.peer_heard(frm)
        items = decode_batch(payload, frm, to)
        if items:
            host.deliver(items)

    def leader_of(self, gid: int) -> MultiRaftHost | None:
        for h in self.hosts.values():
            g = h.group(gid)
            if g is not None and g.core.role == StateRole.LEADER:
                return h
        return None

    def entries(self) -> int:
        """Entries committed so far, summed over the shards (leader's commit index)."""
        total = 0
        for gid in range(1, self.view.map.ring.shard_count + 1):
            h = self.leader_of(gid)
            g = h.group(gid) if h is not None else None
            total += g.core.commit_index if g is not None else 0
        return total

    def close(self) -> None:
        for store in self.stores:
            store.close()


class Client:
    """Puts through the shard leaders with KVClient's per-shard sessions (seq and ack)."""

    def __init__(self, trio: Trio, seed: int) -> None:
        self.trio = trio
        self.rng = random.Random(seed)
        self.value = self.rng.randbytes(100)
        self.sessions: dict[int, ShardSession] = {}
        self.done = 0

    async def put(self) -> None:
        key = self.rng.choice(KEYS)
        gid = self.trio.view.map.shard_for_key(key)
        host = self.trio.leader_of(gid)
        if host is None:
            await asyncio.sleep(0.01)
            return
        sess = self.sessions.get(gid)
        if sess is None:
            sess = self.sessions[gid] = ShardSession()
        seq = sess.next_seq()
        try:
            g = host.group(gid)
            assert g is not None
            fut = g.submit_write(make_command(Op.PUT, key, self.value, b"", False,
                                              sess.client_id, seq, sess.ack_seq()))
            host.wake()
            await fut
            self.done += 1
        except Exception:  # leadership moved under us: try another key
            await asyncio.sleep(0.001)
        finally:
            sess.done(seq)

    async def worker(self, until: float) -> None:
        while time.monotonic() < until:
            await self.put()


async def _measure(shards: int, concurrency: int, duration: float, warmup: float,
                   fsync: bool) -> HostRun:
    with tempfile.TemporaryDirectory() as tmp:
        trio = Trio(tmp, shards, fsync)
        tasks = [asyncio.create_task(h.run()) for h in trio.hosts.values()]
        try:
            deadline = time.monotonic() + 30
            while not all(trio.leader_of(g) for g in range(1, shards + 1)):
                if time.monotonic() > deadline:
                    raise RuntimeError("no leader for every shard within 30 s")
                await asyncio.sleep(0.05)
            client = Client(trio, seed=shards)
            end = time.monotonic() + warmup + duration
            workers = [asyncio.create_task(client.worker(end)) for _ in range(concurrency)]
            await asyncio.sleep(warmup)
            puts0, entries0, cpu0, t0 = client.done, trio.entries(), time.process_time(), \
                time.monotonic()
            await asyncio.gather(*workers)
            return HostRun(shards, concurrency, fsync, time.monotonic() - t0,
                           client.done - puts0, trio.entries() - entries0,
                           time.process_time() - cpu0)
        finally:
            for h in trio.hosts.values():
                h.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            trio.close()


def run(shards: list[int], concurrency: int, duration: float, warmup: float,
        fsync: bool) -> list[dict[str, Any]]:
    rows = []
    for s in shards:
        # uvloop where installed, as kvstore-node runs.
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            rows.append(runner.run(_measure(s, concurrency, duration, warmup, fsync)).row())
    return rows


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench-host", description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", default="1,8", help="comma-separated shard counts")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--no-fsync", action="store_true", help="LMDB commits without fsync")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    try:
        shards = [int(s) for s in a.shards.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--shards must be comma-separated integers, got {a.shards!r}")
    if not shards or any(not 1 <= s <= 256 for s in shards):
        ap.error("--shards must name shard counts between 1 and 256")
    if a.concurrency < 1 or a.duration <= 0 or a.warmup < 0:
        ap.error("--concurrency must be >= 1, --duration > 0 and --warmup >= 0")
    configure(level="warning")
    rows = run(shards, a.concurrency, a.duration, a.warmup, not a.no_fsync)
    print("| shards | puts/s (one process) | CPU µs/put | CPU µs/entry | puts/entry |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shards']} | {r['puts_per_s']:,} | {r['cpu_us_per_put']} | "
              f"{r['cpu_us_per_entry']} | {r['puts_per_entry']} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
