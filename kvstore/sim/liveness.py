"""Node-level liveness of the simulated hosts, for quiesced groups.

A quiesced follower hears nothing from a live leader, so only its host can
tell a live quiet leader from a dead one. Real hosts know from their peer
streams (kvstore/server/liveness.py); here each host sends every peer a
node beat every `beat_ticks` (a local `BEAT` message, which the core ignores,
on the simulated network, so partitions, loss and delay apply), notes every
message it receives from a peer, and calls `report_leader_down()` on its
quiesced follower when its leader's node was silent for an election timeout.

Only active in seeds that draw `quiesce_ticks > 0`; otherwise every method
is a no-op, so those seeds' traces do not change.
"""

from __future__ import annotations

from typing import Protocol

from kvstore.raft import Message, MessageType, StateRole
from kvstore.sim.network import Network
from kvstore.sim.node import SimNode
from kvstore.sim.params import TICK, SimParams
from kvstore.sim.trace import Trace


class Cluster(Protocol):
    nodes: dict[int, SimNode]
    net: Network
    now: int
    ticks: int


class NodeLiveness:
    def __init__(self, params: SimParams, trace: Trace) -> None:
        self.on = params.quiesce_ticks > 0
        self.beat_ticks = max(1, params.election_ticks // 3)
        self.dead_after = params.election_ticks * TICK
        self.heard: dict[tuple[int, int], int] = {}  # (host, peer) -> last heard at
        self._trace = trace

    def heard_from(self, host: int, peer: int, now: int) -> None:
        if self.on:
            self.heard[(host, peer)] = now

    def restarted(self, host: int, now: int) -> None:
        """A restarted host gives every peer a full timeout before judging it."""
        for key in [k for k in self.heard if k[0] == host]:
            self.heard[key] = now

    def step(self, c: Cluster) -> None:
        if not self.on:
            return
        live = [nid for nid in sorted(c.nodes)
                if c.nodes[nid].core is not None and not c.nodes[nid].paused_until]
        if c.ticks % self.beat_ticks == 0:
            for nid in live:
                for peer in sorted(c.nodes):
                    if peer != nid:
                        c.net.send(Message(MessageType.BEAT, to=peer, frm=nid), c.now)
        for nid in live:
            core = c.nodes[nid].core
            assert core is not None
            if core.quiesced:
                self._trace.tally("quiesced_node_ticks")
            lead = core.leader_id
            if (core.quiesced and core.role != StateRole.LEADER and lead and lead != nid
                    and c.now - self.heard.setdefault((nid, lead), c.now) > self.dead_after):
                core.report_leader_down()
                self._trace.note(c.now, "host", f"{nid}: leader {lead} silent, wake")
                self._trace.tally("leader_down_wakes")
