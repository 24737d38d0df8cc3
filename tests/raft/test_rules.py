"""Unit tests named after the Raft rules they check (Ongaro & Ousterhout, and the thesis).

Each test drives real RaftCores through the in-memory harness; section numbers
refer to the Raft paper (§5) and Ongaro's thesis (§3, §4, §6, §9).
"""

from __future__ import annotations

from kvstore.raft import Entry, Message, MessageType, RaftCore, StateRole
from tests.raft.harness import Network

MT = MessageType


def vote_req(frm: int, to: int, term: int, index: int, log_term: int) -> Message:
    return Message(MT.VOTE, to=to, frm=frm, term=term, index=index, log_term=log_term)


def responses(net: Network, nid: int) -> list[Message]:
    return net.process_ready(nid)


# --- Figure 2: RequestVote --------------------------------------------------

def test_fig2_request_vote_grants_at_most_one_vote_per_term() -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    n1 = net.core(1)
    n1.step(vote_req(2, 1, 5, 0, 0))
    n1.step(vote_req(3, 1, 5, 0, 0))
    out = [m for m in responses(net, 1) if m.type == MT.VOTE_RESP]
    assert [(m.to, m.reject) for m in out] == [(2, False), (3, True)]
    assert n1.vote == 2 and n1.term == 5


def test_fig2_request_vote_denied_for_stale_log_5_4_1() -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(1)
    net.core(1).propose(b"a")
    net.stabilize()
    # Node 3 asks with a log that lacks the committed entry: denied (§5.4.1).
    net.core(2).step(vote_req(3, 2, 9, 1, 1))
    out = [m for m in responses(net, 2) if m.type == MT.VOTE_RESP]
    assert len(out) == 1 and out[0].reject
    assert net.core(2).vote == 0  # term moved to 9, but no vote cast


def test_fig2_request_vote_with_stale_term_is_refused_with_current_term_rule1() -> None:
    """RequestVote rule 1: reply false if term < currentTerm, carrying currentTerm, so
    the candidate catches up (etcd drops the request; see test_membership for the
    deadlock that allowed). CheckQuorum is on: it must not silence the reply."""
    for pre_vote in (False, True):
        net = Network([1, 2, 3], pre_vote=pre_vote, check_quorum=True)
        n1 = net.core(1)
        n1.step(vote_req(3, 1, 7, 0, 0))  # a higher term reaches 1 (no leader: no lease)
        responses(net, 1)
        assert n1.term == 7
        vote = n1.vote
        n1.step(vote_req(2, 1, 3, 0, 0))
        out = [m for m in responses(net, 1) if m.type == MT.VOTE_RESP]
        assert [(m.to, m.term, m.reject) for m in out] == [(2, 7, True)]
        assert (n1.term, n1.vote) == (7, vote), "a stale request changes nothing"
        net.core(2).step(out[0])
        assert (net.core(2).role, net.core(2).term) == (StateRole.FOLLOWER, 7)


def test_fig2_all_servers_higher_term_converts_to_follower() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.core(1).step(Message(MT.APPEND_RESP, to=1, frm=2, term=7, index=0))
    assert net.core(1).role == StateRole.FOLLOWER
    assert net.core(1).term == 7


def test_fig2_stale_term_messages_are_ignored() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.core(2).term
    before = net.core(2).log.last_index()
    net.core(2).step(Message(MT.APPEND, to=2, frm=3, term=term - 1, index=before,
                             log_term=1, entries=[Entry(term - 1, before + 1, data=b"x")]))
    assert net.core(2).log.last_index() == before


# --- Figure 2: AppendEntries ------------------------------------------------

def _follower_with_log(terms: list[int]) -> Network:
    net = Network([1, 2], pre_vote=False, check_quorum=False)
    f = net.core(2)
    f.step(Message(MT.APPEND, to=2, frm=1, term=max(terms), index=0, log_term=0,
                   entries=[Entry(t, i + 1, data=b"%d" % i) for i, t in enumerate(terms)]))
    net.process_ready(2)
    return net


def test_fig2_append_rejected_when_prev_log_term_mismatches_rule2() -> None:
    net = _follower_with_log([1, 1, 2])
    net.core(2).step(Message(MT.APPEND, to=2, frm=1, term=3, index=3, log_term=3,
                             entries=[Entry(3, 4)]))
    out = [m for m in responses(net, 2) if m.type == MT.APPEND_RESP]
    assert out[-1].reject and out[-1].index == 3
    # Fast backtracking: hint at the last index whose term (2) could match term <= 3.
    assert (out[-1].reject_hint, out[-1].log_term) == (3, 2)


def test_fig2_append_truncates_conflicting_suffix_rule3() -> None:
    net = _follower_with_log([1, 1, 2, 2])
    net.core(2).step(Message(MT.APPEND, to=2, frm=1, term=3, index=2, log_term=1,
                             entries=[Entry(3, 3, data=b"new")]))
    net.process_ready(2)
    s = net.nodes[2].storage
    assert s.last_index() == 3 and s.term(3) == 3
    assert s.entries(3, 4)[0].data == b"new"


def test_fig2_follower_commit_is_min_of_leader_commit_and_last_new_rule5() -> None:
    net = _follower_with_log([1, 1, 1, 1])
    net.core(2).step(Message(MT.APPEND, to=2, frm=1, term=1, index=1, log_term=1,
                             entries=[Entry(1, 2, data=b"1")], commit=4))
    assert net.core(2).commit_index == 2


def test_fig2_append_never_rewrites_committed_entries() -> None:
    net = _follower_with_log([1, 1, 1])
    net.core(2).step(Message(MT.APPEND, to=2, frm=1, term=1, index=3, log_term=1, commit=3))
    net.process_ready(2)
    net.core(2).step(Message(MT.APPEND, to=2, frm=1, term=2, index=1, log_term=1,
                             entries=[Entry(2, 2, data=b"evil")]))
    net.process_ready(2)
    assert net.nodes[2].storage.term(2) == 1


def test_malformed_append_with_gapped_entries_is_dropped() -> None:
    net = _follower_with_log([1])
    net.core(2).step(Message(MT.APPEND, to=2, frm=1, term=1, index=1, log_term=1,
                             entries=[Entry(1, 5, data=b"gap")]))
    assert net.core(2).log.last_index() == 1
    assert responses(net, 2) == []


# --- §5.4.2 and Figure 8 ----------------------------------------------------

def test_5_4_2_leader_does_not_commit_old_term_entry_by_counting_replicas() -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.load(1, [1, 1], term=2)  # index 2 (term 1) exists only on node 1
    net.load(2, [1], term=2)
    net.load(3, [1], term=2)
    n1 = net.core(1)
    n1.campaign()
    net.flush()
    net.deliver()  # vote requests
    net.flush()
    net.deliver()  # votes: node 1 leads term 3 and appends its no-op at index 3
    assert n1.role == StateRole.LEADER and n1.term == 3
    net.process_ready(1)  # drop its appends: the no-op reaches nobody
    # Replicate only the old-term entry to node 3: index 2 is then on a majority.
    net.core(3).step(Message(MT.APPEND, to=3, frm=1, term=3, index=1, log_term=1,
                             entries=[Entry(1, 2, data=b"e2@t1")]))
    for m in net.process_ready(3):
        n1.step(m)
    assert n1.trk.progress[3].match == 2
    assert n1.commit_index < 2, "§5.4.2: an old-term entry is not committed by counting"
    # Once a current-term entry reaches a majority, both commit together.
    net.heal()
    net.stabilize()
    assert n1.commit_index == n1.last_index == 3


class _CommitsOldTermEntries(RaftCore):
    """Deliberately broken: ignores §5.4.2 and commits by counting replicas."""

    def _may_commit_at(self, index: int) -> bool:
        return True


def _figure8_c(core_cls: type[RaftCore]) -> Network:
    """Figure 8 (c): S1 leads term 4 and replicates its term-2 entry at index 2 to S3."""
    net = Network([1, 2, 3, 4, 5], pre_vote=False, check_quorum=False, core_cls=core_cls)
    net.load(1, [1, 2], term=3)
    net.load(2, [1, 2], term=3)
    net.load(3, [1], term=3)
    net.load(4, [1], term=3)
    net.load(5, [1, 3], term=3)
    s1 = net.core(1)
    s1.campaign()
    net.flush()
    net.deliver()
    net.flush()
    net.deliver()
    assert s1.role == StateRole.LEADER and s1.term == 4
    net.process_ready(1)  # its appends (with the term-4 no-op) are lost
    for follower in (2, 3):
        net.core(follower).step(Message(MT.APPEND, to=follower, frm=1, term=4, index=1,
                                        log_term=1, entries=[Entry(2, 2, data=b"e2@t2")]))
        for m in net.process_ready(follower):
            s1.step(m)
    net.process_ready(1)
    return net


def _figure8_d(net: Network) -> None:
    """Figure 8 (d): S1 crashes; S5 (last term 3) wins with S2, S3, S4 and overwrites index 2."""
    net.isolate(1)
    net.core(5).campaign()
    net.stabilize()
    assert net.core(5).role == StateRole.LEADER


def test_figure8_old_term_entry_on_majority_is_not_committed() -> None:
    net = _figure8_c(RaftCore)
    assert net.core(1).commit_index < 2
    assert b"e2@t2" not in net.data_applied(1)
    _figure8_d(net)
    # S5's entry replaces index 2 everywhere; no node ever applied the term-2 entry.
    for nid in (2, 3, 4, 5):
        assert net.nodes[nid].storage.term(2) == 3
    assert all(b"e2@t2" not in net.data_applied(n) for n in (1, 2, 3, 4, 5))


def test_figure8_broken_rule_loses_a_committed_entry() -> None:
    """The same schedule with §5.4.2 disabled commits and applies e2, then loses it."""
    net = _figure8_c(_CommitsOldTermEntries)
    assert net.core(1).commit_index >= 2
    assert b"e2@t2" in net.data_applied(1)
    _figure8_d(net)
    assert net.nodes[3].storage.term(2) == 3  # the "committed" entry is gone


def test_figure8_e_current_term_entry_makes_old_entry_safe() -> None:
    net = _figure8_c(RaftCore)
    net.isolate(5)
    net.tick_all(2)  # heartbeats make S1 re-send its term-4 no-op: index 3 commits
    s1 = net.core(1)
    assert s1.commit_index == 3 and b"e2@t2" in net.data_applied(1)
    net.heal()
    net.isolate(1)
    net.core(5).campaign()
    net.stabilize()
    assert net.core(5).role != StateRole.LEADER  # no majority has a log as old as S5's
