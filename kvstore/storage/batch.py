"""`WriteBatch`: one LMDB write transaction for all groups (group commit).

The host opens one batch per loop turn (`with store.write() as w:`), stages
every group's Raft writes and applies committed entries through `w.txn`, and
the batch commits once on clean exit: one fsync serves every group.

Invariants:
- Each mutator writes to `txn` immediately and stages the group's new scalar
  state in a private `GroupState` copy (`_pending`), so later calls in the
  same batch see earlier ones (append then compact, two appends, ...).
- Caches (`GroupStorage`) are updated only after `txn.commit()` returns; on an
  exception inside the block, or a failed commit, the transaction is aborted
  and no cache changes.
- The log of a group always holds exactly offset+1 .. last, like MemoryStorage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import lmdb

from kvstore.errors import InternalError, InvalidArgument
from kvstore.raft import codec
from kvstore.raft.errors import CompactedError, SnapshotOutOfDate, UnavailableError
from kvstore.raft.types import ConfState, Entry, HardState, SnapshotMeta
from kvstore.storage import layout
from kvstore.storage.group import GroupState

if TYPE_CHECKING:
    from kvstore.storage.env import NodeStore


@dataclass(slots=True)
class _Pending:
    st: GroupState
    trunc_from: int | None = None  # committed tail entries >= this are gone
    new: list[Entry] = field(default_factory=list)  # entries appended here, ending at st.last
    reset: bool = False  # a snapshot replaced the whole log


class WriteBatch:
    """Group-commit write transaction; use as a context manager from `NodeStore.write()`."""

    def __init__(self, store: NodeStore) -> None:
        self._store = store
        self._pending: dict[int, _Pending] = {}
        self.txn: lmdb.Transaction[bytes] = store.env.begin(write=True)
        self._log_db = store.log_db
        self._state_db = store.state_db

    def __enter__(self) -> WriteBatch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._store._batch_done()
        if exc_type is not None:
            self.txn.abort()
            if isinstance(exc, lmdb.Error):
                raise _storage_error(exc) from exc
            return
        self._commit_txn()
        self.publish()

    def commit(self) -> None:
        """Commit without updating caches (for a worker thread); then call `publish()`.

        LMDB ties a write transaction to the thread that began it, so a host
        that fsyncs off its event loop runs the whole batch in one worker
        thread and publishes the new cached state back on the loop thread,
        where the Raft cores read it.
        """
        self._store._batch_done()
        self._commit_txn()

    def abort(self) -> None:
        self._store._batch_done()
        self.txn.abort()

    def _commit_txn(self) -> None:
        try:
            self.txn.commit()  # with sync=True LMDB fdatasyncs here: once for all groups
        except lmdb.Error as err:
            raise _storage_error(err) from err

    def publish(self) -> None:
        """Make the committed state visible through the GroupStorage caches."""
        groups = self._store._groups
        for group_id, p in self._pending.items():
            groups[group_id]._committed(p.st, p.trunc_from, p.new, p.reset)

    def _p(self, group_id: int) -> _Pending:
        p = self._pending.get(group_id)
        if p is None:
            p = self._pending[group_id] = _Pending(self._store.group(group_id).state_copy())
        return p

    def _put_state(self, group_id: int, tag: bytes, value: bytes) -> None:
        self.txn.put(layout.state_key(group_id, tag), value, db=self._state_db)

    # --- Raft writes ------------------------------------------------------
    def append(self, group_id: int, entries: list[Entry]) -> None:
        """Append entries, truncating any conflicting suffix first (MemoryStorage.append)."""
        if not entries:
            return
        p = self._p(group_id)
        st = p.st
        if entries[-1].index != entries[0].index + len(entries) - 1:
            raise InternalError(f"group {group_id}: appended entries are not contiguous")
        if entries[-1].index <= st.offset:
            return  # all compacted already
        if entries[0].index <= st.offset:
            entries = entries[st.offset + 1 - entries[0].index :]
        start, new_last = entries[0].index, entries[-1].index
        if start > st.last + 1:
            raise UnavailableError(f"missing log entry [last {st.last}, append at {start}]")
        txn, db = self.txn, self._log_db
        for index in range(new_last + 1, st.last + 1):
            txn.delete(layout.log_key(group_id, index), db=db)
        key = layout.log_key
        enc = codec.encode_entry
        for e in entries:
            txn.put(key(group_id, e.index), enc(e), db=db)
        if start <= st.last:
            if p.new and start >= p.new[0].index:
                del p.new[start - p.new[0].index :]
            else:
                p.trunc_from = start if p.trunc_from is None else min(p.trunc_from, start)
                p.new = []
        p.new.extend(entries)
        st.last = new_last

    def set_hard_state(self, group_id: int, hs: HardState) -> None:
        p = self._p(group_id)
        self._put_state(group_id, layout.TAG_HARD_STATE, codec.encode_hard_state(hs))
        p.st.hard_state = HardState(hs.term, hs.vote, hs.commit)

    def set_conf_state(self, group_id: int, cs: ConfState) -> None:
        p = self._p(group_id)
        self._put_state(group_id, layout.TAG_CONF_STATE, codec.encode_conf_state(cs))
        p.st.conf_state = codec.conf_state_from_list(codec.conf_state_to_list(cs))

    def set_applied(self, group_id: int, index: int) -> None:
        """Record the applied index; call it in the batch that applied the entries."""
        p = self._p(group_id)
        if index < p.st.applied:
            raise InternalError(f"group {group_id}: applied index going back "
                                f"{p.st.applied} -> {index}")
        self._put_state(group_id, layout.TAG_APPLIED, layout.encode_u64(index))
        p.st.applied = index

    def compact(self, group_id: int, index: int) -> None:
        """Delete log entries <= index, keeping the term of `index` (MemoryStorage.compact)."""
        p = self._p(group_id)
        st = p.st
        if index <= st.offset:
            raise CompactedError(f"compact({index}) at {st.offset}")
        if index > st.last:
            raise UnavailableError(f"compact({index}) beyond {st.last}")
        term = self._term(group_id, st, index)
        self._delete_log(group_id, st.offset + 1, index)
        st.offset, st.offset_term = index, term
        self._put_state(group_id, layout.TAG_OFFSET, layout.encode_offset(index, term))

    def set_snapshot_meta(self, group_id: int, meta: SnapshotMeta) -> None:
        """Record a snapshot taken locally at meta.index; meta.term must match the log."""
        st = self._p(group_id).st
        term = self._snapshot_term(group_id, st, meta.index)
        if meta.term != term:
            raise InvalidArgument(f"snapshot term {meta.term} != log term {term} "
                                  f"at {meta.index}")
        self._set_snapshot(group_id, st, meta)

    def create_snapshot(self, group_id: int, index: int,
                        conf_state: ConfState | None = None) -> SnapshotMeta:
        """MemoryStorage.create_snapshot: the term comes from the log, conf state defaults
        to the current one."""
        st = self._p(group_id).st
        meta = SnapshotMeta(index, self._snapshot_term(group_id, st, index),
                            conf_state or st.conf_state)
        self._set_snapshot(group_id, st, meta)
        return meta

    def apply_snapshot(self, group_id: int, meta: SnapshotMeta) -> None:
        """Replace the whole log by a received snapshot (MemoryStorage.apply_snapshot).

        The state machine image is restored separately in the same transaction
        (`KVStateMachine.restore(w.txn, ...)`), followed by `set_applied(meta.index)`.
        """
        p = self._p(group_id)
        st = p.st
        if meta.index < st.snapshot.index:
            raise SnapshotOutOfDate(f"{meta.index} < {st.snapshot.index}")
        self._delete_log(group_id, st.offset + 1, st.last)
        st.offset, st.offset_term, st.last = meta.index, meta.term, meta.index
        self._put_state(group_id, layout.TAG_OFFSET, layout.encode_offset(meta.index, meta.term))
        self.set_conf_state(group_id, meta.conf_state)
        self._set_snapshot(group_id, st, meta)
        p.trunc_from, p.new, p.reset = None, [], True

    # --- Internals ------------------------------------------------------------
    def _set_snapshot(self, group_id: int, st: GroupState, meta: SnapshotMeta) -> None:
        meta = SnapshotMeta(meta.index, meta.term, codec.conf_state_from_list(
            codec.conf_state_to_list(meta.conf_state)))
        self._put_state(group_id, layout.TAG_SNAPSHOT, layout.encode_snapshot_meta(meta))
        st.snapshot = meta

    def _snapshot_term(self, group_id: int, st: GroupState, index: int) -> int:
        if index <= st.snapshot.index:
            raise SnapshotOutOfDate(f"{index} <= {st.snapshot.index}")
        if index > st.last:
            raise UnavailableError(f"snapshot {index} beyond last {st.last}")
        if index < st.offset:
            raise CompactedError(f"snapshot {index} compacted at {st.offset}")
        return self._term(group_id, st, index)

    def _term(self, group_id: int, st: GroupState, index: int) -> int:
        if index == st.offset:
            return st.offset_term
        raw = self.txn.get(layout.log_key(group_id, index), db=self._log_db)
        if raw is None:
            raise InternalError(f"group {group_id}: log entry {index} missing in storage")
        entry: Entry = layout.decode_stored("log entry", codec.decode_entry, raw)
        return entry.term

    def _delete_log(self, group_id: int, lo: int, hi: int) -> None:
        """Delete log entries lo..hi inclusive (a contiguous key range)."""
        if lo > hi:
            return
        cur = self.txn.cursor(db=self._log_db)
        end = layout.log_key(group_id, hi)
        if not cur.set_range(layout.log_key(group_id, lo)):
            return
        while cur.key() <= end:
            if not cur.delete():
                break


def _storage_error(err: lmdb.Error) -> InternalError:
    if isinstance(err, lmdb.MapFullError):
        return InternalError(f"storage commit failed: the store is full (map_size reached): {err}")
    return InternalError(f"storage commit failed: {err}")
