"""Follower behaviour (etcd's stepFollower): append, heartbeat, snapshot, forwarding.

A follower accepts entries only after checking the log-matching property
(Figure 2, AppendEntries rules 1-5) and never rewrites committed entries.
Entries in an append must be contiguous from `index + 1` and not newer than
the message's term; anything else is malformed and dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft import quiesce
from kvstore.raft.tracker import TrackerConfig
from kvstore.raft.types import NONE, Message, MessageType, ReadState, Snapshot

if TYPE_CHECKING:
    from kvstore.raft.core import RaftCore

_MT = MessageType


def step(core: RaftCore, m: Message) -> None:
    t = m.type
    if t in (_MT.APPEND, _MT.HEARTBEAT, _MT.SNAPSHOT):
        core.election_elapsed = 0
        core.leader_id = m.frm
        if t == _MT.APPEND:
            handle_append(core, m)
        elif t == _MT.HEARTBEAT:
            handle_heartbeat(core, m)
        else:
            handle_snapshot(core, m)
    elif t == _MT.TIMEOUT_NOW:
        core.hup(transfer=True)
    elif t == _MT.READ_INDEX_RESP:
        core.read_states.append(ReadState(m.index, m.context))
    elif t == _MT.TRANSFER_LEADER and core.leader_id != NONE:
        core.send(Message(t, to=core.leader_id, index=m.index))
    # A READ_INDEX from a peer that took us for the leader is dropped: the
    # sender times out and retries against the real leader.


def _well_formed(m: Message) -> bool:
    prev = m.log_term
    for i, e in enumerate(m.entries):
        if e.index != m.index + 1 + i or e.term < prev or e.term > m.term:
            return False
        prev = e.term
    return True


def handle_append(core: RaftCore, m: Message) -> None:
    if not _well_formed(m):
        return
    if m.index < core.log.committed:
        core.send(Message(_MT.APPEND_RESP, to=m.frm, index=core.log.committed))
        return
    last = core.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
    if last is not None:
        core.send(Message(_MT.APPEND_RESP, to=m.frm, index=last))
        return
    # Fast backtracking: tell the leader the last index whose term could match.
    hint = min(m.index, core.log.last_index())
    hint, hint_term = core.log.find_conflict_by_term(hint, m.log_term)
    core.send(Message(_MT.APPEND_RESP, to=m.frm, index=m.index, reject=True,
                      reject_hint=hint, log_term=hint_term))


def handle_heartbeat(core: RaftCore, m: Message) -> None:
    core.log.commit_to(m.commit)
    core.send(Message(_MT.HEARTBEAT_RESP, to=m.frm, context=m.context, index=m.index))
    if m.quiesce:
        quiesce.on_quiesce_heartbeat(core, m)


def handle_snapshot(core: RaftCore, m: Message) -> None:
    if m.snapshot is not None and restore(core, m.snapshot):
        core.send(Message(_MT.APPEND_RESP, to=m.frm, index=core.log.last_index()))
    else:
        core.send(Message(_MT.APPEND_RESP, to=m.frm, index=core.log.committed))


def restore(core: RaftCore, s: Snapshot) -> bool:
    """Install `s` unless we already have everything it covers."""
    meta = s.meta
    if meta.index <= core.log.committed:
        return False
    cs = meta.conf_state
    if core.id not in (*cs.voters, *cs.learners, *cs.voters_outgoing, *cs.learners_next):
        return False  # a snapshot of a configuration we are not part of
    if core.log.match_term(meta.index, meta.term):
        # We hold the snapshot's last entry: just fast-forward commit.
        core.log.commit_to(meta.index)
        return False
    core.log.restore(s)
    core.trk.set_config(TrackerConfig.from_conf_state(cs), core.log.last_index() + 1)
    return True
