"""Client sessions for exactly-once writes (Raft thesis §6.3), stored in LMDB.

Layout in the `sessions` db, after the group prefix:
- `S + client_id` -> msgpack `[last_active_ms, floor, [seq, code, found, value, cas_ok, ...]]`
- `T + u64 BE last_active_ms + client_id` -> b"" (expiry index, oldest first)
- `N` -> u64 BE number of sessions of the group
All of it is written in the same transaction as the data it guards.

Rules (all decided from the log alone, so every replica agrees):
- A recorded (client_id, seq) gets its original result again and is not re-applied.
- `ack_seq` raises the session's `floor`: results with seq <= floor are dropped,
  and a request with seq <= floor gets STALE_REQUEST (never re-applied).
- An unknown session is created only if the client has acknowledged nothing
  (ack_seq == 0). Otherwise it existed and was dropped: SESSION_EXPIRED, the
  outcome is unknown and the client must start a new session (a new client_id).
- Time is log time: each batch's `proposed_at_ms`, never the local clock. A
  session idle for more than `ttl_ms` is dropped at the start of the first batch
  that shows it; `last_active` never goes back if a leader's clock does.
- Bounds: at most `max_sessions` per group (creating one more drops the least
  recently active) and `max_results` per session (the lowest seq is dropped and
  `floor` raised past it, so it can never be re-applied).
Residual risk (as in the thesis): a brand-new client that retries its very
first requests after its session was dropped is indistinguishable from a new
client, so clients must stop retrying well within `ttl_ms`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from kvstore.errors import InvalidArgument

if TYPE_CHECKING:
    import lmdb

    from kvstore.statemachine.commands import Result

    Txn = lmdb.Transaction[bytes]
    Db = lmdb._Database

SESSION = b"S"
INDEX = b"T"
COUNT = b"N"
_U64 = struct.Struct(">Q")


@dataclass(slots=True, frozen=True)
class SessionLimits:
    """Must be identical on every replica of a group (it changes what apply does)."""

    ttl_ms: int = 3_600_000
    max_sessions: int = 100_000
    max_results: int = 4096

    def __post_init__(self) -> None:
        if self.ttl_ms < 1 or self.max_sessions < 1 or self.max_results < 1:
            raise InvalidArgument(f"session limits must be >= 1: {self}")


class Session:
    __slots__ = ("dirty", "dropped", "floor", "last_active", "results")

    def __init__(self, last_active: int, floor: int, results: dict[int, Result]) -> None:
        self.last_active = last_active
        self.floor = floor
        self.results = results
        self.dirty = False
        self.dropped = False

    def encode(self) -> bytes:
        results = self.results
        flat: list[Any] = []
        for seq in sorted(results) if len(results) > 1 else results:
            flat.append(seq)
            flat.extend(results[seq])
        b: bytes = msgpack.packb([self.last_active, self.floor, flat], use_bin_type=True)
        return b

    @staticmethod
    def decode(raw: bytes) -> Session:
        last, floor, flat = msgpack.unpackb(raw, raw=False)
        results = {flat[i]: (flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4])
                   for i in range(0, len(flat), 5)}
        return Session(last, floor, results)

    def ack(self, ack_seq: int) -> None:
        if ack_seq > self.floor:
            self.floor = ack_seq
            for seq in [s for s in self.results if s <= ack_seq]:
                del self.results[seq]
            self.dirty = True

    def record(self, seq: int, result: Result, max_results: int) -> None:
        results = self.results
        results[seq] = result
        if len(results) > max_results:
            oldest = min(results)
            del results[oldest]
            self.floor = max(self.floor, oldest)
        self.dirty = True


class SessionTable:
    """One batch's view of one group's sessions: expire, load lazily, write back at flush."""

    def __init__(self, txn: Txn, db: Db, prefix: bytes, now_ms: int,
                 limits: SessionLimits) -> None:
        self.txn, self.db, self.prefix, self.now, self.limits = txn, db, prefix, now_ms, limits
        self.cache: dict[bytes, Session | None] = {}
        self._count: int | None = None
        self.expire()

    def get(self, client_id: bytes) -> Session | None:
        """The live session, touched at `now`; None if unknown (or dropped)."""
        if client_id in self.cache:
            sess = self.cache[client_id]
        else:
            raw = self.txn.get(self.prefix + SESSION + client_id, db=self.db)
            sess = self.cache[client_id] = Session.decode(raw) if raw is not None else None
        if sess is not None and sess.last_active < self.now:
            self._reindex(client_id, sess.last_active, self.now)
            sess.last_active = self.now
            sess.dirty = True
        return sess

    def create(self, client_id: bytes) -> Session:
        count = self.count()
        if count >= self.limits.max_sessions:
            self._drop_oldest()
            count -= 1
        self._set_count(count + 1)
        sess = self.cache[client_id] = Session(self.now, 0, {})
        sess.dirty = True
        self.txn.put(self._index_key(self.now, client_id), b"", db=self.db)
        return sess

    def flush(self) -> None:
        for client_id, sess in self.cache.items():
            if sess is not None and sess.dirty and not sess.dropped:
                self.txn.put(self.prefix + SESSION + client_id, sess.encode(), db=self.db)

    def count(self) -> int:
        if self._count is None:
            raw = self.txn.get(self.prefix + COUNT, db=self.db)
            self._count = _U64.unpack(raw)[0] if raw is not None else 0
        return self._count

    def expire(self) -> int:
        """Drop every session idle for more than ttl_ms of log time; returns how many."""
        cutoff = self.now - self.limits.ttl_ms
        n = 0
        while self._drop_oldest(older_than=cutoff):
            n += 1
        return n

    # --- internals --------------------------------------------------------------
    def _index_key(self, at_ms: int, client_id: bytes) -> bytes:
        return self.prefix + INDEX + _U64.pack(max(0, at_ms)) + client_id

    def _reindex(self, client_id: bytes, old: int, new: int) -> None:
        self.txn.delete(self._index_key(old, client_id), db=self.db)
        self.txn.put(self._index_key(new, client_id), b"", db=self.db)

    def _set_count(self, n: int) -> None:
        self._count = n
        self.txn.put(self.prefix + COUNT, _U64.pack(n), db=self.db)

    def _drop_oldest(self, older_than: int | None = None) -> bool:
        """Drop the least recently active session (if idle since before `older_than`)."""
        head = self.prefix + INDEX
        cur = self.txn.cursor(db=self.db)
        if not cur.set_range(head):
            return False
        key = cur.key()
        if not key.startswith(head):
            return False
        at_ms = _U64.unpack_from(key, len(head))[0]
        if older_than is not None and at_ms >= older_than:
            return False
        client_id = key[len(head) + 8:]
        cur.delete()
        self.txn.delete(self.prefix + SESSION + client_id, db=self.db)
        cached = self.cache.get(client_id)
        if cached is not None:
            cached.dropped = True  # dropped within this batch: flush must not resurrect it
        self.cache[client_id] = None
        self._set_count(self.count() - 1)
        return True
