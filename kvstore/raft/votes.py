"""How a member answers other terms and vote requests (Raft Figure 2, §9.6 pre-vote).

The term rules of `RaftCore.step`: a message of a higher term makes this node
a follower of that term, unless it is a disruptive vote request arriving
inside a lease this node granted (CheckQuorum, thesis §4.2.3); a message of a
lower term is answered so that its stale sender learns the current term. Vote
requests of the current term are granted at most once per term, and only to a
candidate whose log is at least as up to date (§5.4.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft.types import NONE, Message, MessageType

if TYPE_CHECKING:
    from kvstore.raft.core import RaftCore

# Context of a vote request sent after TimeoutNow: it may break a lease.
CAMPAIGN_TRANSFER = b"transfer"
_MT = MessageType
VOTE_TYPES = (_MT.VOTE, _MT.PRE_VOTE)


def in_lease(core: RaftCore) -> bool:
    """Has this node promised a leader not to vote (yet)?"""
    if not core.cfg.check_quorum:
        return False
    if core.ticks <= core.cfg.election_ticks:
        return True  # just (re)started: a leader may hold a lease we acknowledged
    return core.leader_id != NONE and core.election_elapsed < core.cfg.election_ticks


def accept_higher_term(core: RaftCore, m: Message) -> bool:
    """A message of a higher term arrived: adopt the term, or say False to drop it."""
    if m.type in VOTE_TYPES:
        force = m.context == CAMPAIGN_TRANSFER
        if not force and in_lease(core):
            return False  # CheckQuorum: ignore disruptive candidates
    if m.type == _MT.PRE_VOTE or (m.type == _MT.PRE_VOTE_RESP and not m.reject):
        return True  # pre-votes never change our term
    lead = m.frm if m.type in (_MT.APPEND, _MT.HEARTBEAT, _MT.SNAPSHOT) else NONE
    core.become_follower(m.term, lead)
    return True


def on_lower_term(core: RaftCore, m: Message) -> None:
    if (core.cfg.check_quorum or core.cfg.pre_vote) and m.type in (_MT.HEARTBEAT, _MT.APPEND):
        # A stale leader (e.g. after a partition) learns our term and steps down.
        core.send(Message(_MT.APPEND_RESP, to=m.frm))
    elif m.type in VOTE_TYPES:
        # Figure 2, RequestVote rule 1: reply false with our term. etcd drops a
        # stale VOTE, but then a candidate behind a voter's term never learns it:
        # when a removed member that does not know it (no pre-vote) keeps raising
        # that voter's term, the candidate, e.g. the last voter of a config that
        # still needs the demoted old leader's vote, may never catch up (sim seed 714).
        resp = _MT.PRE_VOTE_RESP if m.type == _MT.PRE_VOTE else _MT.VOTE_RESP
        core.send(Message(resp, to=m.frm, term=core.term, reject=True))


def handle_vote_request(core: RaftCore, m: Message) -> None:
    resp = _MT.PRE_VOTE_RESP if m.type == _MT.PRE_VOTE else _MT.VOTE_RESP
    can_vote = (core.vote == m.frm
                or (core.vote == NONE and core.leader_id == NONE)
                or (m.type == _MT.PRE_VOTE and m.term > core.term))
    if can_vote and core.log.is_up_to_date(m.index, m.log_term):
        # Answer with the candidate's term so a pre-vote grant is recognised.
        core.send(Message(resp, to=m.frm, term=m.term))
        if m.type == _MT.VOTE:
            core.election_elapsed = 0
            core.vote = m.frm
    else:
        core.send(Message(resp, to=m.frm, term=core.term, reject=True))
