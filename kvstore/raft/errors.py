"""Typed errors of the Raft core (raft-rs style, instead of sentinel values).

The core raises these only from local API calls (propose, read_index, storage
look-ups). Remote input never raises: a bad message is dropped. The host layer
translates them into `kvstore.errors` types.
"""

from __future__ import annotations


class RaftError(Exception):
    """Base of the core's errors."""


class ProposalDropped(RaftError):
    """The proposal was not appended (no leader, transfer in progress, a pending conf change)."""


class NotLeaderError(ProposalDropped):
    """This node is not the leader; `leader_id` is its best guess (0 if unknown)."""

    def __init__(self, leader_id: int) -> None:
        super().__init__(f"not leader (leader hint {leader_id})")
        self.leader_id = leader_id


class CompactedError(RaftError):
    """The requested index is older than the storage's first index (compacted away)."""


class UnavailableError(RaftError):
    """The requested index is not in storage yet."""


class SnapshotTemporarilyUnavailable(RaftError):
    """Storage cannot produce a snapshot right now; retry later."""


class SnapshotOutOfDate(RaftError):
    """A snapshot older than the current one was offered."""
