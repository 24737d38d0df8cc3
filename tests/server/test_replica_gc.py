"""The replica GC hint (kvstore/server/replica_gc.py) on real Raft cores: a replica
removed while cut off is told so; a new or re-added replica never obeys a hint."""

from __future__ import annotations

from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    MemoryStorage,
    Message,
    MessageType,
)
from kvstore.server.replica_gc import gc_hint, gc_probes, obeys_gc_hint
from tests.raft.harness import Network

CT = ConfChangeType


def change(net: Network, t: ConfChangeType, nid: int) -> None:
    assert net.core(1).propose_conf_change(ConfChange([ConfChangeSingle(t, nid)])) is not None
    net.stabilize()


def removed_while_cut_off() -> Network:
    net = Network([1, 2, 3, 4])
    net.elect(1)
    net.core(1).propose(b"a")
    net.stabilize()
    net.isolate(4)
    change(net, CT.REMOVE_NODE, 4)
    net.core(1).propose(b"b")
    net.stabilize()
    assert 4 not in net.core(1).trk.progress and 4 in net.core(4).trk.progress
    return net


def vote_from(nid: int, to: int, term: int) -> Message:
    return Message(MessageType.PRE_VOTE, to=to, frm=nid, term=term + 1)


def test_replica_removed_while_cut_off_gets_a_hint_it_obeys() -> None:
    net = removed_while_cut_off()
    for member in (1, 2, 3):  # any member answers, not only the leader
        hint = gc_hint(net.core(member), vote_from(4, member, net.core(4).term))
        assert hint is not None and hint.type == MessageType.REPLICA_GC and hint.to == 4
        assert hint.index == net.core(member).log.applied
        assert obeys_gc_hint(net.core(4), hint)


def test_members_send_no_hint_to_each_other() -> None:
    net = removed_while_cut_off()
    assert gc_hint(net.core(1), vote_from(2, 1, net.core(2).term)) is None


def test_a_new_replica_that_knows_no_configuration_sends_no_hint() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.ids.append(4)
    net.nodes[4] = net._new_node(4, MemoryStorage(ConfState()))
    m = Message(MessageType.APPEND, to=4, frm=1, term=net.core(1).term)
    assert gc_hint(net.core(4), m) is None


def test_a_late_hint_never_destroys_a_re_added_replica() -> None:
    net = removed_while_cut_off()
    late = gc_hint(net.core(2), vote_from(4, 2, net.core(4).term))
    assert late is not None
    net.heal()
    change(net, CT.ADD_NODE, 4)  # re-added: it catches up past the hint's index
    net.tick_all(5)
    net.stabilize()
    assert 4 in net.core(4).trk.progress and net.core(4).log.last_index() >= late.index
    assert not obeys_gc_hint(net.core(4), late)


def test_a_hint_from_a_node_outside_its_own_configuration_is_ignored() -> None:
    net = removed_while_cut_off()
    hint = gc_hint(net.core(1), vote_from(4, 1, net.core(4).term))
    assert hint is not None
    hint.frm = 9
    assert not obeys_gc_hint(net.core(4), hint)


def test_cores_drop_a_stepped_hint() -> None:
    net = removed_while_cut_off()
    hint = gc_hint(net.core(1), vote_from(4, 1, net.core(4).term))
    assert hint is not None
    before = (net.core(4).term, net.core(4).role, net.core(4).log.last_index())
    hint.term = before[0] + 5
    net.core(4).step(hint)
    assert (net.core(4).term, net.core(4).role, net.core(4).log.last_index()) == before


def test_a_leaderless_stale_replica_probes_and_the_answer_is_a_hint_it_obeys() -> None:
    net = removed_while_cut_off()
    stale = net.core(4)
    stale.become_follower(stale.term, 0)  # e.g. just restarted: it knows no leader
    probes = gc_probes(stale)
    assert sorted(p.to for p in probes) == [1, 2, 3] and all(p.index == 0 for p in probes)
    answer = gc_hint(net.core(2), probes[1])
    assert answer is not None and obeys_gc_hint(stale, answer)
    assert gc_hint(stale, answer) is None  # a hint is never answered


def test_members_send_no_probes_while_they_know_a_leader_and_ignore_each_others() -> None:
    net = removed_while_cut_off()
    assert gc_probes(net.core(2)) == []
    net.core(2).become_follower(net.core(2).term, 0)
    assert all(gc_hint(net.core(p.to), p) is None for p in gc_probes(net.core(2)))
