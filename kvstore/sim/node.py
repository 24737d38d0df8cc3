"""One simulated host: durable storage, a hash-chain state machine and a RaftCore.

Durable state (survives `crash`): the `MemoryStorage` (written only in step 1
of Ready handling), the applied index and the state machine, which are
persisted together at each apply (as the real host does in one LMDB txn).
Volatile state (lost on `crash`): the `RaftCore` and everything it has not
handed out in a Ready yet. `start` builds a fresh core over the same storage
with `Config.applied` = the durable applied index.

The state machine is a hash chain over the applied commands:
`chain_i = blake2b(chain_{i-1} || type || data)`. Equal chains at an index mean
identical command histories, which lets the checker compare whole state
machines in O(1) per apply, and lets a snapshot be tiny (`index:chain`).

`handle_ready` follows the contract order exactly: (1) snapshot, entries, hard
state to storage; (2) send; (3) apply committed entries, serve read states;
(4) advance. The observer hooks run right after the step they describe.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from hashlib import blake2b
from typing import Protocol

from kvstore.raft import (
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    RaftCore,
    RaftError,
    ReadState,
    Ready,
    Snapshot,
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

    def __init__(self, node_id: int, voters: list[int]) -> None:
        self.id = node_id
        self.storage = MemoryStorage(ConfState(voters=list(voters)))
        self.core: RaftCore | None = None
        self.applied = 0  # durable, together with `chain`
        self.chain = b""
        self.paused_until = 0
        self.role = StateRole.FOLLOWER
        self.persisted = 0  # entries + snapshots ever persisted: a monotone progress counter
        self.installs = 0  # snapshots received from a leader
        self.compactions = 0
        self._since_snapshot = 0

    def start(self, factory: CoreFactory, config: Config, rng: random.Random) -> None:
        self.core = factory(config, self.storage, rng)
        self.role = StateRole.FOLLOWER

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
                checker.on_role(self.id, self.role, core.term, self.storage)
                obs.on_role(self.id, self.role, core.term)
            for m in rd.messages:
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
            core.apply_conf_change(cc)
        self.chain = chain_next(self.chain, e)
        self.applied = e.index
        self._since_snapshot += 1
        checker.on_apply(self.id, e, self.chain)
        obs.on_apply(self.id, e)

    def _snapshot_and_compact(self, core: RaftCore, lag: int) -> None:
        """Host-side log compaction: snapshot the applied state, keep `lag` entries."""
        st = self.storage
        self._since_snapshot = 0
        if self.applied <= st.snapshot().meta.index or self.applied > st.last_index():
            return
        st.create_snapshot(self.applied, core.conf_state(),
                           encode_image(self.applied, self.chain))
        upto = self.applied - lag
        if upto >= st.first_index():
            st.compact(upto)
            self.compactions += 1
