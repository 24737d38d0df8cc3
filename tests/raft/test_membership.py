"""Membership changes (thesis §4): single-step changes, learners, joint consensus."""

from __future__ import annotations

import pytest

from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    MemoryStorage,
    ProposalDropped,
    StateRole,
)
from tests.raft.harness import Network

CT = ConfChangeType


def cc(*changes: tuple[ConfChangeType, int]) -> ConfChange:
    return ConfChange([ConfChangeSingle(t, n) for t, n in changes])


def add_node(net: Network, nid: int) -> None:
    """A new, empty member: it learns the configuration from the leader (snapshot or log)."""
    net.ids.append(nid)
    net.nodes[nid] = net._new_node(nid, MemoryStorage(ConfState()))


def test_4_1_add_learner_then_promote_to_voter() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    for i in range(3):
        net.core(1).propose(b"%d" % i)
    net.stabilize()
    # The new node can only catch up from the log if the leader still has it from
    # index 1; here it does, so the learner receives the full history.
    add_node(net, 4)
    net.nodes[4].storage.apply_snapshot(net.nodes[1].storage.snapshot())
    net.core(1).propose_conf_change(cc((CT.ADD_LEARNER, 4)))
    net.stabilize()
    net.tick_all(3)
    assert net.core(1).conf_state().learners == [4]
    assert net.data_applied(4)[:3] == [b"0", b"1", b"2"]
    assert net.core(1).trk.progress[4].is_learner
    # A learner never campaigns.
    net.core(4).campaign()
    assert net.core(4).role == StateRole.FOLLOWER
    net.core(1).propose_conf_change(cc((CT.ADD_NODE, 4)))
    net.stabilize()
    assert net.core(1).conf_state().voters == [1, 2, 3, 4]
    assert not net.core(1).trk.progress[4].is_learner


def test_4_1_one_pending_conf_change_at_a_time() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    net.core(1).propose_conf_change(cc((CT.ADD_LEARNER, 4)))
    with pytest.raises(ProposalDropped, match="pending"):
        net.core(1).propose_conf_change(cc((CT.ADD_LEARNER, 5)))


def test_4_1_single_step_change_may_not_alter_two_voters() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    with pytest.raises(ProposalDropped, match="invalid"):
        net.core(1).propose_conf_change(cc((CT.REMOVE_NODE, 2), (CT.REMOVE_NODE, 3),
                                           (CT.REMOVE_NODE, 1)))


def test_4_2_removed_leader_steps_down_and_others_elect() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).propose_conf_change(cc((CT.REMOVE_NODE, 1)))
    net.stabilize()
    assert net.core(1).role == StateRole.FOLLOWER
    assert net.core(2).conf_state().voters == [2, 3]
    for _ in range(5):
        net.tick_all(net.core(2).cfg.election_ticks)
        if net.leader() in (2, 3) and net.core(net.leader()).term > 1:
            break
    new = net.leader()
    assert new in (2, 3)
    net.core(new).propose(b"without 1")
    net.stabilize()
    assert net.data_applied(2)[-1] == b"without 1"


def test_4_3_joint_consensus_replaces_a_voter_and_auto_leaves() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    add_node(net, 4)
    net.nodes[4].storage.apply_snapshot(net.nodes[1].storage.snapshot())
    net.core(1).propose_conf_change(cc((CT.ADD_NODE, 4), (CT.REMOVE_NODE, 3)))
    net.flush()
    net.deliver()
    net.flush()
    net.deliver()
    net.flush()
    joint = net.core(1).conf_state()
    assert joint.voters == [1, 2, 4] and joint.voters_outgoing == [1, 2, 3]
    net.stabilize()
    net.tick_all(2)
    final = net.core(1).conf_state()
    assert final.voters == [1, 2, 4] and final.voters_outgoing == []
    assert 3 not in net.core(1).trk.progress


def test_invalid_conf_change_in_log_is_ignored_deterministically() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    before = net.core(2).conf_state()
    assert net.core(2).apply_conf_change(cc((CT.REMOVE_NODE, 1), (CT.REMOVE_NODE, 2),
                                            (CT.REMOVE_NODE, 3))) == before


def test_4_2_2_leader_being_removed_appends_nothing_after_its_removal() -> None:
    """Found by the simulator (replay: python -m kvstore.sim --seed 39 --nodes 3 --steps 400
    --membership always --broken leader-proposes-after-removal): with apply-time
    configurations, a leader that applied its removal steps down before the others may
    know it committed; those still need its vote, so its log must not outgrow theirs
    (testdata/confchange_remove_leader_tail.txt shows the deadlock this prevents)."""
    for change in (cc((CT.REMOVE_NODE, 1)), cc((CT.ADD_LEARNER, 1)),
                   cc((CT.ADD_NODE, 4), (CT.REMOVE_NODE, 1))):
        net = Network([1, 2, 3])
        net.elect(1)
        add_node(net, 4)
        net.nodes[4].storage.apply_snapshot(net.nodes[1].storage.snapshot())
        net.core(1).propose_conf_change(change)
        with pytest.raises(ProposalDropped, match="leaving the voters"):
            net.core(1).propose(b"after my removal")
    # A change that keeps the leader leaves proposals alone.
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).propose_conf_change(cc((CT.REMOVE_NODE, 2)))
    net.core(1).propose(b"still a voter")


def test_4_2_2_new_leader_finding_its_removal_in_its_log_accepts_no_proposals() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).propose_conf_change(cc((CT.REMOVE_NODE, 2)))
    net.flush()
    net.deliver()  # 2 and 3 append the removal of 2, uncommitted
    net.isolate(1)  # ... and 1 never hears their acknowledgements
    net.stabilize()
    for nid in (2, 3):
        net.tick(nid, net.core(nid).cfg.election_ticks)  # past 1's lease
    net.core(2).campaign()
    for _ in range(10):
        net.flush()
        net.deliver()
        if net.core(2).role == StateRole.LEADER:
            break
    assert net.core(2).role == StateRole.LEADER
    with pytest.raises(ProposalDropped, match="leaving the voters"):
        net.core(2).propose(b"x")
    net.stabilize()  # 2 commits and applies its own removal, then steps down
    assert net.core(2).role == StateRole.FOLLOWER
    assert net.core(3).conf_state().voters == [1, 3]
    net.heal()
    for _ in range(10):
        net.tick_all(net.core(3).cfg.election_ticks)
        if net.leader() in (1, 3) and net.core(net.leader()).term > 2:
            break
    net.core(net.leader()).propose(b"without 2")
    net.stabilize()
    assert net.data_applied(3)[-1] == b"without 2"


def _fire_election(net: Network, nid: int) -> None:
    """Tick `nid` until its election timer fires (its term rises), then settle."""
    core, term = net.core(nid), net.core(nid).term
    for _ in range(2 * core.cfg.election_ticks + 1):
        core.tick()
        if core.term > term:
            break
    assert core.term > term, core.status()
    net.stabilize()


def test_4_2_3_last_voter_catches_up_with_a_term_raised_by_a_removed_member() -> None:
    """Found by the simulator (python -m kvstore.sim --seed 714 --nodes 5 --steps 600
    before the fix): no pre-vote, CheckQuorum. Leader 1 demotes itself from voters
    (1,2) and steps down before 2 learns the change committed, so 2, now the only
    voter, still needs 1's vote. Meanwhile 3, removed without knowing it and cut off
    from 2, keeps campaigning and raising 1's term (1 has no leader, so no lease).
    Had 1 dropped 2's vote requests of a lower term, as etcd does, 2 would never
    learn 1's term and the group would stay leaderless while 3 stays ahead; Figure 2
    has 1 refuse them with its term, and 2 wins at the next one."""
    net = Network([1, 2, 3], pre_vote=False, check_quorum=True)
    net.elect(1)
    net.isolate(3)
    net.core(1).propose_conf_change(cc((CT.REMOVE_NODE, 3)))
    net.stabilize()
    assert net.core(2).conf_state().voters == [1, 2]
    net.core(1).propose_conf_change(cc((CT.ADD_LEARNER, 1)))
    net.flush()
    net.deliver()  # 2 appends the demotion
    net.flush()
    net.deliver()  # 1 hears the ack
    net.cut(1, 2)
    net.stabilize()  # 1 commits, applies and steps down; 2 never hears the commit
    assert net.core(1).role == StateRole.FOLLOWER
    assert net.core(1).conf_state().voters == [2]
    assert net.core(2).conf_state().voters == [1, 2]
    net.heal()
    net.cut(2, 3)  # 3's configuration still holds 2; cut it so only 1 hears 3
    for _ in range(3):
        _fire_election(net, 3)  # a stale log: refused, but 1 takes 3's term
    for _ in range(4):  # then both campaign at the same pace
        _fire_election(net, 3)
        assert net.core(1).term > net.core(2).term
        _fire_election(net, 2)
        if net.core(2).role == StateRole.LEADER:
            break
    assert net.core(2).role == StateRole.LEADER, net.core(2).status()
    net.stabilize()
    assert net.core(2).conf_state().voters == [2]
    net.core(2).propose(b"after the demotion")
    net.stabilize()
    assert net.data_applied(1)[-1] == b"after the demotion"


@pytest.mark.parametrize("defer", [False, True])
def test_a_removed_follower_learns_its_removal_committed(defer: bool) -> None:
    """The leader drops a removed member from its progress table once it applies the
    change; the commit notice must reach that member before, or it never applies its
    own removal (its node then keeps a zombie replica that campaigns forever)."""
    net = Network([1, 2, 3], defer_commit_notices=defer)
    net.elect(1)
    net.core(1).propose(b"x")
    net.stabilize()
    net.core(1).propose_conf_change(cc((CT.REMOVE_NODE, 3)))
    net.stabilize()  # no host timer here: a deferred notice would never go out
    assert net.core(1).conf_state().voters == [1, 2]
    removal = net.core(1).log.last_index()
    assert net.core(3).log.committed >= removal
    assert net.nodes[3].applied[-1].index == removal  # node 3 applied its removal
