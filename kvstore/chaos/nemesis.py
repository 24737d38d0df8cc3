"""The nemesis: real faults on real node processes and links, on a seeded schedule.

Faults (one at a time, each started and later stopped):
- `kill`: SIGKILL of the leader of a random shard, one random node, a
  majority or all nodes; stopping restarts them (a crash and recovery);
- `pause`: SIGSTOP of a leader, one node or a majority; stopping sends SIGCONT;
- `partition`: cut peer links through the proxies (`kvstore.chaos.faults`
  patterns: halves, isolated leader, majority ring, bridge), by resets or by a
  blackhole, and, per `client_cuts`, the client links to the nodes outside the
  side the clients stay with; stopping heals every link. Nodes that `reshape`
  added have no proxies: partitions leave their links open;
- `reshape`: node-level membership, permanent rather than healed: grow the
  cluster by two new nodes (`LocalCluster.add_node` + `kvctl node add`), then
  remove two random nodes (original ones included), so 3 -> 4 -> 5 -> 4 -> 3
  while replicas move online; a removed node is stopped once it holds no
  replica (`kvstore.chaos.reshape`).

The schedule (Jepsen's): a quiet period, a fault for about `interval`
seconds, a quiet period, and so on until the deadline. Every choice comes from
one `random.Random`, so a seed replays the same fault sequence (timing still
varies). Every start and stop is written to the timeline (JSON lines with the
same monotonic clock as the history). Invariant: `heal_all()` leaves every
node running and unpaused and every link open, whatever was active.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc

from kvstore.chaos import faults
from kvstore.chaos.net import CLIENT, ChaosNet, Link
from kvstore.chaos.proxy import LinkState
from kvstore.chaos.reshape import Reshaper
from kvstore.cluster.admin import change_member, set_clock_rate
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import node_status
from kvstore.logging import get_logger

log = get_logger("kvstore.chaos.nemesis")

KINDS = ("kill", "pause", "partition", "skew", "member", "reshape")
CLIENT_CUTS = ("never", "sometimes", "always")
_KILL_TARGETS = (("leader", 4), ("one", 3), ("majority", 2), ("all", 1))
_PAUSE_TARGETS = (("leader", 5), ("one", 3), ("majority", 2))
_SKEW_TARGETS = (("leader", 4), ("one", 4), ("majority", 2))


@dataclass(slots=True)
class Fault:
    kind: str
    targets: list[int]
    detail: str
    undo: Callable[[], Awaitable[None]]
    info: dict[str, Any] = field(default_factory=dict)


class Timeline:
    """Nemesis events as JSON lines: {"time", "type": start|stop, "fault", ...}."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    def write(self, kind: str, fault: str, **fields: Any) -> None:
        record = {"time": time.monotonic_ns(), "type": kind, "fault": fault, **fields}
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()


async def _nothing() -> None:
    return None


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    names = [n for n, _ in table]
    return rng.choices(names, weights=[w for _, w in table])[0]


class Nemesis:
    def __init__(self, cluster: LocalCluster, net: ChaosNet, kinds: list[str],
                 interval_s: float, rng: random.Random, timeline: Timeline,
                 client_cuts: str = "sometimes") -> None:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown nemesis {unknown}; expected some of "
                             f"{', '.join(KINDS)}")
        if "reshape" in kinds and "member" in kinds:
            raise ValueError("reshape (node moves) and member (hand-made group changes) "
                             "cannot be combined")
        if client_cuts not in CLIENT_CUTS:
            raise ValueError(f"client_cuts must be one of {', '.join(CLIENT_CUTS)}")
        self.cluster = cluster
        self.net = net
        self.kinds = list(kinds)
        self.interval_s = interval_s
        self.rng = rng
        self.timeline = timeline
        self.client_cuts = client_cuts
        self.active: Fault | None = None
        self.counts: Counter[str] = Counter()
        self.reshaper = Reshaper(cluster, rng)

    @property
    def node_ids(self) -> list[int]:
        """Nodes faults may target: the cluster's, minus nodes reshaping retired."""
        return sorted(set(self.cluster.nodes) - self.reshaper.retired)

    # --- the schedule --------------------------------------------------------------
    async def run(self, stop_at: float) -> None:
        """Alternate quiet periods and faults until the monotonic time `stop_at`."""
        while self.kinds:
            quiet = self.interval_s * self.rng.uniform(0.5, 1.0)
            hold = self.interval_s * self.rng.uniform(0.75, 1.25)
            if time.monotonic() + quiet + 0.5 >= stop_at:
                return
            await asyncio.sleep(quiet)
            await self.start(self.rng.choice(self.kinds))
            await asyncio.sleep(max(0.0, min(hold, stop_at - time.monotonic())))
            await self.stop()

    async def start(self, kind: str) -> Fault:
        if self.active is not None:
            await self.stop()
        starter = {"kill": self._kill, "pause": self._pause, "partition": self._partition,
                   "skew": self._skew, "member": self._member, "reshape": self._reshape}
        fault = await starter[kind]()
        self.active = fault
        self.counts[kind] += 1
        self.timeline.write("start", kind, targets=fault.targets, detail=fault.detail,
                            **fault.info)
        log.info("nemesis.start", fault=kind, targets=fault.targets, detail=fault.detail)
        return fault

    async def stop(self) -> None:
        fault, self.active = self.active, None
        if fault is None:
            return
        await fault.undo()
        self.timeline.write("stop", fault.kind, targets=fault.targets)
        log.info("nemesis.stop", fault=fault.kind, targets=fault.targets)

    async def heal_all(self) -> None:
        """Stop the active fault, then make sure every node runs and every link is open."""
        await self.stop()
        self.net.heal()
        await self.reshaper.settle()
        for nid in self.node_ids:
            if self.cluster.alive(nid):
                self.cluster.resume(nid)
            else:
                await asyncio.to_thread(self.cluster.start, nid)
        self.timeline.write("heal", "all", targets=self.node_ids)

    # --- targets ---------------------------------------------------------------------
    async def leader(self) -> int:
        """The leader of a random shard (a random node when no leader is known)."""
        statuses = await asyncio.gather(*(
            asyncio.to_thread(node_status, self.cluster.nodes[n].addr, 1.0)
            for n in self.node_ids))
        shards = sorted({g.group_id for st in statuses if st is not None for g in st.groups})
        if shards:
            shard = self.rng.choice(shards)
            votes = Counter(g.leader_id for st in statuses if st is not None
                            for g in st.groups if g.group_id == shard and g.leader_id)
            if votes:
                return max(sorted(votes), key=lambda n: votes[n])
        return self.rng.choice(self.node_ids)

    async def _targets(self, how: str) -> list[int]:
        nodes = self.node_ids
        if how == "leader":
            return [await self.leader()]
        if how == "one":
            return [self.rng.choice(nodes)]
        if how == "majority":
            return sorted(self.rng.sample(nodes, len(nodes) // 2 + 1))
        return nodes

    # --- faults ----------------------------------------------------------------------
    async def _kill(self) -> Fault:
        how = _weighted(self.rng, _KILL_TARGETS)
        targets = await self._targets(how)
        for nid in targets:
            await asyncio.to_thread(self.cluster.kill, nid)

        async def restart() -> None:
            for nid in targets:
                await asyncio.to_thread(self.cluster.start, nid)

        return Fault("kill", targets, f"SIGKILL {how}", restart, {"how": how})

    async def _pause(self) -> Fault:
        how = _weighted(self.rng, _PAUSE_TARGETS)
        targets = await self._targets(how)
        for nid in targets:
            self.cluster.pause(nid)

        async def resume() -> None:
            for nid in targets:
                self.cluster.resume(nid)

        return Fault("pause", targets, f"SIGSTOP {how}", resume, {"how": how})

    async def _skew(self) -> Fault:
        """Clock skew: the targets' Raft clocks run slow or fast (0.3-0.7x or 1.5-3x).

        Only liveness may depend on clocks: linearizable reads and writes must
        stay correct whatever the rates. (Lease reads assume bounded drift.)"""
        how = _weighted(self.rng, _SKEW_TARGETS)
        targets = await self._targets(how)
        rates = {nid: (self.rng.uniform(0.3, 0.7) if self.rng.random() < 0.5
                       else self.rng.uniform(1.5, 3.0)) for nid in targets}
        for nid, rate in rates.items():
            with contextlib.suppress(grpc.RpcError):
                await asyncio.to_thread(set_clock_rate, self.cluster.nodes[nid].addr, rate)

        async def reset() -> None:
            for nid in targets:
                with contextlib.suppress(grpc.RpcError):
                    await asyncio.to_thread(set_clock_rate, self.cluster.nodes[nid].addr, 1.0)

        detail = ", ".join(f"n{n} x{r:.2f}" for n, r in sorted(rates.items()))
        return Fault("skew", targets, f"clock rate {detail}", reset,
                     {"how": how, "rates": {str(n): round(r, 3) for n, r in rates.items()}})

    async def _member(self) -> Fault:
        """Membership change: remove one voter of a random shard (the leader half the
        time); healing re-adds it as a learner and promotes it once it caught up."""
        statuses = await asyncio.gather(*(
            asyncio.to_thread(node_status, self.cluster.nodes[n].addr, 1.0)
            for n in self.node_ids))
        groups = sorted({(g.group_id, tuple(g.voters)) for st in statuses if st
                         for g in st.groups
                         if g.group_id >= 1 and len(g.voters) >= 3 and g.leader_id})
        if not groups:
            return Fault("member", [], "no shard with 3 voters and a leader", _nothing)
        shard, voters = self.rng.choice(groups)
        victim = (await self.leader()) if self.rng.random() < 0.5 else self.rng.choice(voters)
        if victim not in voters:
            victim = self.rng.choice(voters)
        endpoints = [self.cluster.nodes[n].addr for n in self.node_ids]
        await asyncio.to_thread(change_member, endpoints, shard, "remove", victim)

        async def rejoin() -> None:
            await asyncio.to_thread(change_member, endpoints, shard, "add-learner", victim)
            await asyncio.to_thread(change_member, endpoints, shard, "promote", victim, 30.0)

        return Fault("member", [victim], f"remove n{victim} from shard {shard}", rejoin,
                     {"shard": shard})

    async def _reshape(self) -> Fault:
        what, nid = await self.reshaper.step()
        return Fault("reshape", [nid] if nid else [], what, _nothing,
                     {"active": self.reshaper.active()})

    async def _partition(self) -> Fault:
        # Only links through ChaosNet's proxies can be cut: nodes that `reshape`
        # added later are dialled directly, so they stay outside every partition
        # (connected to both sides, like a bridge node).
        nodes = [n for n in self.node_ids if n in self.net.node_addrs]
        if len(nodes) < 2:
            return Fault("partition", [], "skipped: fewer than two nodes behind proxies",
                         _nothing)
        pattern = self.rng.choice(faults.PATTERNS)
        leader = await self.leader() if pattern == "isolated" else None
        if leader not in nodes:
            leader = None
        part = faults.make(pattern, nodes, self.rng, leader)
        mode = self.rng.choice([LinkState.DROP, LinkState.BLACKHOLE])
        cut_clients = bool(part.majority) and (
            self.client_cuts == "always"
            or (self.client_cuts == "sometimes" and self.rng.random() < 0.5))
        links: set[Link] = set(part.cuts)
        if cut_clients:
            links.update((CLIENT, n) for n in nodes if n not in part.majority)
        self.net.cut(links, mode)

        async def heal() -> None:
            self.net.heal()

        minority = sorted(n for n in nodes if part.majority and n not in part.majority)
        detail = f"{part.name} {part.description} ({mode.value}" + (
            f", clients cut from {minority})" if cut_clients else ")")
        return Fault("partition", sorted({a for a, _ in part.cuts} | {b for _, b in part.cuts}),
                     detail, heal, {"pattern": part.name, "mode": mode.value,
                                    "clients_cut": cut_clients})


def open_timeline(path: Path) -> tuple[Timeline, IO[str]]:
    fh = path.open("w", encoding="utf-8")
    return Timeline(fh), fh
