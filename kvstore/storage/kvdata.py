"""Order-preserving storage of user keys longer than LMDB's key limit in the `kv` db.

LMDB keys are at most 511 bytes, user keys up to 4 KiB. A key of at most
`INLINE_KEY_MAX` bytes is stored verbatim after the group prefix. A longer key
`k` is stored under `prefix + k[:INLINE_KEY_MAX] + blake2b_128(k)`, and its
value record is `u32 BE len(k) + k + value`, so the full key is recoverable.

Why this keeps scans ordered: every LMDB key of length `LONG_KEY_LEN` (after
the group prefix) is a long key, and all long keys sharing the same
`INLINE_KEY_MAX`-byte head form one contiguous LMDB range (a "bucket") placed
exactly where those user keys belong relative to every other key. Only inside
a bucket does LMDB order (by hash) differ from user order, so a scan sorts each
bucket it meets. A hash collision between two different long keys is detected
(the stored full key differs) and reported, never silently overwritten.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import lmdb

    Txn = lmdb.Transaction[bytes]
    Db = lmdb._Database

INLINE_KEY_MAX = 480
_HASH_LEN = 16
LONG_KEY_LEN = INLINE_KEY_MAX + _HASH_LEN
_U32 = struct.Struct(">I")


def _long_key(prefix: bytes, key: bytes) -> bytes:
    digest = hashlib.blake2b(key, digest_size=_HASH_LEN).digest()
    return prefix + key[:INLINE_KEY_MAX] + digest


def _split_long(record: bytes) -> tuple[bytes, bytes]:
    (n,) = _U32.unpack_from(record)
    return record[4 : 4 + n], record[4 + n :]


def kv_get(txn: Txn, db: Db, prefix: bytes, key: bytes) -> bytes | None:
    if len(key) <= INLINE_KEY_MAX:
        return txn.get(prefix + key, db=db)
    record = txn.get(_long_key(prefix, key), db=db)
    if record is None:
        return None
    stored, value = _split_long(record)
    return value if stored == key else None


def kv_put(txn: Txn, db: Db, prefix: bytes, key: bytes, value: bytes) -> bool:
    """Store key -> value; False (nothing written) only on a long-key hash collision."""
    if len(key) <= INLINE_KEY_MAX:
        txn.put(prefix + key, value, db=db)
        return True
    lk = _long_key(prefix, key)
    old = txn.get(lk, db=db)
    if old is not None and _split_long(old)[0] != key:
        return False
    txn.put(lk, _U32.pack(len(key)) + key + value, db=db)
    return True


def kv_delete(txn: Txn, db: Db, prefix: bytes, key: bytes) -> bool:
    """Delete key; True if it existed."""
    if len(key) <= INLINE_KEY_MAX:
        return txn.delete(prefix + key, db=db)
    lk = _long_key(prefix, key)
    old = txn.get(lk, db=db)
    if old is None or _split_long(old)[0] != key:
        return False
    return txn.delete(lk, db=db)


def kv_scan(
    txn: Txn, db: Db, prefix: bytes, start: bytes, end: bytes | None, limit: int
) -> list[tuple[bytes, bytes]]:
    """Up to `limit` (key, value) pairs with start <= key < end (end None: no bound), in key order."""
    out: list[tuple[bytes, bytes]] = []
    cur = txn.cursor(db=db)
    plen = len(prefix)
    if not cur.set_range(prefix + start[:INLINE_KEY_MAX]):
        return out
    more = True
    while more:
        lk = cur.key()
        if not lk.startswith(prefix):
            break
        if len(lk) - plen != LONG_KEY_LEN:
            items = [(lk[plen:], cur.value())]
            more = cur.next()
        else:
            items, more = _read_bucket(cur, lk[: plen + INLINE_KEY_MAX])
        for key, value in items:
            if end is not None and key >= end:
                return out
            if key >= start:
                out.append((key, value))
                if len(out) >= limit:
                    return out
    return out


def _read_bucket(cur: lmdb.Cursor[bytes], head: bytes) -> tuple[list[tuple[bytes, bytes]], bool]:
    """All long keys sharing `head`, sorted by user key; the cursor ends past the bucket."""
    items = []
    more = True
    while more:
        lk = cur.key()
        if not lk.startswith(head):
            break
        items.append(_split_long(cur.value()))
        more = cur.next()
    items.sort()
    return items, more


def kv_iter(txn: Txn, db: Db, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of one group, without materialising it (order: LMDB order)."""
    cur = txn.cursor(db=db)
    plen = len(prefix)
    if not cur.set_range(prefix):
        return
    for lk, value in cur:
        if not lk.startswith(prefix):
            return
        if len(lk) - plen == LONG_KEY_LEN:
            yield _split_long(value)
        else:
            yield lk[plen:], value


def drop_prefix(txn: Txn, db: Db, prefix: bytes) -> int:
    """Delete every record whose LMDB key starts with `prefix`; returns how many."""
    cur = txn.cursor(db=db)
    n = 0
    if not cur.set_range(prefix):
        return 0
    while cur.key().startswith(prefix):
        n += 1
        if not cur.delete():
            break
    return n
