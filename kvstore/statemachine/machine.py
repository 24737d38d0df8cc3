"""The KV state machine: deterministic application of committed batches to LMDB.

`apply_entry` runs inside the host's group-commit write transaction, so the
data, the session table and (set by the host) the applied index change
atomically: a crash never applies an entry twice or loses one. Application
depends only on the entry (its commands and `proposed_at_ms`) and the prior
state, never on the local clock or node, so all replicas stay identical.
Malformed data in the log is skipped with a BAD_COMMAND result on every
replica alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvstore.logging import get_logger
from kvstore.raft import Entry
from kvstore.statemachine.commands import (
    Code,
    Command,
    Limits,
    Op,
    Result,
    decode_batch,
    encode_batch,
    well_formed,
)
from kvstore.statemachine.sessions import SessionLimits, SessionTable, sweep
from kvstore.storage import NodeStore
from kvstore.storage.kvdata import kv_delete, kv_get, kv_put, kv_scan
from kvstore.storage.layout import group_prefix

if TYPE_CHECKING:
    import lmdb

    Txn = lmdb.Transaction[bytes]

log = get_logger("kvstore.statemachine")
_BAD: Result = [Code.BAD_COMMAND, False, b"", False]


class StateMachine:
    def __init__(self, store: NodeStore, *, max_key_bytes: int = 4096,
                 max_value_bytes: int = 1 << 20,
                 session_limits: SessionLimits | None = None) -> None:
        self.store = store
        self.limits = Limits(max_key_bytes, max_value_bytes)
        self.session_limits = session_limits or SessionLimits()

    def encode_batch(self, cmds: list[Command], proposed_at_ms: int) -> bytes:
        return encode_batch(cmds, proposed_at_ms)

    def apply_entry(self, txn: Txn, gid: int, entry: Entry) -> list[Result]:
        if not entry.data:
            return []  # a leader's no-op
        decoded = decode_batch(entry.data)
        if decoded is None:
            log.warning("sm.bad_entry", group=gid, index=entry.index)
            return []
        at_ms, cmds = decoded
        prefix = group_prefix(gid)
        kv_db = self.store.kv_db
        table = SessionTable(txn, self.store.sessions_db, prefix, at_ms)
        out: list[Result] = []
        for cmd in cmds:
            if not well_formed(cmd):
                out.append(_BAD)
                continue
            op, key, value, expected, absent, cid, seq, ack = cmd
            sess = None
            if cid:
                sess, prior = table.begin(cid, seq, ack)
                if prior is not None:
                    out.append(prior)
                    continue
            res = _apply_op(txn, kv_db, prefix, op, key, value, expected, absent)
            if sess is not None:
                sess.record(seq, res, self.session_limits)
            out.append(res)
        table.flush()
        if entry.index % self.session_limits.sweep_every == 0:
            sweep(txn, self.store.sessions_db, prefix, at_ms, self.session_limits)
        return out

    def get(self, txn: Txn, gid: int, key: bytes) -> bytes | None:
        return kv_get(txn, self.store.kv_db, group_prefix(gid), key)

    def scan(self, txn: Txn, gid: int, start: bytes, end: bytes | None,
             limit: int) -> list[tuple[bytes, bytes]]:
        return kv_scan(txn, self.store.kv_db, group_prefix(gid), start, end, limit)


def _apply_op(txn: Txn, db: Any, prefix: bytes, op: int, key: bytes, value: bytes,
              expected: bytes, absent: bool) -> Result:
    if op == Op.PUT:
        if not kv_put(txn, db, prefix, key, value):
            return _BAD  # a 128-bit hash collision between long keys: refuse, never clobber
        return [Code.OK, False, b"", False]
    if op == Op.DELETE:
        return [Code.OK, kv_delete(txn, db, prefix, key), b"", False]
    cur = kv_get(txn, db, prefix, key)
    ok = cur is None if absent else cur == expected
    if ok:
        kv_put(txn, db, prefix, key, value)
    return [Code.OK, cur is not None, cur or b"", ok]
