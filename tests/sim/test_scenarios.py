"""Targeted scenarios driven through the simulator's own hosts, network and checker.

Random schedules rarely line up two forced campaigns inside one lease window,
so the lease-read safety check is also proven able to fail here, on a script:
the old leader is cut off, both followers are told to campaign at once, and
the old leader is asked for a lease read.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from kvstore.raft import RaftCore, StateRole
from kvstore.sim.broken import CampaignIgnoresLeaseCore
from kvstore.sim.checker import Violation
from kvstore.sim.nemesis import both_ways, leader_of
from kvstore.sim.node import CoreFactory
from kvstore.sim.params import SimParams, draw_params
from kvstore.sim.sim import Simulation


def calm(nodes: int) -> SimParams:
    """A fault-free network, lease reads on, a steady trickle of proposals."""
    return dataclasses.replace(
        draw_params(random.Random(0), nodes, 0), profile="calm",
        drop_rate=0.0, dup_rate=0.0, min_delay=1, max_delay=3, reorder=False,
        partition_rate=0.0, crash_rate=0.0, pause_rate=0.0, transfer_rate=0.0,
        campaign_rate=0.0, leader_kill_rate=0.0, read_rate=0.0, propose_rate=0.3,
        check_quorum=True, pre_vote=True, lease_reads=True, election_ticks=10,
        heartbeat_ticks=1,
    )


def cut_off_leader_and_force_campaigns(factory: CoreFactory) -> tuple[Simulation, int]:
    sim = Simulation(1, 3, 0, factory, params=calm(3))
    for nid in sorted(sim.nodes):
        sim.restart(nid)
    for _ in range(60):
        sim.step(chaos=True)  # all fault rates are zero: only the clients act
    old = leader_of(sim)
    assert old and sim.checker.max_commit > 5
    others = [i for i in sorted(sim.nodes) if i != old]
    sim.net.cut = both_ways([old], others)
    for nid in others:  # an operator's "campaign now", inside the granted lease
        core = sim.nodes[nid].core
        assert core is not None
        core.campaign()
        sim.step(chaos=False)
    for _ in range(3):
        sim.step(chaos=False)
    return sim, old


def test_campaign_ignoring_the_lease_is_caught_as_a_stale_lease_read() -> None:
    sim, old = cut_off_leader_and_force_campaigns(CampaignIgnoresLeaseCore)
    leaders = [i for i, n in sim.nodes.items() if n.role == StateRole.LEADER]
    assert len(leaders) == 2 and old in leaders  # a new leader behind the partition
    with pytest.raises(Violation, match="read index safety"):
        sim.workload.read(sim.now, sim.nodes[old])


def test_real_core_keeps_the_lease_promise_under_forced_campaigns() -> None:
    sim, old = cut_off_leader_and_force_campaigns(RaftCore)
    assert [i for i, n in sim.nodes.items() if n.role == StateRole.LEADER] == [old]
    sim.workload.read(sim.now, sim.nodes[old])  # lease read: must not raise
    assert sim.trace.stats["lease_reads"] == 1
