"""Quiescence: idle groups stop heartbeating (CockroachDB's quiesced ranges, TiKV's hibernation).

A node hosts hundreds of groups, most of them idle most of the time. Without
this, each idle leader heartbeats every follower every `heartbeat_ticks`.

Rules (functions take the `RaftCore` as first argument, like leader.py):
- A leader quiesces after `cfg.quiesce_ticks` ticks in a row in which its
  group was idle (`may_quiesce`): everything committed and applied, every
  replica's log acknowledged up to the last index, no reads, transfer or joint
  configuration pending. It sends each follower a last HEARTBEAT marked
  `quiesce` and stops heartbeating and checking its quorum.
- A follower that gets that heartbeat quiesces only if its log ends exactly at
  the leader's commit index (a longer, stale tail needs the leader awake to be
  truncated). A quiesced follower never campaigns; its `election_elapsed`
  keeps counting, because the lease rule is about time since it last heard
  from its leader, which keeps passing.
- Any message other than a heartbeat response or a quiesce heartbeat, and
  any local request, wakes a replica (`wake`): timers restart from zero, as if
  it had just heard from its leader. So a quiesced replica woken by a
  candidate refuses it for an election timeout, exactly as an active
  follower that just heard from its leader would.
- The host wakes a quiesced follower whose leader's node stopped answering
  (`report_leader_down`); the follower keeps its counted `election_elapsed`,
  capped at one election timeout, and campaigns at its randomized timeout.
- The host also wakes a quiesced leader once so many voters' nodes stopped
  answering that the rest cannot form a quorum (`report_peers_silent`): awake,
  its CheckQuorum steps it down after an election timeout, as it would an
  active leader cut off from its followers. Otherwise an isolated quiesced
  leader would keep calling itself leader (to status and routing) forever.

Why leases stay safe: a quiesced leader's `ticks` keep running and it sends
no heartbeats, so no acknowledgement renews its lease; it ends
`lease_ticks()` after the last acknowledged heartbeat (the quiesce heartbeat
at the latest), as for a leader cut off from its followers. A follower that
acknowledged that heartbeat refuses votes for a full election timeout of its
own ticks from then (waking only restarts that timeout). After the lease
ends, a lease read falls back to ReadIndex, which wakes the leader and needs
a quorum round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft.quorum import VoteResult
from kvstore.raft.types import Message, MessageType, StateRole

if TYPE_CHECKING:
    from kvstore.raft.core import RaftCore

_MT = MessageType


def wakes(m: Message) -> bool:
    """Does stepping `m` wake a quiesced replica?"""
    return m.type != _MT.HEARTBEAT_RESP and not m.quiesce


def wake(core: RaftCore) -> None:
    core.quiesced = False
    core.quiet_ticks = 0
    core.election_elapsed = 0
    if core.role == StateRole.LEADER:
        core.heartbeat_elapsed = 0
        # Not quiet again before CheckQuorum has seen a quorum answer: a leader
        # woken because its quorum went silent must stay awake to step down.
        core.quorum_unconfirmed = core.cfg.check_quorum
        # CheckQuorum must see fresh answers, not ones from before the quiet time.
        for nid, pr in core.trk.progress.items():
            if nid != core.id:
                pr.recent_active = False


def tick_quiesced(core: RaftCore) -> None:
    if core.role != StateRole.LEADER:
        core.election_elapsed += 1  # counts towards the end of the lease it granted


def may_quiesce(core: RaftCore) -> bool:
    """Is the group idle enough that the leader may stop heartbeating?"""
    log = core.log
    last = log.last_index()
    if (core.quorum_unconfirmed or core.commit_notice_pending
            or log.committed != last or log.applied != last
            or core.trk.config.joint()
            or core.lead_transferee or core.pending_read_index or core.read_only.queue
            or log.term_or_none(last) != core.term):
        return False
    return all(pr.match == last for pr in core.trk.progress.values())


def maybe_quiesce(core: RaftCore) -> bool:
    """Called by the leader's tick: quiesce after `quiesce_ticks` idle ticks in a row."""
    if not may_quiesce(core):
        core.quiet_ticks = 0
        return False
    core.quiet_ticks += 1
    if core.quiet_ticks < core.cfg.quiesce_ticks:
        return False
    core.quiesced = True
    core.quiet_ticks = 0
    commit = core.log.committed
    for nid in sorted(core.trk.progress):
        if nid != core.id:
            # Acknowledgements renew the lease as any heartbeat's do (index = send tick).
            core.send(Message(_MT.HEARTBEAT, to=nid, commit=commit, index=core.ticks,
                              quiesce=True))
    return True


def on_quiesce_heartbeat(core: RaftCore, m: Message) -> None:
    """Follower, after handling heartbeat `m` marked quiesce from its leader."""
    log = core.log
    if core.cfg.quiesce_ticks and log.committed == m.commit == log.last_index():
        core.quiesced = True


def report_peers_silent(core: RaftCore, silent: set[int]) -> bool:
    """Wake a quiesced leader whose live voters (by node liveness) are no quorum."""
    if not core.quiesced or core.role != StateRole.LEADER:
        return False
    live = {nid: nid == core.id or nid not in silent for nid in core.trk.config.voter_ids()}
    if core.trk.vote_result(live) == VoteResult.WON:
        return False
    wake(core)
    return True


def report_leader_down(core: RaftCore) -> None:
    if core.quiesced and core.role != StateRole.LEADER:
        core.quiesced = False
        # Keep what counted while quiet (at least a timeout: votes may be granted),
        # but no more, so that followers woken together campaign at their own
        # randomized timeouts instead of all on the next tick (a split vote).
        core.election_elapsed = min(core.election_elapsed, core.cfg.election_ticks)
