"""Per-follower replication progress, as the leader tracks it.

A follower is in one of three states:
- PROBE: the leader does not know where the follower's log matches; it sends
  at most one append per heartbeat interval and backs off on rejection;
- REPLICATE: the follower is in sync; appends are pipelined, bounded by
  `Inflights` (at most `max_inflight_msgs` unacknowledged appends);
- SNAPSHOT: the follower needs a snapshot; appends pause until it reports.

Invariant: match < next; next - 1 is the index the next append builds on.
"""

from __future__ import annotations

from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """A bounded FIFO of the last indexes of in-flight appends."""

    __slots__ = ("_buf", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._buf: list[int] = []

    def add(self, last_index: int) -> None:
        if len(self._buf) >= self.capacity:
            return  # the caller checks full() first; never grow past the bound
        self._buf.append(last_index)

    def free_le(self, index: int) -> None:
        """Acknowledge every in-flight append whose last index is <= index."""
        i = 0
        buf = self._buf
        while i < len(buf) and buf[i] <= index:
            i += 1
        if i:
            del buf[:i]

    def free_first_one(self) -> None:
        if self._buf:
            del self._buf[0]

    def full(self) -> bool:
        return len(self._buf) >= self.capacity

    def count(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()


class Progress:
    __slots__ = ("inflights", "is_learner", "lease_tick", "match", "msg_app_flow_paused",
                 "next", "pending_snapshot", "recent_active", "state")

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        self.msg_app_flow_paused = False
        self.inflights = Inflights(max_inflight)
        self.is_learner = is_learner
        # Leader tick at which the newest heartbeat this peer acknowledged was sent (0: none).
        self.lease_tick = 0

    def _reset_state(self, state: ProgressState) -> None:
        self.msg_app_flow_paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def sent_entries(self, count: int) -> None:
        """Book-keeping after an append carrying `count` entries starting at `next`."""
        if self.state == ProgressState.REPLICATE:
            if count:
                last = self.next + count - 1
                self.next = last + 1
                self.inflights.add(last)
        elif self.state == ProgressState.PROBE:
            # One probe per heartbeat interval: wait for a reply or the next heartbeat.
            self.msg_app_flow_paused = True

    def maybe_update(self, n: int) -> bool:
        """An append up to n was acknowledged. Returns True if match advanced."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.msg_app_flow_paused = False
        self.next = max(self.next, n + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An append at `rejected` was refused. Returns False if the refusal is stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1, 1)
        self.msg_app_flow_paused = False
        return True

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.msg_app_flow_paused
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True

    def describe(self) -> str:
        return f"{self.state.name} match={self.match} next={self.next}"
