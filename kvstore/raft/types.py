"""Plain data types of the Raft core: entries, messages, states, snapshots, Ready.

Everything here is a `@dataclass(slots=True)` or an `IntEnum`, with no
behaviour beyond small helpers, so that the core, the simulator, storage and
transport share one vocabulary. `kvstore/raft/codec.py` encodes them with
msgpack. Names follow etcd-io/raft in snake_case.

Node ids are positive ints; 0 means "none" (no leader, no vote).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

NONE = 0


class StateRole(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class MessageType(IntEnum):
    # Local messages: never sent over the wire.
    HUP = 0  # start an election (tick or campaign())
    BEAT = 1  # leader: broadcast heartbeats
    PROPOSE = 2  # append client data
    CHECK_QUORUM = 3  # leader: step down unless a quorum was recently active
    # Remote messages.
    APPEND = 4
    APPEND_RESP = 5
    VOTE = 6
    VOTE_RESP = 7
    PRE_VOTE = 8
    PRE_VOTE_RESP = 9
    HEARTBEAT = 10
    HEARTBEAT_RESP = 11
    SNAPSHOT = 12
    TIMEOUT_NOW = 13
    READ_INDEX = 14
    READ_INDEX_RESP = 15
    TRANSFER_LEADER = 16
    # Local feedback from the host's transport.
    UNREACHABLE = 17
    SNAP_STATUS = 18
    # Host to host, never stepped into a core: "you are not in my group's
    # configuration" from a leader to a replica it does not know (kvstore/server/gc.py).
    REPLICA_GC = 19


LOCAL_MESSAGES = frozenset(
    {MessageType.HUP, MessageType.BEAT, MessageType.CHECK_QUORUM, MessageType.UNREACHABLE,
     MessageType.SNAP_STATUS}
)


class ConfChangeType(IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1
    ADD_LEARNER = 2


@dataclass(slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""

    def size(self) -> int:
        return len(self.data) + 16


@dataclass(slots=True)
class HardState:
    """What must be durable before any message depending on it is sent."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(slots=True)
class ConfState:
    """Group membership. `voters_outgoing` is non-empty only in a joint config."""

    voters: list[int] = field(default_factory=list)
    learners: list[int] = field(default_factory=list)
    voters_outgoing: list[int] = field(default_factory=list)
    learners_next: list[int] = field(default_factory=list)
    auto_leave: bool = False


@dataclass(slots=True)
class ConfChangeSingle:
    type: ConfChangeType
    node_id: int


@dataclass(slots=True)
class ConfChange:
    """A membership change proposal (carried in a CONF_CHANGE entry's data).

    One change is applied in one step (the one-at-a-time rule). Several changes
    enter a joint configuration that is left automatically (`auto_leave`) or by
    proposing an empty ConfChange. `context` is opaque to Raft (e.g. the new
    node's address).
    """

    changes: list[ConfChangeSingle] = field(default_factory=list)
    context: bytes = b""

    def leave_joint(self) -> bool:
        return not self.changes


@dataclass(slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(slots=True)
class Snapshot:
    """A state machine image up to `meta.index`.

    `data` holds the image for in-memory use (tests, simulator). Real storage
    streams the image out of band and leaves `data` empty.
    """

    meta: SnapshotMeta = field(default_factory=SnapshotMeta)
    data: bytes = b""

    def is_empty(self) -> bool:
        return self.meta.index == 0


@dataclass(slots=True)
class Message:
    type: MessageType
    to: int = NONE
    frm: int = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""
    snapshot: Snapshot | None = None
    # On a HEARTBEAT: the leader is going quiet (see RaftCore.quiesced); the
    # follower may stop its election timer if its log ends at `commit`.
    quiesce: bool = False


@dataclass(slots=True)
class Status:
    """A snapshot of one member's state for operators (`RaftCore.status`)."""

    id: int
    term: int
    vote: int
    commit: int
    applied: int
    last_index: int
    role: StateRole
    leader_id: int
    progress: dict[int, str] = field(default_factory=dict)


@dataclass(slots=True)
class SoftState:
    """Volatile state the host may want to observe (not persisted)."""

    leader_id: int = NONE
    role: StateRole = StateRole.FOLLOWER


@dataclass(slots=True)
class ReadState:
    """A ReadIndex result: the read with `request_ctx` may be served once applied >= index."""

    index: int
    request_ctx: bytes


@dataclass(slots=True)
class Ready:
    """Everything the host must do in one turn, in this order:

    1. persist `snapshot` (if any), `entries` and `hard_state` (if any), durably;
    2. send `messages`;
    3. apply `committed_entries` and serve `read_states`;
    4. call `RaftCore.advance(ready)`.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.soft_state or self.hard_state or self.entries or self.snapshot
            or self.committed_entries or self.messages or self.read_states
        )


def is_response(t: MessageType) -> bool:
    return t in (
        MessageType.APPEND_RESP, MessageType.VOTE_RESP, MessageType.PRE_VOTE_RESP,
        MessageType.HEARTBEAT_RESP, MessageType.READ_INDEX_RESP,
    )


def describe(m: Message) -> str:
    """The canonical one-line text form of a message (logs, traces, golden files)."""
    parts = [f"{m.frm}->{m.to} {m.type.name} term={m.term}"]
    if m.type in (MessageType.APPEND, MessageType.VOTE, MessageType.PRE_VOTE,
                  MessageType.APPEND_RESP):
        parts.append(f"log_term={m.log_term} index={m.index}")
    if m.commit:
        parts.append(f"commit={m.commit}")
    if m.entries:
        parts.append("entries=[" + ", ".join(describe_entry(e) for e in m.entries) + "]")
    if m.reject:
        parts.append(f"reject hint={m.reject_hint}")
    if m.context:
        parts.append(f"ctx={m.context!r}")
    if m.quiesce:
        parts.append("quiesce")
    if m.snapshot is not None:
        parts.append(f"snapshot=({m.snapshot.meta.index}@{m.snapshot.meta.term})")
    return " ".join(parts)


def describe_entry(e: Entry) -> str:
    kind = "" if e.type == EntryType.NORMAL else " conf"
    return f"{e.term}/{e.index}{kind} {e.data!r}"
