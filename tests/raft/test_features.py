"""Tests of the core's features beyond Figure 2: PreVote (§9.6), CheckQuorum (§6.2),
ReadIndex and leases (§6.4), leadership transfer (§3.10), flow control, and
snapshot install (§5 / thesis §5)."""

from __future__ import annotations

import pytest

from kvstore.raft import (
    Config,
    ConfState,
    MemoryStorage,
    MessageType,
    ProposalDropped,
    RaftCore,
    ReadOnlyOption,
    StateRole,
)
from kvstore.raft.progress import ProgressState
from tests.raft.harness import Network

MT = MessageType


# --- PreVote (thesis §9.6) ---------------------------------------------------

def test_9_6_prevote_partitioned_node_does_not_disrupt_leader_on_rejoin() -> None:
    net = Network([1, 2, 3], pre_vote=True, check_quorum=True)
    net.elect(1)
    term = net.core(1).term
    net.isolate(3)
    for _ in range(60):  # node 3 times out again and again, but only pre-votes
        net.tick(3)
        net.flush()
        net.queue.clear()
    assert net.core(3).term == term
    net.heal()
    net.tick_all(3)
    assert net.core(1).role == StateRole.LEADER and net.core(1).term == term


def test_9_6_without_prevote_partitioned_node_inflates_term_and_disrupts() -> None:
    """The contrast case: without PreVote the rejoining node forces a new election."""
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(1)
    term = net.core(1).term
    net.isolate(3)
    for _ in range(60):
        net.tick(3)
        net.flush()
        net.queue.clear()
    assert net.core(3).term > term
    net.heal()
    net.tick_all(2 * net.core(3).cfg.election_ticks)
    assert net.core(1).term > term  # node 3's next campaign deposed the leader


# --- CheckQuorum (thesis §6.2) ------------------------------------------------

def test_6_2_check_quorum_leader_steps_down_without_quorum() -> None:
    net = Network([1, 2, 3], check_quorum=True)
    net.elect(1)
    net.isolate(1)
    # The first check still sees activity from before the partition; the second cannot.
    net.tick(1, net.core(1).cfg.election_ticks)
    assert net.core(1).role == StateRole.LEADER
    net.tick(1, net.core(1).cfg.election_ticks)
    assert net.core(1).role == StateRole.FOLLOWER


def test_6_2_check_quorum_followers_ignore_votes_while_leader_is_alive() -> None:
    net = Network([1, 2, 3], check_quorum=True, pre_vote=False)
    net.elect(1)
    term = net.core(1).term
    net.core(3).campaign()  # a disruptive candidate (e.g. after a GC pause)
    net.stabilize()
    assert net.core(2).term == term and net.core(2).leader_id == 1


def test_boot_fence_restarted_node_refuses_votes_for_one_election_timeout() -> None:
    net = Network([1, 2, 3], check_quorum=True, pre_vote=False)
    net.elect(1)
    net.crash_restart(2)  # not aged: inside its boot fence
    net.isolate(1)
    net.core(3).campaign()
    net.stabilize()
    assert net.core(3).role != StateRole.LEADER
    net.tick(2, net.core(2).cfg.election_ticks)
    net.tick(3, net.core(3).cfg.election_ticks)  # 3's own lease promise to 1 ends too
    net.core(3).campaign()
    net.stabilize()
    assert net.core(3).role == StateRole.LEADER


# --- ReadIndex and leases (thesis §6.4) --------------------------------------

def test_6_4_read_index_returns_commit_after_quorum_heartbeat() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).propose(b"w")
    net.stabilize()
    net.core(1).read_index(b"r")
    assert net.nodes[1].read_states == []  # needs a heartbeat round first
    net.stabilize()
    assert [(rs.index, rs.request_ctx) for rs in net.nodes[1].read_states] == [(2, b"r")]


def test_6_4_read_index_not_answered_by_deposed_leader() -> None:
    net = Network([1, 2, 3], check_quorum=True)
    net.elect(1)
    net.isolate(1)
    net.core(1).read_index(b"stale?")
    net.stabilize()
    net.core(2).campaign()
    for _ in range(3):
        net.tick_all(net.core(2).cfg.election_ticks)
    new = net.leader()
    assert new in (2, 3)
    net.core(new).propose(b"newer")
    net.stabilize()
    net.heal()
    net.tick_all(3)
    # The old leader never confirmed its read: no ReadState with a stale index.
    assert net.nodes[1].read_states == []


def test_6_4_read_index_waits_for_commit_in_current_term() -> None:
    net = Network([1, 2, 3])
    net.load(1, [1, 1], term=1)
    n1 = net.core(1)
    n1.campaign()
    while n1.role != StateRole.LEADER:  # deliver only the election's messages
        net.flush()
        net.deliver()
    n1.read_index(b"early")
    assert net.nodes[1].read_states == []
    net.stabilize()
    (rs,) = net.nodes[1].read_states
    assert rs.index == n1.commit_index >= 3


def test_6_4_follower_read_index_is_forwarded_to_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).propose(b"w")
    net.stabilize()
    net.core(3).read_index(b"f")
    net.stabilize()
    assert [(rs.index, rs.request_ctx) for rs in net.nodes[3].read_states] == [(2, b"f")]


def test_6_4_lease_read_valid_while_quorum_acks_then_expires() -> None:
    net = Network([1, 2, 3], check_quorum=True, read_only_option=ReadOnlyOption.LEASE_BASED)
    net.elect(1)
    net.tick_all(1)
    assert net.core(1).lease_read_index() == net.core(1).commit_index
    net.isolate(1)
    lease = net.core(1).lease_ticks()
    for _ in range(lease):
        net.tick(1)
    assert net.core(1).lease_read_index() is None


def test_6_4_lease_revoked_after_timeout_now() -> None:
    net = Network([1, 2, 3], check_quorum=True)
    net.elect(1)
    net.tick_all(1)
    assert net.core(1).lease_read_index() is not None
    net.core(1).transfer_leader(2)
    assert net.core(1).lease_read_index() is None


def test_lease_read_requires_check_quorum() -> None:
    with pytest.raises(ValueError, match="check_quorum"):
        Config(id=1, check_quorum=False, read_only_option=ReadOnlyOption.LEASE_BASED).validate()


# --- Leadership transfer (thesis §3.10) ----------------------------------------

def test_3_10_leadership_transfer_to_up_to_date_follower() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).transfer_leader(2)
    net.stabilize()
    assert net.core(2).role == StateRole.LEADER
    assert net.core(1).role == StateRole.FOLLOWER and net.core(1).leader_id == 2


def test_3_10_transfer_catches_up_lagging_target_first() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.cut(1, 3)
    for i in range(5):
        net.core(1).propose(b"%d" % i)
    net.stabilize()
    net.heal()
    net.core(1).transfer_leader(3)
    with pytest.raises(ProposalDropped):
        net.core(1).propose(b"during transfer")
    net.tick_all(2)
    assert net.core(3).role == StateRole.LEADER
    assert net.data_applied(3)[:5] == [b"0", b"1", b"2", b"3", b"4"]


def test_3_10_transfer_aborts_after_election_timeout() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.core(1).transfer_leader(3)
    assert net.core(1).lead_transferee == 3
    net.tick(1, net.core(1).cfg.election_ticks)
    assert net.core(1).lead_transferee == 0
    net.core(1).propose(b"accepted again")


# --- Replication flow control --------------------------------------------------

def test_pipelining_is_bounded_by_max_inflight_msgs() -> None:
    net = Network([1, 2], max_inflight_msgs=4, max_size_per_msg=1)
    net.elect(1)
    net.cut(1, 2)
    for i in range(20):
        net.core(1).propose(b"%d" % i)
    appends = [m for m in net.process_ready(1) if m.type == MT.APPEND]
    pr = net.core(1).trk.progress[2]
    assert pr.state == ProgressState.REPLICATE
    assert len(appends) == 4 and pr.inflights.full()
    net.heal()
    net.stabilize()
    net.tick_all(2)
    assert net.data_applied(2) == [b"%d" % i for i in range(20)]


def test_fast_backtracking_repairs_long_divergent_follower_log() -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.load(1, [1] + [3] * 30, term=3)
    net.load(2, [1] + [3] * 30, term=3)
    net.load(3, [1] + [2] * 50, term=3)  # a long uncommitted tail from an old term
    net.elect(1)
    rejects = 0
    for _ in range(20):
        net.flush()
        rejects += sum(1 for m in net.queue if m.type == MT.APPEND_RESP and m.reject)
        if not net.queue:
            break
        net.deliver()
    assert net.nodes[3].storage.term(31) == 3
    assert rejects <= 2  # one hint jumps over the whole term-2 tail


# --- Snapshots -------------------------------------------------------------------

def test_lagging_follower_catches_up_through_snapshot() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for i in range(10):
        net.core(1).propose(b"%d" % i)
    net.stabilize()
    leader_store = net.nodes[1].storage
    applied = net.core(1).applied_index
    leader_store.create_snapshot(applied, net.core(1).conf_state(), b"image@%d" % applied)
    leader_store.compact(applied)
    net.heal()
    net.tick_all(3)
    assert net.nodes[3].storage.snapshot().meta.index == applied
    assert net.nodes[3].storage.snapshot().data == b"image@%d" % applied
    net.core(1).propose(b"after")
    net.stabilize()
    assert net.data_applied(3)[-1] == b"after"
    assert net.core(1).trk.progress[3].state == ProgressState.REPLICATE


def test_single_node_group_commits_alone() -> None:
    core = RaftCore(Config(id=1), MemoryStorage(ConfState(voters=[1])), __import__("random").Random(1))
    core.ticks = 100
    core.campaign()
    assert core.role == StateRole.LEADER
    idx = core.propose(b"solo")
    rd = core.ready()
    assert [e.data for e in rd.committed_entries][-1] == b"solo" and rd.entries[-1].index == idx


# --- Merged commit notices (Config.merge_commit_notices) ----------------------

def _acked_round(merge: bool, propose_again: bool,
                 net: Network | None = None) -> list:  # type: ignore[type-arg]
    """Leader 1 replicates one entry; the followers' acks arrive (optionally with a
    new proposal in the same turn); returns the leader's next Ready messages."""
    net = net or Network([1, 2, 3], merge_commit_notices=merge)
    net.elect(1)
    net.core(1).propose(b"a")
    net.flush()
    net.deliver()          # appends reach 2 and 3
    net.flush()            # the leader's ready is empty; 2 and 3 persist and ack
    net.deliver()          # the acks reach 1: "a" commits
    assert net.core(1).log.committed == net.core(1).log.last_index()
    if propose_again:
        net.core(1).propose(b"b")
    return net.process_ready(1)


def test_merged_commit_notice_rides_the_append_of_the_same_turn() -> None:
    msgs = _acked_round(merge=True, propose_again=True)
    appends = [m for m in msgs if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 3]  # one each, not two
    for m in appends:
        assert [e.data for e in m.entries] == [b"b"]
        assert m.commit == m.index  # the commit covers "a", the entry before "b"


def test_merged_commit_notice_goes_alone_when_nothing_else_is_sent() -> None:
    msgs = _acked_round(merge=True, propose_again=False)
    appends = [m for m in msgs if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 3]
    assert all(not m.entries and m.commit == m.index for m in appends)


def test_unmerged_commit_notices_are_sent_at_once_as_etcd_does() -> None:
    msgs = _acked_round(merge=False, propose_again=True)
    appends = [m for m in msgs if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 2, 3, 3]


def test_deferred_commit_notice_waits_for_the_host() -> None:
    net = Network([1, 2, 3], defer_commit_notices=True)
    assert _acked_round(merge=True, propose_again=False, net=net) == []
    leader = net.core(1)
    assert leader.commit_notice_pending and not leader.has_ready()  # no busy host loop
    leader.flush_commit_notice()  # the host's timer
    appends = [m for m in net.process_ready(1) if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 3]
    assert all(not m.entries and m.commit == leader.log.committed for m in appends)
    assert not leader.commit_notice_pending


def test_deferred_commit_notice_rides_the_next_proposals_append() -> None:
    net = Network([1, 2, 3], defer_commit_notices=True)
    assert _acked_round(merge=True, propose_again=False, net=net) == []
    leader = net.core(1)
    committed = leader.log.committed
    leader.propose(b"next")
    net.queue.extend(msgs := net.process_ready(1))
    appends = [m for m in msgs if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 3]
    assert all([e.data for e in m.entries] == [b"next"] and m.commit == committed
               for m in appends)
    assert not leader.commit_notice_pending  # told: the timer has nothing to send
    net.stabilize()  # "next" commits; nothing carries that to the followers yet
    assert [net.core(i).log.committed for i in (1, 2, 3)] == [committed + 1, committed,
                                                               committed]
    leader.flush_commit_notice()
    net.stabilize()
    assert all(net.core(i).log.committed == committed + 1 for i in (2, 3))


def test_deferred_notices_need_merged_ones() -> None:
    with pytest.raises(ValueError, match="requires merge_commit_notices"):
        Network([1, 2, 3], merge_commit_notices=False, defer_commit_notices=True)


def test_followers_apply_what_merged_notices_commit() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    for i in range(5):
        net.core(1).propose(b"%d" % i)
        net.stabilize()
    want = [b"%d" % i for i in range(5)]
    assert net.data_applied(2) == want and net.data_applied(3) == want
