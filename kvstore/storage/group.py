"""`GroupStorage`: the Raft `Storage` protocol for one group, backed by LMDB.

Answers exactly as `kvstore.raft.storage.MemoryStorage` would for the same
sequence of writes (same values, same CompactedError/UnavailableError), which
a hypothesis test checks.

Invariants:
- `_st` mirrors what is *committed* in LMDB: it only changes in `_committed()`,
  called by `WriteBatch` after its transaction commits. An aborted batch never
  touches it.
- `_st.offset` / `_st.offset_term` are the compaction point (MemoryStorage's
  dummy entry): the log holds exactly the indexes offset+1 .. last.
- `_tail` caches the newest entries: when non-empty it is contiguous and ends at
  `_st.last`; it holds at most `max_tail_entries` entries and about
  `max_tail_bytes` bytes. Anything not in it is read from LMDB.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvstore.errors import InternalError, NotFound
from kvstore.raft import codec
from kvstore.raft.errors import CompactedError, UnavailableError
from kvstore.raft.storage import limit_size
from kvstore.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from kvstore.storage import layout

if TYPE_CHECKING:
    import lmdb

    from kvstore.storage.env import NodeStore


@dataclass(slots=True)
class GroupState:
    """The scalar durable state of one group (a committed or a pending copy)."""

    hard_state: HardState
    conf_state: ConfState
    snapshot: SnapshotMeta
    offset: int
    offset_term: int
    last: int
    applied: int


def load_group_state(txn: lmdb.Transaction[bytes], log_db: lmdb._Database,
                     state_db: lmdb._Database, group_id: int) -> GroupState:
    """Read one group's state from LMDB (restart recovery); NotFound if never bootstrapped."""

    def rec(tag: bytes) -> bytes:
        v = txn.get(layout.state_key(group_id, tag), db=state_db)
        if v is None:
            raise NotFound(f"raft group {group_id} is not bootstrapped in this store")
        return v

    cs = layout.decode_stored("conf state", codec.decode_conf_state, rec(layout.TAG_CONF_STATE))
    hs = layout.decode_stored("hard state", codec.decode_hard_state, rec(layout.TAG_HARD_STATE))
    snap = layout.decode_snapshot_meta(rec(layout.TAG_SNAPSHOT))
    offset, offset_term = layout.decode_offset(rec(layout.TAG_OFFSET))
    applied = layout.decode_u64(rec(layout.TAG_APPLIED))
    last = offset
    cur = txn.cursor(db=log_db)
    # The group's last log key is the one just before the next group's first key.
    positioned = cur.prev() if cur.set_range(layout.log_key(group_id + 1, 0)) else cur.last()
    if positioned:
        gid, index = layout.split_log_key(cur.key())
        if gid == group_id and index > offset:
            last = index
    return GroupState(hs, cs, snap, offset, offset_term, last, applied)


class GroupStorage:
    """Read side of one group's Raft state; create it with `NodeStore.group(group_id)`."""

    def __init__(self, store: NodeStore, group_id: int) -> None:
        self.group_id = layout.check_group_id(group_id)
        self._store = store
        with store.env.begin() as txn:
            self._st = load_group_state(txn, store.log_db, store.state_db, group_id)
        self._tail: list[Entry] = []
        self._tail_bytes = 0
        self._max_tail_entries = store.max_tail_entries
        self._max_tail_bytes = store.max_tail_bytes
        store._register(self)
        self._prefill_tail()

    # --- Storage protocol -------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return copy.copy(self._st.hard_state), copy.deepcopy(self._st.conf_state)

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        st = self._st
        if lo <= st.offset:
            raise CompactedError(f"entries({lo}) compacted at {st.offset}")
        if hi > st.last + 1:
            raise UnavailableError(f"entries({hi}) beyond last {st.last}")
        if lo >= hi:
            return []
        tail = self._tail
        if tail and lo >= tail[0].index:
            start = tail[0].index
            return limit_size(tail[lo - start : hi - start], max_size)
        return self._read_entries(lo, hi, max_size)

    def term(self, index: int) -> int:
        st = self._st
        if index < st.offset:
            raise CompactedError(f"term({index}) compacted at {st.offset}")
        if index > st.last:
            raise UnavailableError(f"term({index}) beyond last {st.last}")
        if index == st.offset:
            return st.offset_term
        tail = self._tail
        if tail and index >= tail[0].index:
            return tail[index - tail[0].index].term
        return self._read_entries(index, index + 1, None)[0].term

    def first_index(self) -> int:
        return self._st.offset + 1

    def last_index(self) -> int:
        return self._st.last

    def snapshot(self) -> Snapshot:
        """The latest snapshot's metadata; the image itself is streamed by the host."""
        return Snapshot(copy.deepcopy(self._st.snapshot))

    # --- Extra observers ----------------------------------------------------
    @property
    def snapshot_index(self) -> int:
        """The latest snapshot's index, without copying its metadata (hot path)."""
        return self._st.snapshot.index

    @property
    def applied_index(self) -> int:
        return self._st.applied

    @property
    def hard_state(self) -> HardState:
        return copy.copy(self._st.hard_state)

    @property
    def conf_state(self) -> ConfState:
        return copy.deepcopy(self._st.conf_state)

    def state_copy(self) -> GroupState:
        """A private copy of the committed state, for a write batch to stage changes on."""
        st = self._st
        return GroupState(st.hard_state, st.conf_state, st.snapshot, st.offset,
                          st.offset_term, st.last, st.applied)

    # --- Internals ------------------------------------------------------------
    def _read_entries(self, lo: int, hi: int, max_size: int | None) -> list[Entry]:
        out: list[Entry] = []
        size = 0
        with self._store.env.begin(db=self._store.log_db) as txn:
            cur = txn.cursor()
            if not cur.set_key(layout.log_key(self.group_id, lo)):
                raise InternalError(f"group {self.group_id}: log entry {lo} missing in storage")
            for index in range(lo, hi):
                e = layout.decode_stored("log entry", codec.decode_entry, cur.value())
                if e.index != index:
                    raise InternalError(f"group {self.group_id}: log hole at {index}")
                size += e.size()
                if out and max_size is not None and size > max_size:
                    break
                out.append(e)
                if index + 1 < hi and not cur.next():
                    raise InternalError(f"group {self.group_id}: log ends before {hi}")
        return out

    def _prefill_tail(self) -> None:
        st = self._st
        lo = max(st.offset + 1, st.last - self._max_tail_entries + 1)
        if lo <= st.last:
            self._tail = self._read_entries(lo, st.last + 1, None)
            self._tail_bytes = sum(e.size() for e in self._tail)
            self._trim_tail()

    def _trim_tail(self) -> None:
        """Enforce the tail bounds by dropping the oldest cached entries."""
        tail = self._tail
        drop = 0
        while drop < len(tail) and (len(tail) - drop > self._max_tail_entries
                                    or self._tail_bytes > self._max_tail_bytes):
            self._tail_bytes -= tail[drop].size()
            drop += 1
        del tail[:drop]

    def _drop_tail_from(self, index: int) -> None:
        tail = self._tail
        if tail and index <= tail[-1].index:
            keep = max(0, index - tail[0].index)
            self._tail_bytes -= sum(e.size() for e in tail[keep:])
            del tail[keep:]

    def _drop_tail_upto(self, index: int) -> None:
        tail = self._tail
        if tail and tail[0].index <= index:
            n = min(len(tail), index - tail[0].index + 1)
            self._tail_bytes -= sum(e.size() for e in tail[:n])
            del tail[:n]

    def _committed(self, st: GroupState, trunc_from: int | None, new: list[Entry],
                   reset: bool) -> None:
        """Adopt a write batch's committed state and fix the tail cache (see class invariants)."""
        tail = self._tail
        if reset:
            tail.clear()
            self._tail_bytes = 0
        elif trunc_from is not None:
            self._drop_tail_from(trunc_from)
        if new:
            if tail and tail[-1].index + 1 != new[0].index:
                self._drop_tail_from(0)
            tail.extend(new)
            self._tail_bytes += sum(e.size() for e in new)
        self._drop_tail_upto(st.offset)
        if tail and tail[-1].index != st.last:
            self._drop_tail_from(0)  # cannot happen by construction; LMDB stays the truth
        self._st = st
        self._trim_tail()
