"""How far a group's log may be compacted without starving a catching-up follower.

A follower that needs a snapshot gets one streamed at the leader's applied
index; if the leader compacts past that index while the (throttled) stream
runs, the follower ends the install already behind the log's first index
and needs another snapshot, forever under steady writes. So a leader keeps:
- every entry after the index of a snapshot in flight (bounded by the
  transfer's duration, which throttling and chunking keep finite);
- the entries a recently active follower still lacks, up to
  `max_lag_entries` behind (beyond that a snapshot is cheaper anyway).
Followers and idle leaders compact by `log_retain_entries` alone.
"""

from __future__ import annotations

from kvstore.raft import RaftCore, StateRole
from kvstore.raft.progress import ProgressState


def compact_floor(core: RaftCore, applied: int, max_lag_entries: int) -> int:
    """The highest index the log may be compacted to (entries <= it dropped)."""
    if core.role != StateRole.LEADER:
        return applied
    floor = applied
    for nid, pr in core.trk.progress.items():
        if nid == core.id:
            continue
        if pr.state == ProgressState.SNAPSHOT and pr.pending_snapshot:
            floor = min(floor, pr.pending_snapshot)
        elif pr.recent_active:
            floor = min(floor, max(pr.match, applied - max_lag_entries))
    return floor
