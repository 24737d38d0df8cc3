"""Targeted scenarios driven through the simulator's own hosts, network and checker.

Random schedules rarely line up two forced campaigns inside one lease window,
so the lease-read safety check is also proven able to fail here, on a script:
the old leader is cut off, both followers are told to campaign at once, and
the old leader is asked for a lease read. The same for quiescence: a quiet
leader is cut off, the hosts' node beats wake its followers, they elect and
commit, and the old leader (still LEADER, it cannot know) is asked for a
lease read, which quiet time must not have kept alive.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from kvstore.raft import RaftCore, StateRole
from kvstore.sim.broken import CampaignIgnoresLeaseCore, QuiesceFreezesLeaseClockCore
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


def isolate_quiet_leader_until_replaced(factory: CoreFactory) -> tuple[Simulation, int]:
    """A quiesced group loses its leader's node; the hosts' node beats notice, the
    followers wake and elect a new leader, which commits a new entry."""
    sim = Simulation(1, 3, 0, factory, params=dataclasses.replace(calm(3), quiesce_ticks=2))
    for nid in sorted(sim.nodes):
        sim.restart(nid)
    for _ in range(60):
        sim.step(chaos=True)
    for _ in range(20):
        sim.step(chaos=False)  # no client: the group goes quiet
    old = leader_of(sim)
    assert old and all(n.core is not None and n.core.quiesced for n in sim.nodes.values())
    others = [i for i in sorted(sim.nodes) if i != old]
    sim.net.cut = both_ways([old], others)
    floor = sim.checker.max_commit
    for _ in range(200):
        sim.step(chaos=False)
        new = next((i for i in others if sim.nodes[i].role == StateRole.LEADER), 0)
        if new and sim.checker.max_commit == floor:
            sim.workload.propose(sim.now, sim.nodes[new])
        if sim.checker.max_commit > floor:
            break
    assert sim.checker.max_commit > floor, "no new leader committed behind the partition"
    assert sim.trace.stats["leader_down_wakes"] > 0
    assert sim.nodes[old].role == StateRole.LEADER  # quiet, cut off: it cannot know
    return sim, old


def test_quiet_time_extending_a_lease_is_caught_as_a_stale_lease_read() -> None:
    sim, old = isolate_quiet_leader_until_replaced(QuiesceFreezesLeaseClockCore)
    with pytest.raises(Violation, match="read index safety"):
        sim.workload.read(sim.now, sim.nodes[old])


def test_real_core_quiesced_leader_lease_ends_before_a_new_leader_commits() -> None:
    sim, old = isolate_quiet_leader_until_replaced(RaftCore)
    sim.workload.read(sim.now, sim.nodes[old])  # must not raise: the lease has ended
    assert sim.trace.stats["lease_reads"] == 0
