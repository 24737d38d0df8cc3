"""The nemesis: partitions, crashes and restarts, pauses and leadership transfers.

Once per step, each action in `Nemesis.actions` rolls against its per-seed
rate. The table is the extension point of the fault mix: membership changes
(`members.py`) join it as one more `(name, rate, action)` row.

Partition kinds, over a random permutation of the nodes:
- halves: a minority (1..n//2 nodes) cut from the rest, both ways;
- isolate-leader: the current leader cut from everyone (old leader keeps its
  role until CheckQuorum or a higher term deposes it);
- ring: each node talks only to its two ring neighbours (with 3 nodes, a line:
  the ends cannot talk);
- bridge: two halves that only a bridge node connects;
- one-way: a random set of directed links is cut (asymmetric reachability).

Besides the per-step rolls, a reactive fault: with `leader_kill_rate`, a node
that just became leader crashes a few ticks later. Short-lived leaders leave
old-term entries half replicated, the ground on which Figure 8 of the Raft
paper (and any weakening of §5.4.2) goes wrong.

Invariants: at most one partition is active at a time and it heals after a
drawn duration; at most `max_down` nodes are down at once; every crashed node
has a scheduled restart. `heal_all` (before the liveness phase) lifts all of it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from kvstore.raft import StateRole
from kvstore.sim.network import Network
from kvstore.sim.node import SimNode
from kvstore.sim.params import TICK, SimParams
from kvstore.sim.trace import Trace


class Cluster(Protocol):
    """What the nemesis may do to the cluster."""

    nodes: dict[int, SimNode]
    net: Network
    now: int

    def crash(self, node: int) -> None: ...

    def restart(self, node: int) -> None: ...


class Nemesis:
    """Per-step fault injection driven by the nemesis rng."""

    def __init__(self, params: SimParams, rng: random.Random, trace: Trace) -> None:
        self._p = params
        self._rng = rng
        self._trace = trace
        self.partition_ends = 0  # 0: no partition active
        self.active = True  # False once healed: no more faults
        self.restarts: dict[int, int] = {}  # node -> restart time
        self.kills: dict[int, int] = {}  # new leader -> crash time (short-lived leaders)
        self.actions: list[tuple[str, float, Callable[[Cluster], None]]] = [
            ("partition", params.partition_rate, self.partition),
            ("crash", params.crash_rate, self.crash),
            ("pause", params.pause_rate, self.pause),
            ("transfer", params.transfer_rate, self.transfer),
            ("campaign", params.campaign_rate, self.campaign),
        ]

    def step(self, c: Cluster) -> None:
        if self.partition_ends and c.now >= self.partition_ends:
            self.partition_ends = 0
            c.net.set_partition(set())
            self._trace.note(c.now, "nemesis", "partition healed")
        for nid, at in sorted(self.kills.items()):
            if c.now >= at:
                del self.kills[nid]
                if c.nodes[nid].up:  # kills ignore max_down: their downtime is short
                    self._crash(c, nid, short=True)
        for nid, at in sorted(self.restarts.items()):
            if c.now >= at:
                del self.restarts[nid]
                c.restart(nid)
        for n in c.nodes.values():
            if n.paused_until and c.now >= n.paused_until:
                n.paused_until = 0
                self._trace.note(c.now, "nemesis", f"resume {n.id}")
        rng = self._rng
        for _name, rate, action in self.actions:
            if rate and rng.random() < rate:
                action(c)

    def heal_all(self, c: Cluster) -> None:
        """Lift every fault: partitions, loss, pauses; restart every down node."""
        self.active = False
        self.kills.clear()
        self.partition_ends = 0
        c.net.heal()
        for n in c.nodes.values():
            n.paused_until = 0
        for nid in sorted(self.restarts):
            c.restart(nid)
        self.restarts.clear()
        self._trace.note(c.now, "nemesis", "heal all")

    # --- actions ------------------------------------------------------------
    def partition(self, c: Cluster) -> None:
        if self.partition_ends:
            return
        rng = self._rng
        kind = rng.choice(self._p.partition_kinds)
        ids = sorted(c.nodes)
        rng.shuffle(ids)
        cut = cut_links(kind, ids, leader_of(c), rng)
        if not cut:
            return
        c.net.set_partition(cut)
        self._trace.tally("partitions")
        lo, hi = self._p.partition_ticks
        self.partition_ends = c.now + rng.randint(lo, hi) * TICK
        self._trace.note(c.now, "nemesis", f"partition {kind} cut={sorted(cut)}")

    def crash(self, c: Cluster) -> None:
        if len(self.restarts) >= self._p.max_down:
            return
        rng = self._rng
        leader = leader_of(c)
        up = [nid for nid in sorted(c.nodes) if c.nodes[nid].up]
        if not up:
            return
        victim = leader if leader and rng.random() < self._p.leader_crash_bias else rng.choice(up)
        self._crash(c, victim)

    def _crash(self, c: Cluster, nid: int, short: bool = False) -> None:
        lo, hi = self._p.down_ticks
        if short:
            hi = min(hi, 2 * self._p.election_ticks)
        self.restarts[nid] = c.now + self._rng.randint(lo, hi) * TICK
        c.crash(nid)

    def on_leader(self, now: int, nid: int) -> None:
        """A node just became leader: maybe make it short-lived (crash it soon)."""
        if self.active and self._p.leader_kill_rate and (
                self._rng.random() < self._p.leader_kill_rate):
            ticks = self._rng.choice((0, 0, 1, 2 * self._p.heartbeat_ticks + 2))
            self.kills[nid] = now + ticks * TICK
            self._trace.tally("leader_kills")

    def pause(self, c: Cluster) -> None:
        running = [nid for nid in sorted(c.nodes)
                   if c.nodes[nid].up and not c.nodes[nid].paused_until]
        if not running:
            return
        nid = self._rng.choice(running)
        ticks = self._rng.randint(1, 2 * self._p.election_ticks)
        c.nodes[nid].paused_until = c.now + ticks * TICK
        self._trace.tally("pauses")
        self._trace.note(c.now, "nemesis", f"pause {nid} for {ticks} ticks")

    def transfer(self, c: Cluster) -> None:
        leader = leader_of(c)
        if not leader:
            return
        to = self._rng.choice([nid for nid in sorted(c.nodes) if nid != leader])
        core = c.nodes[leader].core
        assert core is not None
        self._trace.note(c.now, "nemesis", f"transfer leader {leader} -> {to}")
        self._trace.tally("transfers")
        core.transfer_leader(to)


    def campaign(self, c: Cluster) -> None:
        """An operator or host asks a random running node to campaign now."""
        running = [nid for nid in sorted(c.nodes)
                   if c.nodes[nid].core is not None and not c.nodes[nid].paused_until]
        if not running:
            return
        nid = self._rng.choice(running)
        core = c.nodes[nid].core
        assert core is not None
        self._trace.note(c.now, "nemesis", f"campaign {nid}")
        self._trace.tally("campaigns")
        core.campaign()


def leader_of(c: Cluster) -> int:
    """The running leader of the highest term, 0 if none."""
    best, best_term = 0, -1
    for nid in sorted(c.nodes):
        n = c.nodes[nid]
        if n.core is not None and n.role == StateRole.LEADER and n.core.term > best_term:
            best, best_term = nid, n.core.term
    return best


def both_ways(a: list[int], b: list[int]) -> set[tuple[int, int]]:
    return {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}


def cut_links(kind: str, ids: list[int], leader: int,
               rng: random.Random) -> set[tuple[int, int]]:
    """The directed links to cut for a partition of `kind` (ids already shuffled)."""
    n = len(ids)
    if kind == "halves":
        k = rng.randint(1, n // 2)
        return both_ways(ids[:k], ids[k:])
    if kind == "isolate-leader":
        victim = leader or ids[0]
        return both_ways([victim], [i for i in ids if i != victim])
    if kind == "ring":
        if n <= 3:
            return both_ways([ids[0]], [ids[-1]])
        near = {(ids[i], ids[(i + 1) % n]) for i in range(n)}
        near |= {(b, a) for a, b in near}
        return {(a, b) for a in ids for b in ids if a != b and (a, b) not in near}
    if kind == "bridge":
        rest = ids[1:]
        half = len(rest) // 2
        return both_ways(rest[:half], rest[half:])
    if kind == "one-way":
        return {(a, b) for a in ids for b in ids if a != b and rng.random() < 0.4}
    raise ValueError(f"unknown partition kind {kind!r}")
