"""Candidate and pre-candidate behaviour (etcd's stepCandidate).

A (pre-)candidate that hears from a leader of its own term becomes its
follower; it counts votes of its own kind only (pre-vote responses while
pre-candidate, vote responses while candidate) and ignores the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft import follower
from kvstore.raft.quorum import VoteResult
from kvstore.raft.types import Message, MessageType, StateRole

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
    result = core.poll(m.frm, t, not m.reject)
    if result == VoteResult.WON:
        core.on_vote_won()
    elif result == VoteResult.LOST:
        core.become_follower(core.term, 0)
