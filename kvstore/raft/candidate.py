"""Elections from the candidate's side: starting one (`hup`) and counting votes
(etcd's campaign, poll and stepCandidate).

With pre-vote (Raft thesis §9.6) a node first asks for votes for term + 1
without changing its term, and only campaigns for real if a quorum would vote
for it. No election starts while a committed conf change is unapplied (the
configuration that counts the votes is not known yet).

A (pre-)candidate that hears from a leader of its own term becomes its
follower; it counts votes of its own kind only (pre-vote responses while
pre-candidate, vote responses while candidate) and ignores the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft import follower, leader
from kvstore.raft.quorum import VoteResult
from kvstore.raft.types import EntryType, Message, MessageType, StateRole
from kvstore.raft.votes import CAMPAIGN_TRANSFER

if TYPE_CHECKING:
    from kvstore.raft.core import RaftCore

_MT = MessageType


def step(core: RaftCore, m: Message) -> None:
    t = m.type
    if t in (_MT.APPEND, _MT.HEARTBEAT, _MT.SNAPSHOT):
        core.become_follower(m.term, m.frm)
        follower.step(core, m)
        return
    want = _MT.PRE_VOTE_RESP if core.role == StateRole.PRE_CANDIDATE else _MT.VOTE_RESP
    if t != want:
        return
    result = poll(core, m.frm, not m.reject)
    if result == VoteResult.WON:
        on_vote_won(core)
    elif result == VoteResult.LOST:
        core.become_follower(core.term, 0)


def hup(core: RaftCore, transfer: bool = False) -> None:
    """Start an election (a pre-vote first, unless this is a leadership transfer)."""
    if core.role == StateRole.LEADER or not core.promotable():
        return
    if has_unapplied_conf_change(core):
        return
    if core.cfg.pre_vote and not transfer:
        core.become_pre_candidate()
        request_votes(core, _MT.PRE_VOTE, core.term + 1, b"")
    else:
        campaign_vote(core, transfer)


def campaign_vote(core: RaftCore, transfer: bool) -> None:
    core.become_candidate()
    request_votes(core, _MT.VOTE, core.term, CAMPAIGN_TRANSFER if transfer else b"")


def has_unapplied_conf_change(core: RaftCore) -> bool:
    log = core.log
    if log.committed <= log.applied:
        return False
    try:
        ents = log.slice(log.applied + 1, log.committed + 1, None)
    except Exception:  # compacted under us: a snapshot is pending; be conservative
        return True
    return any(e.type == EntryType.CONF_CHANGE for e in ents)


def request_votes(core: RaftCore, typ: MessageType, term: int, ctx: bytes) -> None:
    if poll(core, core.id, True) == VoteResult.WON:
        on_vote_won(core)
        return
    last, last_term = core.log.last_index(), core.log.last_term()
    for nid in core.trk.config.voter_ids():
        if nid != core.id:
            core.send(Message(typ, to=nid, term=term, index=last, log_term=last_term,
                              context=ctx))


def poll(core: RaftCore, nid: int, granted: bool) -> VoteResult:
    core.trk.record_vote(nid, granted)
    return core.trk.tally()


def on_vote_won(core: RaftCore) -> None:
    if core.role == StateRole.PRE_CANDIDATE:
        campaign_vote(core, False)
    else:
        core.become_leader()
        leader.bcast_append(core)
