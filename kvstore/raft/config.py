"""Configuration of one Raft group member (RaftCore). All durations are in ticks.

Lease reads (`ReadOnlyOption.LEASE_BASED`, `RaftCore.lease_read_index`) are safe
only when `check_quorum` is on AND the clocks of the nodes drift by less than
`max_clock_drift_ticks` per election timeout: the lease lasts
`election_ticks - max_clock_drift_ticks` ticks from the moment the leader *sent*
the heartbeats a quorum acknowledged. A follower that acknowledged a heartbeat
refuses to vote for `election_ticks` of its own ticks after it (CheckQuorum's
"in lease" rule), so no other leader can exist before the lease ends unless a
follower's clock runs faster than the bound.

Quiescence (`quiesce_ticks` > 0): a leader whose group has been idle for
`quiesce_ticks` ticks, with every replica's log matching its committed log,
sends one last heartbeat marked `quiesce` and stops heartbeating; followers
that match stop their election timers. Any message or local request wakes a
replica. Quiescence never extends a lease: the leader's tick count keeps
running, so its lease ends as if it had stopped hearing from its followers.
A quiesced follower of a dead leader needs its host to tell it
(`RaftCore.report_leader_down`), because nothing else will.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ReadOnlyOption(IntEnum):
    SAFE = 0  # ReadIndex confirms leadership with a heartbeat round (Raft thesis §6.4)
    LEASE_BASED = 1  # read_index() answers from the leader lease without a round trip


@dataclass(slots=True)
class Config:
    id: int
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    applied: int = 0
    max_size_per_msg: int = 1 << 20
    max_committed_size_per_ready: int = 1 << 24
    max_uncommitted_entries_size: int = 0  # 0: unlimited
    max_inflight_msgs: int = 256
    check_quorum: bool = True
    pre_vote: bool = True
    read_only_option: ReadOnlyOption = ReadOnlyOption.SAFE
    max_clock_drift_ticks: int = 2
    quiesce_ticks: int = 0  # 0: never quiesce
    # A leader whose commit index moves tells its followers at the next ready()
    # instead of at once, inside an append it sends them anyway when there is one
    # (one message instead of two, and one ack instead of two); False is etcd's
    # behaviour, which the etcd-derived interaction tests pin.
    merge_commit_notices: bool = True
    # With merge_commit_notices: a notice no append of the same ready carries waits
    # for the next append (a proposal) or for the host's `flush_commit_notice`,
    # which it calls a few milliseconds later (server config commit_notice_delay_ms).
    # A loaded leader then sends no empty notices at all, and its followers apply in
    # the transaction of their next append instead of a turn and fsync of their own.
    defer_commit_notices: bool = False

    def validate(self) -> None:
        if self.id <= 0:
            raise ValueError("id must be positive")
        if self.heartbeat_ticks <= 0:
            raise ValueError("heartbeat_ticks must be positive")
        if self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("election_ticks must be greater than heartbeat_ticks")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be positive")
        if not 0 <= self.max_clock_drift_ticks < self.election_ticks:
            raise ValueError("max_clock_drift_ticks must be in [0, election_ticks)")
        if self.quiesce_ticks < 0:
            raise ValueError("quiesce_ticks must be >= 0")
        if self.read_only_option == ReadOnlyOption.LEASE_BASED and not self.check_quorum:
            raise ValueError("lease-based reads require check_quorum")
        if self.defer_commit_notices and not self.merge_commit_notices:
            raise ValueError("defer_commit_notices requires merge_commit_notices")
