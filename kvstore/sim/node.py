"""One simulated host: durable storage, a hash-chain state machine and a RaftCore.

Durable state (survives `crash`): the `SimStorage` (written only in step 1
of Ready handling), the applied index, the state machine and the
configuration, which are persisted together at each apply (as the real host
does in one LMDB txn). Volatile state (lost on `crash`): the `RaftCore` and
everything it has not handed out in a Ready yet. `start` builds a fresh core
over the same storage with `Config.applied` = the durable applied index.

A host may hold no replica yet (`hosted` False: a spare). Like the node host,
it creates an empty one (no configuration, index 0) when a leader first
contacts it; the replica then learns everything from a snapshot. A replica
is never deleted: a removed member keeps its storage, and keeps it if it is
added again (reusing an id with wiped state could vote twice in a term).

A snapshot a leader sends is built fresh at its applied index with the
configuration at that index (`fresh_snapshot`), as the node host streams it
(kvstore/server/snapshots.py): the stored one may predate the receiver's
membership, and the core refuses a snapshot of a configuration without it.

The state machine is a hash chain over the applied commands:
`chain_i = blake2b(chain_{i-1} || type || data)`. Equal chains at an index mean
identical command histories, which lets the checker compare whole state
machines in O(1) per apply, and lets a snapshot be tiny (`index:chain`).

`handle_ready` follows the contract order exactly: (1) snapshot, entries, hard
state to storage; (2) send; (3) apply committed entries, serve read states;
(4) advance. The observer hooks run right after the step they describe.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from hashlib import blake2b
from typing import Protocol

from kvstore.raft import (
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RaftCore,
    RaftError,
    ReadState,
    Ready,
    Snapshot,
    SnapshotMeta,
    StateRole,
)
from kvstore.raft.codec import DecodeError, decode_conf_change
from kvstore.sim.checker import SafetyChecker, Violation

CoreFactory = Callable[[Config, MemoryStorage, random.Random], RaftCore]

MAX_READY_ROUNDS = 64  # Ready rounds applying nothing: more means the core spins


class ReadyObserver(Protocol):
    """The workload's view of a node's Ready handling."""

    def on_apply(self, node: int, e: Entry) -> None: ...

    def on_read_state(self, node: int, rs: ReadState) -> None: ...

    def on_role(self, node: int, role: StateRole, term: int) -> None: ...


class SimStorage(MemoryStorage):
    """MemoryStorage plus the host's durable configuration (the applied one).

    The node host persists the configuration with each applied conf change
    and a restarted core reads it back (kvstore/storage/group.py); a
    MemoryStorage would hand back the last snapshot's, forgetting changes
    applied since."""

    def __init__(self, conf_state: ConfState | None = None) -> None:
        super().__init__(conf_state)
        self.conf_state = copy.deepcopy(conf_state or ConfState())

    def initial_state(self) -> tuple[HardState, ConfState]:
        return copy.copy(self.hard_state), copy.deepcopy(self.conf_state)

    def apply_snapshot(self, snap: Snapshot) -> None:
        super().apply_snapshot(snap)
        self.conf_state = copy.deepcopy(snap.meta.conf_state)


def chain_next(chain: bytes, e: Entry) -> bytes:
    return blake2b(chain + bytes([e.type]) + e.data, digest_size=16).digest()


def encode_image(index: int, chain: bytes) -> bytes:
    return b"%d:" % index + chain


def decode_image(data: bytes) -> tuple[int, bytes]:
    head, sep, chain = data.partition(b":")
    if not sep or not head.isdigit():
        raise Violation("snapshot", f"malformed state machine image {data!r}")
    return int(head), chain


class SimNode:
    """A host process: durable storage plus a core while it is up."""

    def __init__(self, node_id: int, voters: list[int], hosted: bool = True) -> None:
        self.id = node_id
        self.hosted = hosted  # holds a replica (durable; spares start without)
        self.storage = SimStorage(ConfState(voters=list(voters)) if hosted else None)
        self.core: RaftCore | None = None
        self.applied = 0  # durable, together with `chain`
        self.chain = b""
        self.paused_until = 0
        self.role = StateRole.FOLLOWER
        self.persisted = 0  # entries + snapshots ever persisted: a monotone progress counter
        self.installs = 0  # snapshots received from a leader
        self.compactions = 0
        self._since_snapshot = 0

    def bootstrap(self, index: int, chain: bytes) -> None:
        """Start the log from a snapshot at `index`, term 1 (the host's bootstrap_group)."""
        st = self.storage
        st.apply_snapshot(Snapshot(SnapshotMeta(index, 1, copy.deepcopy(st.conf_state)),
                                   encode_image(index, chain)))
        st.set_hard_state(HardState(term=1, commit=index))
        self.applied, self.chain = index, chain

    def start(self, factory: CoreFactory, config: Config, rng: random.Random) -> None:
        self.hosted = True
        self.core = factory(config, self.storage, rng)
        self.role = StateRole.FOLLOWER

    def fresh_snapshot(self) -> Snapshot | None:
        """A snapshot of the applied state, as the host sends it (None before any apply)."""
        st, index = self.storage, self.applied
        if index == 0:
            return None
        meta = SnapshotMeta(index, st.term(index), copy.deepcopy(st.conf_state))
        return Snapshot(meta, encode_image(index, self.chain))

    def crash(self) -> None:
        self.core = None
        self.role = StateRole.FOLLOWER
        self.paused_until = 0

    @property
    def up(self) -> bool:
        return self.core is not None

    def handle_ready(self, checker: SafetyChecker, obs: ReadyObserver,
                     send: Callable[[Message], None], snapshot_interval: int,
                     compact_lag: int) -> None:
        """Drain the core's Ready in contract order until it has nothing more."""
        core = self.core
        assert core is not None
        idle = 0  # Ready rounds in a row that applied nothing
        while core.has_ready():
            idle += 1
            if idle > MAX_READY_ROUNDS:
                raise Violation("liveness", f"node {self.id}: Ready never drains")
            rd = core.ready()
            if rd.committed_entries:
                idle = 0  # max_committed_size_per_ready may hand out one entry per Ready
            self._persist(rd, checker)
            if core.role != self.role:
                self.role = core.role
                checker.on_role(self.id, self.role, core.term, self.storage,
                                core.conf_state(), self.applied)
                obs.on_role(self.id, self.role, core.term)
            for m in rd.messages:
                if m.type == MessageType.VOTE_RESP and not m.reject:
                    checker.on_vote_granted(self.id, m.to, m.term, self.storage.hard_state)
                send(m)
            for e in rd.committed_entries:
                self._apply(core, e, checker, obs)
            for rs in rd.read_states:
                obs.on_read_state(self.id, rs)
            core.advance(rd)
            if snapshot_interval and self._since_snapshot >= snapshot_interval:
                self._snapshot_and_compact(core, compact_lag)

    def _persist(self, rd: Ready, checker: SafetyChecker) -> None:
        st = self.storage
        try:
            if rd.snapshot is not None and not rd.snapshot.is_empty():
                self._install(rd.snapshot, checker)
                self.persisted += 1
            if rd.entries:
                st.append(rd.entries)
                self.persisted += len(rd.entries)
                checker.on_append(self.id, rd.entries, st)
        except RaftError as exc:
            raise Violation("host contract", f"node {self.id}: storage refused Ready: "
                            f"{type(exc).__name__}: {exc}") from exc
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
            assert self.core is not None
            checker.on_hard_state(self.id, rd.hard_state, st, self.core.term)

    def _install(self, snap: Snapshot, checker: SafetyChecker) -> None:
        index, chain = decode_image(snap.data)
        if index != snap.meta.index:
            raise Violation("snapshot", f"node {self.id}: image at {index} in snapshot "
                            f"{snap.meta.index}")
        if index <= self.applied:
            raise Violation("snapshot", f"node {self.id}: snapshot {index} <= applied "
                            f"{self.applied}")
        self.storage.apply_snapshot(snap)
        self.applied, self.chain = index, chain
        self.installs += 1
        checker.on_snapshot(self.id, snap, chain)

    def _apply(self, core: RaftCore, e: Entry, checker: SafetyChecker,
               obs: ReadyObserver) -> None:
        if e.index != self.applied + 1:
            raise Violation("host contract", f"node {self.id}: applies {e.index} after "
                            f"{self.applied}")
        if e.type == EntryType.CONF_CHANGE and e.data:
            try:
                cc = decode_conf_change(e.data)
            except DecodeError as exc:
                raise Violation("host contract", f"bad conf change {e.index}: {exc}") from exc
            self.storage.conf_state = core.apply_conf_change(cc)
        self.chain = chain_next(self.chain, e)
        self.applied = e.index
        self._since_snapshot += 1
        checker.on_apply(self.id, e, self.chain)
        if e.type == EntryType.CONF_CHANGE:
            checker.on_conf_applied(self.id, e, self.storage.conf_state)
        obs.on_apply(self.id, e)

    def _snapshot_and_compact(self, core: RaftCore, lag: int) -> None:
        """Host-side log compaction: snapshot the applied state, keep `lag` entries."""
        st = self.storage
        self._since_snapshot = 0
        if self.applied <= st.snapshot().meta.index or self.applied > st.last_index():
            return
        st.create_snapshot(self.applied, st.conf_state, encode_image(self.applied, self.chain))
        upto = self.applied - lag
        if upto >= st.first_index():
            st.compact(upto)
            self.compactions += 1
