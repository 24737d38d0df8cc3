"""Delayed follower apply: a follower holds committed entries back for a few ms.

Applying a round's writes dirties, copies and writes back every LMDB page they
touch (with 1000 keys over 8 shards, most of the kv db's leaf pages), and a
follower does it in the transaction of its next append, whose fsync the leader
waits for. Holding the applies back for up to `delay_s` lets one transaction
apply several rounds, which touch the same pages, and leaves the appends in
between small: puts at 64 concurrent with every leader on one node +6 to +19%
in alternating runs (delay 40 ms, 1000 keys; see README, Performance). The
stored data is the same, only later; what it costs is follower staleness:
- `stale` reads served by a follower may miss writes for up to `delay_s` more;
- `sequential` reads wait for no delay: a group with a waiting read (any
  `Group.apply_waiters`) applies at once, as a follower leaving the FOLLOWER
  role does (a new leader applies its backlog before it serves anything);
- leader reads and writes are unaffected (only followers hold back), and so
  is a leader stepping down in the same turn as its last round commits (a
  Ready with a role change, proposals or read states is never held).
Conf-change entries and the metadata group are never held, and a backlog of
`max_entries` entries or `max_bytes` bytes applies at once, which bounds the
transaction that catches up.

The delay counts from the first held entry of each group; the timer that
wakes the host for it has 1 ms of slack (uvloop's timer resolution).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kvstore.raft import EntryType, Ready, StateRole
from kvstore.server.group import Group
from kvstore.server.wake_timer import SLACK_S, WakeTimer
from kvstore.sharding.meta import META_GROUP


class DelayedApplies:
    def __init__(self, delay_s: float, wake: Callable[[], None], *,
                 max_entries: int = 64, max_bytes: int = 1 << 20) -> None:
        self.delay_s = delay_s
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._since: dict[int, float] = {}  # group -> loop time its backlog was first held
        self._timer = WakeTimer(wake)

    def hold(self, readies: list[tuple[Group, Ready]]) -> set[int]:
        """Empty `committed_entries` of the Readies whose apply may wait; their groups.

        The cores re-offer held entries (from applied + 1) in a later Ready."""
        held: set[int] = set()
        if self.delay_s <= 0:
            return held
        loop = asyncio.get_running_loop()
        now = loop.time()
        for g, rd in readies:
            if not rd.committed_entries:
                continue
            since = self._since.get(g.gid)
            if not self._may_hold(g, rd) or (since is not None
                                             and now - since >= self.delay_s - SLACK_S):
                self._since.pop(g.gid, None)
                continue
            if since is None:
                self._since[g.gid] = now
            rd.committed_entries = []
            held.add(g.gid)
        for gid in [gid for gid in self._since if gid not in held]:
            del self._since[gid]  # applied, or no longer offered (a snapshot, a removal)
        self._timer.arm_earliest(loop, self._since, self.delay_s)
        return held

    def _may_hold(self, g: Group, rd: Ready) -> bool:
        # A role change in this Ready (a leader stepping down with its last round just
        # committed), proposals or reads of this replica waiting on these entries: the
        # turn answers them from this apply, so it must not wait.
        if (g.core.role != StateRole.FOLLOWER or g.gid == META_GROUP or g.apply_waiters
                or g.proposals or rd.read_states or rd.soft_state is not None
                or rd.snapshot is not None or len(rd.committed_entries) >= self.max_entries):
            return False
        size = 0
        for e in rd.committed_entries:
            if e.type != EntryType.NORMAL:
                return False
            size += len(e.data)
        return size < self.max_bytes

    def close(self) -> None:
        self._timer.cancel()
        self._since.clear()
