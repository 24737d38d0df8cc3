"""One chaos run: cluster behind proxies, clients, nemesis, heal, final reads.

`run_chaos(config)` does, in order:
1. start a `LocalCluster` whose every peer link and client link goes through a
   fault-injecting proxy (`ChaosNet`), and wait until every shard has a leader;
2. run `concurrency` logical clients (each one op in flight; after an
   indeterminate op a client takes a fresh process id and a fresh KVClient
   session, as Jepsen's do) while the nemesis injects faults, for `time_s`;
3. heal everything (links, paused and killed nodes), wait until every node
   answers and agrees on every shard's leader, and read every key ever used with a linearizable read (recorded like any op),
   so a lost acknowledged write shows up in the history;
4. stop the cluster (always, in a finally) and hand over to `report`.

Invariant: whatever happens (errors, Ctrl-C), no node process or proxy
outlives the run, and the history on disk stays parseable.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from kvstore.chaos.client import connect_client
from kvstore.chaos.nemesis import Nemesis, open_timeline
from kvstore.chaos.net import ChaosNet
from kvstore.chaos.recorder import Recorder
from kvstore.chaos.workload import Op, Outcome, Workload, make_workload
from kvstore.client import KVClient
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import agreed_leader, node_status
from kvstore.errors import KVError
from kvstore.logging import get_logger

log = get_logger("kvstore.chaos")

#: Final reads of every key must all succeed within this many seconds of healing.
FINAL_READ_TIMEOUT_S = 30.0
#: Cap on concurrent final reads.
MAX_FINAL_READS_IN_FLIGHT = 16


@dataclass(slots=True)
class ChaosConfig:
    out: Path
    nodes: int = 3
    shards: int = 4
    leader_policy: str = "spread"
    workload: str = "register"
    nemesis: list[str] = field(default_factory=lambda: ["partition", "kill", "pause"])
    time_s: float = 60.0
    interval_s: float = 5.0
    concurrency: int = 10
    consistency: str = "linearizable"
    seed: int = 0
    op_timeout_s: float = 1.5
    keys: int | None = None
    ops_per_key: int | None = None
    client_cuts: str = "sometimes"
    tick_ms: int = 50
    election_ticks: int = 10
    recover_timeout_s: float = 30.0
    check_timeout_s: float = 120.0
    keep_data: bool = False


@dataclass(slots=True)
class RunStats:
    """What the run itself observed (the verdict comes later, from the checker)."""

    t0_ns: int = 0
    recovered: bool = False
    keys: int = 0
    final_ok: int = 0
    nemesis: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    proxies: dict[str, dict[str, int]] = field(default_factory=dict)


class _Run:
    def __init__(self, cfg: ChaosConfig, cluster: LocalCluster, net: ChaosNet) -> None:
        self.cfg = cfg
        self.cluster = cluster
        self.net = net
        self.rng = random.Random(cfg.seed)
        self.workload: Workload = make_workload(cfg.workload, keys=cfg.keys,
                                                ops_per_key=cfg.ops_per_key,
                                                consistency=cfg.consistency)
        self.recorder = Recorder(cfg.out / "history.jsonl")
        self.stop = asyncio.Event()
        self.max_process = cfg.concurrency - 1

    async def _open(self, rng: random.Random, give_up: asyncio.Event) -> KVClient | None:
        return await connect_client(self.net.client_addresses(), timeout=self.cfg.op_timeout_s,
                                    consistency=self.cfg.consistency,
                                    seed=rng.randrange(1 << 32), give_up=give_up,
                                    link_overrides=self.net.client_link_addresses())

    async def _one(self, kv: KVClient, process: int, op: Op,
                   consistency: str | None = None) -> Outcome:
        """Invoke, execute with a hard deadline, complete: one history entry."""
        self.recorder.invoke(process, op)
        read = op.f == self.workload.read_f
        try:
            outcome = await asyncio.wait_for(self.workload.execute(kv, op, consistency),
                                             self.cfg.op_timeout_s * 2 + 2)
        except TimeoutError:
            outcome = Outcome("fail" if read else "info", error="Timeout: harness deadline")
        except (KVError, OSError, RuntimeError, ValueError) as exc:
            # Unexpected from the client: we cannot know whether it applied.
            outcome = Outcome("fail" if read else "info", error=f"{type(exc).__name__}: {exc}")
        self.recorder.complete(process, outcome)
        return outcome

    async def worker(self, index: int, rng: random.Random) -> None:
        process = index
        kv: KVClient | None = None
        try:
            while not self.stop.is_set():
                if kv is None:
                    kv = await self._open(rng, self.stop)
                    if kv is None:
                        return
                outcome = await self._one(kv, process, self.workload.next_op(rng))
                if outcome.type == "info":
                    # Jepsen: an indeterminate op retires the process; a new
                    # logical client (new id, new sessions) takes over.
                    await kv.aclose()
                    kv = None
                    process += self.cfg.concurrency
                    self.max_process = max(self.max_process, process)
        finally:
            if kv is not None:
                await kv.aclose()

    async def final_reads(self) -> int:
        """Read every key (linearizable, retried until ok); the number read ok."""
        keys = self.workload.keys()
        deadline = time.monotonic() + FINAL_READ_TIMEOUT_S
        give_up = asyncio.Event()
        asyncio.get_running_loop().call_later(FINAL_READ_TIMEOUT_S, give_up.set)
        kv = await self._open(self.rng, give_up)
        if kv is None:
            return 0
        gate = asyncio.Semaphore(MAX_FINAL_READS_IN_FLIGHT)

        async def read(key: str) -> bool:
            async with gate:
                while time.monotonic() < deadline:
                    self.max_process += 1
                    op = Op(self.workload.read_f, key)
                    outcome = await self._one(kv, self.max_process, op, "linearizable")
                    if outcome.type == "ok":
                        return True
                    await asyncio.sleep(0.2)
                return False

        try:
            results = await asyncio.gather(*(read(k) for k in keys))
        finally:
            await kv.aclose()
        return sum(results)

    async def main(self) -> RunStats:
        cfg = self.cfg
        stats = RunStats(nemesis={})
        timeline, tfh = open_timeline(cfg.out / "nemesis.jsonl")
        nemesis = self.nemesis = Nemesis(self.cluster, self.net, cfg.nemesis, cfg.interval_s,
                          random.Random(self.rng.randrange(1 << 32)), timeline, cfg.client_cuts)
        try:
            stats.t0_ns = time.monotonic_ns()
            timeline.write("begin", "none", seed=cfg.seed)
            stop_at = time.monotonic() + cfg.time_s
            workers = [asyncio.create_task(
                self.worker(i, random.Random(self.rng.randrange(1 << 32))), name=f"client-{i}")
                for i in range(cfg.concurrency)]
            try:
                if cfg.nemesis:
                    await nemesis.run(stop_at)
                await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
            finally:
                self.stop.set()
                await asyncio.gather(*workers, return_exceptions=True)
                await nemesis.heal_all()
            stats.recovered = await self._wait_recovered()
            stats.keys = len(self.workload.keys())
            stats.final_ok = await self.final_reads()
            timeline.write("end", "none")
        finally:
            self.recorder.close()
            tfh.close()
        stats.nemesis = dict(nemesis.counts)
        stats.errors = dict(self.recorder.errors)
        stats.counts = dict(self.recorder.counts)
        stats.proxies = self.net.stats()
        return stats

    async def _wait_recovered(self) -> bool:
        """Every node answers and, for the metadata group and every shard, all members
        name the same leader (replicas removed from a group are idle and not asked)."""
        deadline = time.monotonic() + self.cfg.recover_timeout_s
        addrs = [self.cluster.nodes[n].addr for n in self.nemesis.node_ids]
        while time.monotonic() < deadline:
            statuses = await asyncio.gather(*(asyncio.to_thread(node_status, a, 1.0)
                                              for a in addrs))
            if all(st is not None for st in statuses) and all(
                    agreed_leader(statuses, gid)[0] for gid in range(self.cfg.shards + 1)):
                return True
            await asyncio.sleep(0.2)
        log.warning("chaos.not_recovered", timeout_s=self.cfg.recover_timeout_s)
        return False


async def _run_async(cfg: ChaosConfig, cluster: LocalCluster) -> RunStats:
    async with ChaosNet({n.node_id: n.addr for n in cluster.nodes.values()},
                        {n.node_id: n.raft_addr for n in cluster.nodes.values()},
                        {n.node_id: n.link_addr for n in cluster.nodes.values()}) as net:
        cluster.set_peer_addresses(net.peer_addresses(), net.raft_peer_addresses())
        try:
            await asyncio.to_thread(cluster.start)
            await asyncio.to_thread(cluster.wait_ready, 60.0)
            run = _Run(cfg, cluster, net)
            return await run.main()
        finally:
            await asyncio.to_thread(cluster.stop)


def run_cluster_phase(cfg: ChaosConfig) -> tuple[LocalCluster, RunStats]:
    """Steps 1-4: returns the (stopped) cluster and what the run observed."""
    if cfg.concurrency < 1 or cfg.time_s <= 0 or cfg.interval_s <= 0 or cfg.nodes < 1:
        raise ValueError("concurrency, time, interval and nodes must be positive")
    cfg.out.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster.create(cfg.out / "cluster", cfg.nodes, shards=cfg.shards,
                                  tick_ms=cfg.tick_ms, election_ticks=cfg.election_ticks,
                                  cluster_id=f"chaos-{cfg.seed}",
                                  extra={"allow_fault_injection": True,
                                         "leader_policy": cfg.leader_policy,
                                         # hand-made group changes (member) would
                                         # fight the automatic replica moves
                                         "rebalance": "member" not in cfg.nemesis})
    try:
        stats = asyncio.run(_run_async(cfg, cluster))
    finally:
        # Belt and braces: asyncio.run may have been interrupted before its finally.
        with contextlib.suppress(KVError, OSError):
            cluster.stop()
    return cluster, stats
