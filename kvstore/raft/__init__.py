"""The sans-IO, deterministic Raft core (modelled on etcd-io/raft and tikv/raft-rs).

Public surface: `RaftCore`, `Config`, `ReadOnlyOption`, `Storage`,
`MemoryStorage`, the data types and the typed errors. Nothing in this package
imports asyncio, time, sockets or a disk library (a test checks it).
"""

from kvstore.raft.config import Config, ReadOnlyOption
from kvstore.raft.core import RaftCore
from kvstore.raft.errors import (
    CompactedError,
    NotLeaderError,
    ProposalDropped,
    RaftError,
    SnapshotOutOfDate,
    SnapshotTemporarilyUnavailable,
    UnavailableError,
)
from kvstore.raft.storage import MemoryStorage, Storage
from kvstore.raft.types import (
    NONE,
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Snapshot,
    SnapshotMeta,
    SoftState,
    StateRole,
    Status,
    describe,
    describe_entry,
)

__all__ = [
    "NONE", "CompactedError", "ConfChange", "ConfChangeSingle", "ConfChangeType", "ConfState",
    "Config", "Entry", "EntryType", "HardState", "MemoryStorage", "Message", "MessageType",
    "NotLeaderError", "ProposalDropped", "RaftCore", "RaftError", "ReadOnlyOption", "ReadState",
    "Ready", "Snapshot", "SnapshotMeta", "SnapshotOutOfDate", "SnapshotTemporarilyUnavailable",
    "SoftState", "StateRole", "Status", "Storage", "UnavailableError", "describe",
    "describe_entry",
]
