"""Client sessions for exactly-once writes (Raft thesis §6.3), stored in LMDB.

A session (per group, per client id) is `[last_active_ms, floor, {seq: result}]`
in the `sessions` db, written in the same transaction as the data it guards.
- A request (client_id, seq) whose result is recorded gets that result again
  and is not re-applied.
- `ack_seq` from the client raises `floor`: results with seq <= floor are
  dropped, and a request with seq <= floor is STALE (never re-applied).
- A session unknown to us is created only if the client has acknowledged
  nothing on this group yet (ack_seq == 0). Otherwise it existed and expired:
  SESSION_EXPIRED, outcome unknown, the client must start a new session.
- Sessions idle for `ttl_ms` of log time (`proposed_at_ms`, never the local
  clock) expire; at most `max_sessions` live per group (the least recently
  active go first) and `max_results` per session (the oldest result is
  dropped by raising `floor`, which keeps the guarantee: never applied twice).
Expiry sweeps run at deterministic points (every `sweep_every` batches by log
index), so every replica deletes the same sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from kvstore.statemachine.commands import Code, Result

if TYPE_CHECKING:
    import lmdb

    Txn = lmdb.Transaction[bytes]
    Db = lmdb._Database


@dataclass(slots=True, frozen=True)
class SessionLimits:
    ttl_ms: int = 3_600_000
    max_sessions: int = 100_000
    max_results: int = 4096
    sweep_every: int = 1024


class Session:
    __slots__ = ("dirty", "floor", "last_active", "results")

    def __init__(self, last_active: int, floor: int, results: dict[int, Result]) -> None:
        self.last_active = last_active
        self.floor = floor
        self.results = results
        self.dirty = False

    def encode(self) -> bytes:
        return msgpack.packb([self.last_active, self.floor,
                              [[s, r] for s, r in sorted(self.results.items())]],
                             use_bin_type=True)

    @classmethod
    def decode(cls, raw: bytes) -> Session:
        last, floor, results = msgpack.unpackb(raw, raw=False)
        return cls(last, floor, {s: r for s, r in results})

    def record(self, seq: int, result: Result, limits: SessionLimits) -> None:
        self.results[seq] = result
        if len(self.results) > limits.max_results:
            oldest = min(self.results)
            del self.results[oldest]
            self.floor = max(self.floor, oldest)
        self.dirty = True

    def ack(self, ack_seq: int) -> None:
        if ack_seq > self.floor:
            self.floor = ack_seq
            for s in [s for s in self.results if s <= ack_seq]:
                del self.results[s]
            self.dirty = True


class SessionTable:
    """Per-batch view of one group's sessions: load lazily, write back dirty ones."""

    def __init__(self, txn: Txn, db: Db, prefix: bytes, now_ms: int) -> None:
        self.txn, self.db, self.prefix, self.now = txn, db, prefix, now_ms
        self.cache: dict[bytes, Session | None] = {}

    def get(self, client_id: bytes) -> Session | None:
        if client_id not in self.cache:
            raw = self.txn.get(self.prefix + client_id, db=self.db)
            self.cache[client_id] = Session.decode(raw) if raw is not None else None
        return self.cache[client_id]

    def begin(self, client_id: bytes, seq: int, ack_seq: int) -> tuple[Session | None, Any]:
        """(session, prior result or error code or None to apply now)."""
        sess = self.get(client_id)
        if sess is None:
            if ack_seq > 0:
                return None, [Code.SESSION_EXPIRED, False, b"", False]
            sess = Session(self.now, 0, {})
            self.cache[client_id] = sess
        if sess.last_active != self.now:
            sess.last_active = max(sess.last_active, self.now)
            sess.dirty = True
        sess.ack(ack_seq)
        if seq <= sess.floor:
            return sess, [Code.STALE_REQUEST, False, b"", False]
        prior = sess.results.get(seq)
        return sess, prior

    def flush(self) -> None:
        for cid, sess in self.cache.items():
            if sess is not None and sess.dirty:
                self.txn.put(self.prefix + cid, sess.encode(), db=self.db)


def sweep(txn: Txn, db: Db, prefix: bytes, now_ms: int, limits: SessionLimits) -> int:
    """Delete expired sessions, then the least recently active beyond max_sessions."""
    live: list[tuple[int, bytes]] = []
    expired: list[bytes] = []
    cur = txn.cursor(db=db)
    if cur.set_range(prefix):
        for k, v in cur:
            if not k.startswith(prefix):
                break
            last = msgpack.unpackb(v, raw=False)[0]
            if now_ms - last > limits.ttl_ms:
                expired.append(k)
            else:
                live.append((last, k))
    if len(live) > limits.max_sessions:
        live.sort()
        expired += [k for _, k in live[: len(live) - limits.max_sessions]]
    for k in expired:
        txn.delete(k, db=db)
    return len(expired)
