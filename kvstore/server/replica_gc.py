"""Stale replicas: telling a replica it was removed while it was not listening.

A replica applies its own removal and is destroyed by its host (host.py,
replicas.py). A replica whose node was down, or cut off, while the
group removed it never sees that entry: nobody in the new configuration
sends it anything. It wakes up believing it is still a member and campaigns
forever. TiKV answers such a peer with a GC message; so do we.

The rule, for group G:
- A replica R that is itself a member of G, receiving any message from a node
  S outside its applied configuration, answers REPLICA_GC with
  `index = R's applied index` (its configuration is the one as of that index).
- S obeys only if R is a member of S's (older) configuration and S's log ends
  before that index. Why this is safe: R's configuration as of `index`
  excludes S. If S is a member in a later configuration, it was (re-)added
  at some a > index, so S's log holds entry a and S ignores the hint. So a
  late hint never destroys a re-added replica; the replica it destroys was
  removed by a committed entry, and its data lives on in the members. A new
  replica that knows no configuration yet never sends a hint.
A stale *learner* never campaigns, and a stale follower may be quiet, so a
replica that has had no leader for a while also probes: every
`GC_PROBE_TICKS` it sends REPLICA_GC with index 0 to the other members it
knows; a member that no longer counts it a member answers with a hint.
Members drop each other's probes (a leaderless group is common during
elections), and a hint is never answered, so nothing ping-pongs.

Destroying keeps the replica's term and vote (a tombstone), like any removal.
"""

from __future__ import annotations

from kvstore.raft import NONE, Message, MessageType, RaftCore

GC_PROBE_TICKS = 50


def is_hint(m: Message) -> bool:
    return m.type == MessageType.REPLICA_GC and m.index > 0


def gc_hint(core: RaftCore, m: Message) -> Message | None:
    """The hint answering `m` (a probe or any Raft message) from outside our configuration."""
    trk = core.trk
    if m.frm in trk.progress or core.id not in trk.progress or is_hint(m):
        return None
    return Message(MessageType.REPLICA_GC, to=m.frm, frm=core.id, term=core.term,
                   index=max(1, core.log.applied))


def obeys_gc_hint(core: RaftCore, hint: Message) -> bool:
    """Does `hint` prove that this replica was removed from its group?"""
    return (is_hint(hint) and hint.frm in core.trk.progress and core.id in core.trk.progress
            and core.log.last_index() < hint.index)


def gc_probes(core: RaftCore) -> list[Message]:
    """Probes from a replica that knows no leader, to the other members it knows."""
    if core.leader_id != NONE or core.id not in core.trk.progress:
        return []
    return [Message(MessageType.REPLICA_GC, to=nid, frm=core.id, term=core.term, index=0)
            for nid in sorted(core.trk.progress) if nid != core.id]
