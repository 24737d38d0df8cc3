"""The storage seam of the Raft core, and `MemoryStorage` for tests and the simulator.

The core only *reads* stable storage (`Storage` protocol, as etcd's
`Storage` interface). The host writes to it after each `Ready` (append,
set_hard_state, apply_snapshot) and may `compact` it after a snapshot.

Invariant of `MemoryStorage`: `_ents[0]` is a dummy entry holding the index and
term of the last compaction point (the snapshot), so `first_index()` is
`_ents[0].index + 1` and `term(first_index() - 1)` is always answerable.
"""

from __future__ import annotations

import copy
from typing import Protocol

from kvstore.raft.errors import (
    CompactedError,
    SnapshotOutOfDate,
    UnavailableError,
)
from kvstore.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta


class Storage(Protocol):
    """Read access to stable Raft state for one group."""

    def initial_state(self) -> tuple[HardState, ConfState]: ...

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries in [lo, hi); at least one if any, at most about max_size bytes."""
        ...

    def term(self, index: int) -> int:
        """Term of entry `index`; valid for first_index()-1 .. last_index()."""
        ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot (may raise SnapshotTemporarilyUnavailable)."""
        ...


def limit_size(ents: list[Entry], max_size: int | None) -> list[Entry]:
    """Keep a prefix of `ents` under max_size bytes, but always at least one entry."""
    if max_size is None or not ents:
        return ents
    size = ents[0].size()
    for i in range(1, len(ents)):
        size += ents[i].size()
        if size > max_size:
            return ents[:i]
    return ents


class MemoryStorage:
    """An in-memory `Storage`. Thread-unsafe by design: the sans-IO world is single-threaded."""

    def __init__(self, conf_state: ConfState | None = None) -> None:
        self.hard_state = HardState()
        self._snapshot = Snapshot(SnapshotMeta(conf_state=conf_state or ConfState()))
        self._ents: list[Entry] = [Entry(term=0, index=0)]

    # --- Storage protocol -------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return copy.copy(self.hard_state), copy.deepcopy(self._snapshot.meta.conf_state)

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(f"entries({lo}) compacted at {offset}")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries({hi}) beyond last {self.last_index()}")
        return limit_size(self._ents[lo - offset : hi - offset], max_size)

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise CompactedError(f"term({index}) compacted at {offset}")
        if index - offset >= len(self._ents):
            raise UnavailableError(f"term({index}) beyond last {self.last_index()}")
        return self._ents[index - offset].term

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # --- Writes by the host -------------------------------------------------
    def set_hard_state(self, hs: HardState) -> None:
        self.hard_state = copy.copy(hs)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the whole log with `snap` (InstallSnapshot on a follower)."""
        if snap.meta.index < self._snapshot.meta.index:
            raise SnapshotOutOfDate(f"{snap.meta.index} < {self._snapshot.meta.index}")
        self._snapshot = copy.deepcopy(snap)
        self._ents = [Entry(term=snap.meta.term, index=snap.meta.index)]

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        """Record a snapshot of the applied state at `index` (which must be in the log)."""
        if index <= self._snapshot.meta.index:
            raise SnapshotOutOfDate(f"{index} <= {self._snapshot.meta.index}")
        if index > self.last_index():
            raise UnavailableError(f"snapshot {index} beyond last {self.last_index()}")
        meta = SnapshotMeta(
            index=index,
            term=self.term(index),
            conf_state=copy.deepcopy(conf_state) if conf_state else self._snapshot.meta.conf_state,
        )
        self._snapshot = Snapshot(meta, data)
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Discard entries up to and including `compact_index`."""
        offset = self._ents[0].index
        if compact_index <= offset:
            raise CompactedError(f"compact({compact_index}) at {offset}")
        if compact_index > self.last_index():
            raise UnavailableError(f"compact({compact_index}) beyond {self.last_index()}")
        i = compact_index - offset
        self._ents = [Entry(term=self._ents[i].term, index=compact_index), *self._ents[i + 1 :]]

    def append(self, entries: list[Entry]) -> None:
        """Append entries, truncating any conflicting suffix first."""
        if not entries:
            return
        first = self.first_index()
        last = entries[0].index + len(entries) - 1
        if last < first:
            return  # all compacted already
        if first > entries[0].index:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise UnavailableError(
                f"missing log entry [last {self.last_index()}, append at {entries[0].index}]"
            )
        del self._ents[offset:]
        self._ents.extend(entries)
