"""Quiescence of idle groups (kvstore/raft/quiesce.py): when it happens, what wakes a
replica, and why leases and elections stay safe while a group is quiet."""

from __future__ import annotations

from kvstore.raft import Entry, Message, MessageType, ReadOnlyOption, StateRole
from kvstore.raft.codec import decode_message, encode_message
from tests.raft.harness import Network

MT = MessageType
Q = 3  # quiesce_ticks in these tests


def quiet_net(**cfg: object) -> Network:
    net = Network([1, 2, 3], pre_vote=True, check_quorum=True, quiesce_ticks=Q, **cfg)
    net.elect(1)
    net.core(1).propose(b"x")
    net.stabilize()
    return net


def quiesce_all(net: Network) -> None:
    net.tick_all(Q + 2)
    assert all(net.core(i).quiesced for i in net.ids), [net.core(i).status() for i in net.ids]


def ticks_send_nothing(net: Network, n: int) -> bool:
    for _ in range(n):
        for nid in net.ids:
            net.tick(nid)
        net.flush()
        if net.queue:
            return False
    return True


def test_idle_leader_quiesces_after_quiesce_ticks_and_stops_heartbeating() -> None:
    net = quiet_net()
    net.tick_all(Q - 1)
    assert not net.core(1).quiesced  # not idle long enough yet
    quiesce_all(net)
    assert ticks_send_nothing(net, 50)
    assert net.core(1).role == StateRole.LEADER
    assert all(net.core(i).leader_id == 1 for i in net.ids)


def test_quiescence_is_off_by_default() -> None:
    net = Network([1, 2, 3], pre_vote=True, check_quorum=True)
    net.elect(1)
    net.tick_all(20)
    assert not any(net.core(i).quiesced for i in net.ids)
    assert not ticks_send_nothing(net, 1)


def test_leader_does_not_quiesce_while_a_follower_lags() -> None:
    net = quiet_net()
    net.isolate(3)
    net.core(1).propose(b"y")
    net.stabilize()
    net.tick_all(5 * Q)
    assert not net.core(1).quiesced  # 3 has not acknowledged the last entry
    net.heal()
    net.tick_all(Q + 3)
    assert all(net.core(i).quiesced for i in net.ids)


def test_follower_whose_log_extends_past_the_commit_stays_awake() -> None:
    net = quiet_net()
    core2 = net.core(2)
    last = core2.last_index
    core2.step(Message(MT.APPEND, to=2, frm=1, term=core2.term, index=last,
                       log_term=core2.log.last_term(), commit=last,
                       entries=[Entry(core2.term, last + 1, data=b"tail")]))
    core2.step(Message(MT.HEARTBEAT, to=2, frm=1, term=core2.term, commit=last, quiesce=True))
    assert not core2.quiesced  # its log ends after the leader's commit


def test_proposal_wakes_a_quiesced_group_and_commits() -> None:
    net = quiet_net()
    quiesce_all(net)
    net.core(1).propose(b"wake")
    assert not net.core(1).quiesced
    net.stabilize()
    assert not net.core(2).quiesced and not net.core(3).quiesced
    assert all(net.data_applied(i)[-1] == b"wake" for i in net.ids)
    net.tick_all(Q + 2)
    assert not net.core(1).quiesced  # awake until CheckQuorum has seen its quorum answer
    net.tick_all(net.core(1).cfg.election_ticks)
    assert all(net.core(i).quiesced for i in net.ids)  # and quiet again once idle


def test_6_4_lease_of_a_quiesced_leader_expires_on_its_own_clock() -> None:
    """Quiet time never extends a lease: no heartbeat, no renewal."""
    net = quiet_net(read_only_option=ReadOnlyOption.LEASE_BASED)
    quiesce_all(net)
    leader = net.core(1)
    assert leader.lease_read_index() is not None  # the quiesce heartbeat's acks
    for _ in range(leader.lease_ticks()):
        leader.tick()
    assert leader.quiesced and leader.lease_read_index() is None
    net.flush()
    assert net.queue == []  # checking the lease did not wake it


def test_6_4_read_index_wakes_a_quiesced_leader_and_needs_a_quorum_round() -> None:
    net = quiet_net(read_only_option=ReadOnlyOption.LEASE_BASED)
    quiesce_all(net)
    for _ in range(net.core(1).lease_ticks()):
        net.tick(1)
    net.isolate(1)
    net.core(1).read_index(b"r1")
    assert not net.core(1).quiesced
    net.stabilize()
    assert net.nodes[1].read_states == []  # no quorum answered: no read
    net.heal()
    net.tick_all(1)
    assert [rs.request_ctx for rs in net.nodes[1].read_states] == [b"r1"]


def test_6_4_deposed_quiesced_leader_never_holds_a_lease_when_another_leads() -> None:
    net = quiet_net(read_only_option=ReadOnlyOption.LEASE_BASED)
    quiesce_all(net)
    old = net.core(1)
    net.isolate(1)  # its node goes silent; the hosts of 2 and 3 notice
    for nid in (2, 3):
        net.core(nid).report_leader_down()
    for _ in range(10 * old.cfg.election_ticks):
        net.tick_all(1)
        new_leader = any(net.core(i).role == StateRole.LEADER for i in (2, 3))
        if new_leader:
            assert old.lease_read_index() is None
    assert any(net.core(i).role == StateRole.LEADER and net.core(i).term > old.term
               for i in (2, 3))


def test_quiesced_followers_of_a_dead_leader_campaign_only_when_the_host_reports_it() -> None:
    net = quiet_net()
    quiesce_all(net)
    term = net.core(2).term
    net.isolate(1)
    net.tick_all(10 * net.core(2).cfg.election_ticks)
    assert net.core(2).term == term and net.core(3).term == term  # nobody campaigned
    for nid in (2, 3):
        net.core(nid).report_leader_down()
    net.tick_all(3 * net.core(2).cfg.election_ticks)
    assert net.leader() in (2, 3) and net.core(net.leader()).term > term


def test_followers_woken_together_keep_one_timeout_and_campaign_at_their_own_times() -> None:
    net = quiet_net()
    quiesce_all(net)
    e = net.core(2).cfg.election_ticks
    net.isolate(1)
    net.tick_all(5 * e)  # quiet for long: both counted far past a timeout
    for nid in (2, 3):
        net.core(nid).report_leader_down()
        assert net.core(nid).election_elapsed == e  # may grant votes, not campaign yet
    timeouts = {nid: net.core(nid).randomized_election_timeout for nid in (2, 3)}
    assert timeouts[2] != timeouts[3]  # the seeds of this test differ; so do the starts
    net.tick_all(min(timeouts.values()) - e + 1)
    assert [net.core(i).role for i in (2, 3)].count(StateRole.LEADER) == 1


def test_report_leader_down_is_ignored_by_awake_followers_and_leaders() -> None:
    net = quiet_net()
    before = net.core(2).election_elapsed
    net.core(2).report_leader_down()
    net.core(1).report_leader_down()
    assert net.core(2).election_elapsed == before and net.core(1).role == StateRole.LEADER


def test_quiesced_group_refuses_a_restarted_peer_and_keeps_its_leader() -> None:
    """A woken replica restarts its timers as if it had just heard its leader (§6.2)."""
    net = quiet_net()
    quiesce_all(net)
    term = net.core(1).term
    net.crash_restart(3)
    net.core(3).ticks = net.core(3).cfg.election_ticks + 1  # past its boot fence
    net.tick_all(4 * net.core(3).cfg.election_ticks)
    assert net.core(1).role == StateRole.LEADER and net.core(1).term == term
    assert net.core(3).leader_id == 1
    net.tick_all(Q + 2)
    assert all(net.core(i).quiesced for i in net.ids)


def test_6_2_woken_leader_without_quorum_steps_down_after_one_election_timeout() -> None:
    """Answers from before the quiet time do not count for CheckQuorum."""
    net = quiet_net()
    quiesce_all(net)
    net.isolate(1)
    net.core(1).propose(b"lost")
    for _ in range(net.core(1).cfg.election_ticks):
        net.tick(1)
    assert net.core(1).role == StateRole.FOLLOWER


def test_quiesce_flag_survives_the_codec() -> None:
    m = Message(MT.HEARTBEAT, to=2, frm=1, term=3, commit=7, index=9, quiesce=True)
    assert decode_message(encode_message(m)) == m
    assert decode_message(encode_message(Message(MT.HEARTBEAT))).quiesce is False


def test_isolated_quiesced_leader_stays_leader_until_the_host_reports_its_quorum_silent() -> None:
    net = quiet_net()
    quiesce_all(net)
    old = net.core(1)
    net.isolate(1)
    net.tick_all(10 * old.cfg.election_ticks)
    assert old.role == StateRole.LEADER and old.quiesced  # nothing inside the core can tell
    assert not old.report_peers_silent({2})  # 1 and 3 are still a quorum: stays quiet
    assert old.quiesced
    assert old.report_peers_silent({2, 3})
    net.tick_all(3 * old.cfg.election_ticks)
    assert old.role != StateRole.LEADER  # CheckQuorum, once awake, stepped it down


def test_report_peers_silent_is_ignored_by_followers_and_awake_leaders() -> None:
    net = quiet_net()
    assert not net.core(1).report_peers_silent({2, 3})
    quiesce_all(net)
    assert not net.core(2).report_peers_silent({1, 3})
    assert net.core(2).quiesced
