"""The KV state machine: deterministic application of committed batches to LMDB.

`apply_entry` runs inside the host's group-commit write transaction, so the
data, the session table and (set by the host, same batch) the applied index
change atomically: a crash never applies an entry twice or loses one.
Application depends only on the entry (its commands and `proposed_at_ms`), the
prior state and `SessionLimits` (identical on all replicas), never on the local
clock, node or `Limits`, so all replicas stay identical. An empty entry (a
leader's no-op) yields no results; an entry that is not a batch yields exactly
one BAD_ENTRY result; a malformed command yields BAD_COMMAND; none of them
raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kvstore.errors import InvalidArgument
from kvstore.logging import get_logger
from kvstore.raft.types import Entry, EntryType, Snapshot
from kvstore.statemachine import snapshot as snap
from kvstore.statemachine.commands import (
    R_BAD_COMMAND,
    R_BAD_ENTRY,
    R_CAS_OK_ABSENT,
    R_CAS_OK_FOUND,
    R_EXPIRED,
    R_KEY_CONFLICT,
    R_OK,
    R_OK_FOUND,
    R_STALE,
    Code,
    Command,
    Limits,
    Op,
    Result,
    decode_batch,
    encode_batch,
    well_formed,
)
from kvstore.statemachine.sessions import SessionLimits, SessionTable
from kvstore.storage.kvdata import kv_delete, kv_get, kv_put, kv_scan
from kvstore.storage.layout import group_prefix

if TYPE_CHECKING:
    import lmdb

    from kvstore.storage import NodeStore, WriteBatch

    Txn = lmdb.Transaction[bytes]

log = get_logger("kvstore.statemachine")
_PUT, _DELETE, _CAS = int(Op.PUT), int(Op.DELETE), int(Op.CAS)


class StateMachine:
    """Applies, reads and snapshots the KV data of every group of one NodeStore."""

    def __init__(self, store: NodeStore, *, max_key_bytes: int = 4096,
                 max_value_bytes: int = 1 << 20,
                 session_limits: SessionLimits | None = None) -> None:
        self.store = store
        self.limits = Limits(max_key_bytes, max_value_bytes)
        self.session_limits = session_limits or SessionLimits()
        self._kv = store.kv_db
        self._sessions = store.sessions_db

    def encode_batch(self, cmds: list[Command], proposed_at_ms: int) -> bytes:
        return encode_batch(cmds, proposed_at_ms)

    # --- apply --------------------------------------------------------------
    def apply_entry(self, txn: Txn, group_id: int, entry: Entry) -> list[Result]:
        """Apply one committed entry in `txn`; one result per command, in order."""
        if entry.type != EntryType.NORMAL or not entry.data:
            return []
        decoded = decode_batch(entry.data)
        if decoded is None:
            log.warning("sm.bad_entry", group=group_id, index=entry.index,
                        size=len(entry.data))
            return [R_BAD_ENTRY]
        at_ms, cmds = decoded
        prefix = group_prefix(group_id)
        table = SessionTable(txn, self._sessions, prefix, at_ms, self.session_limits)
        max_results = self.session_limits.max_results
        kv = self._kv
        out: list[Result] = []
        for cmd in cmds:
            if not well_formed(cmd):
                log.warning("sm.bad_command", group=group_id, index=entry.index)
                out.append(R_BAD_COMMAND)
                continue
            op, key, value, expected, absent, client_id, seq, ack = cmd
            if not client_id:
                out.append(_apply_op(txn, kv, prefix, op, key, value, expected, absent))
                continue
            sess = table.get(client_id)
            if sess is None:
                if ack > 0:
                    out.append(R_EXPIRED)
                    continue
                sess = table.create(client_id)
            sess.ack(ack)
            if seq <= sess.floor:
                out.append(R_STALE)
                continue
            res = sess.results.get(seq)
            if res is None:
                res = _apply_op(txn, kv, prefix, op, key, value, expected, absent)
                sess.record(seq, res, max_results)
            out.append(res)
        table.flush()
        return out

    # --- reads ----------------------------------------------------------------
    def get(self, txn: Txn, group_id: int, key: bytes) -> bytes | None:
        return kv_get(txn, self._kv, group_prefix(group_id), key)

    def scan(self, txn: Txn, group_id: int, start: bytes, end: bytes | None,
             limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` pairs with start <= key < end (end None: to the last key), in order."""
        if type(limit) is not int or limit < 1:
            raise InvalidArgument(f"scan limit must be a positive int, got {limit!r}")
        if end is not None and end <= start:
            return []
        return kv_scan(txn, self._kv, group_prefix(group_id), start, end, limit)

    # --- snapshots --------------------------------------------------------------
    def snapshot_chunks(self, txn: Txn, group_id: int,
                        chunk_size: int = snap.DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream one group's KV data and sessions from a (read) txn; see snapshot.py."""
        return snap.snapshot_chunks(txn, self._kv, self._sessions, group_id, chunk_size)

    def restore(self, txn: Txn, group_id: int, chunks: Iterable[bytes]) -> None:
        """Replace one group's KV data and sessions by a snapshot stream, in `txn`."""
        snap.restore(txn, self._kv, self._sessions, group_id, chunks)

    def restore_snapshot(self, w: WriteBatch, group_id: int, snapshot: Snapshot) -> None:
        """Install a received Raft snapshot (data = its chunks concatenated) in one batch:
        the image, the log reset and the applied index commit together or not at all."""
        snap.restore(w.txn, self._kv, self._sessions, group_id,
                     snap.split_chunks(snapshot.data))
        w.apply_snapshot(group_id, snapshot.meta)
        w.set_applied(group_id, snapshot.meta.index)


def _apply_op(txn: Txn, db: Any, prefix: bytes, op: int, key: bytes, value: Any,
              expected: bytes, absent: bool) -> Result:
    if op == _PUT:
        return R_OK if kv_put(txn, db, prefix, key, value) else R_KEY_CONFLICT
    if op == _DELETE:
        return R_OK_FOUND if kv_delete(txn, db, prefix, key) else R_OK
    cur = kv_get(txn, db, prefix, key)
    if (cur is not None) if absent else (cur != expected):
        return (Code.OK, cur is not None, cur or b"", False)
    if value is None:
        kv_delete(txn, db, prefix, key)
    elif not kv_put(txn, db, prefix, key, value):
        return R_KEY_CONFLICT
    return R_CAS_OK_ABSENT if cur is None else R_CAS_OK_FOUND
