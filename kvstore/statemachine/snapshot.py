"""Snapshot encode/restore of one group's state machine (KV data and sessions).

A snapshot is a stream of self-describing chunks, each one msgpack object:

    [MAGIC, VERSION, body, crc32(body)]
    body = msgpack [group_id, chunk_no, last, kv_flat, sessions_flat, totals]

`kv_flat` is `[key, value, ...]` of user keys; `sessions_flat` is
`[subkey, record, ...]` of the group's sessions db records (their layout is
versioned by VERSION); `totals` is `[n_kv, n_sessions]` on the last chunk and
nil before. Chunks are produced from one read transaction (a consistent
image) without materialising the group, at least one pair per chunk.

`restore` deletes the group's KV data and sessions, then writes the stream,
all in the caller's write transaction: any error (bad checksum, a chunk
missing, out of order, for another group, a stream without its last chunk)
raises InvalidArgument, the caller's transaction aborts, and the old data
stays. Concatenated chunks are again a valid stream (`split_chunks`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import msgpack

from kvstore.errors import InvalidArgument
from kvstore.storage.kvdata import drop_prefix, kv_iter, kv_put
from kvstore.storage.layout import group_prefix

if TYPE_CHECKING:
    import lmdb

    Txn = lmdb.Transaction[bytes]
    Db = lmdb._Database

MAGIC = b"kvsnap"
VERSION = 1
DEFAULT_CHUNK_SIZE = 1 << 20


def _chunk(group_id: int, no: int, last: bool, kv: list[bytes], sess: list[bytes],
           totals: list[int] | None) -> bytes:
    body: bytes = msgpack.packb([group_id, no, last, kv, sess, totals], use_bin_type=True)
    out: bytes = msgpack.packb([MAGIC, VERSION, body, zlib.crc32(body)], use_bin_type=True)
    return out


def _pairs(txn: Txn, kv_db: Db, sess_db: Db, prefix: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(section, key, value): every kv pair (section 0), then every session record (1)."""
    for k, v in kv_iter(txn, kv_db, prefix):
        yield 0, k, v
    cur = txn.cursor(db=sess_db)
    if cur.set_range(prefix):
        plen = len(prefix)
        for k, v in cur:
            if not k.startswith(prefix):
                break
            yield 1, k[plen:], v


def snapshot_chunks(txn: Txn, kv_db: Db, sess_db: Db, group_id: int,
                    chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """Stream the group's image as chunks of about `chunk_size` bytes of pairs."""
    if type(chunk_size) is not int or chunk_size < 1:
        raise InvalidArgument(f"chunk_size must be a positive int, got {chunk_size!r}")
    sections: tuple[list[bytes], list[bytes]] = ([], [])
    totals = [0, 0]
    size = no = 0
    for section, k, v in _pairs(txn, kv_db, sess_db, group_prefix(group_id)):
        if size >= chunk_size:
            yield _chunk(group_id, no, False, *sections, None)
            sections = ([], [])
            size, no = 0, no + 1
        sections[section].extend((k, v))
        totals[section] += 1
        size += len(k) + len(v)
    yield _chunk(group_id, no, True, *sections, totals)


def split_chunks(data: bytes) -> Iterator[Any]:
    """Decoded chunks of a concatenated stream (a Raft Snapshot's `data`)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1 << 20))
    try:
        unpacker.feed(data)
        yield from unpacker
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise InvalidArgument(f"snapshot stream is not msgpack: {exc}") from exc


def _open_chunk(chunk: Any) -> list[Any]:
    """Check a chunk's envelope and checksum; return its decoded body."""
    if isinstance(chunk, bytes):
        try:
            chunk = msgpack.unpackb(chunk, raw=False)
        except Exception as exc:  # msgpack raises several unrelated types on garbage
            raise InvalidArgument(f"snapshot chunk is not msgpack: {exc}") from exc
    if not (isinstance(chunk, list) and len(chunk) == 4 and chunk[0] == MAGIC):
        raise InvalidArgument("not a kvstore snapshot chunk")
    _, version, body, crc = chunk
    if version != VERSION:
        raise InvalidArgument(f"snapshot chunk version {version!r}, this build reads {VERSION}")
    if not isinstance(body, bytes) or zlib.crc32(body) != crc:
        raise InvalidArgument("snapshot chunk checksum mismatch")
    try:
        fields: list[Any] = msgpack.unpackb(body, raw=False)
    except Exception as exc:
        raise InvalidArgument(f"snapshot chunk body is not msgpack: {exc}") from exc
    if not (isinstance(fields, list) and len(fields) == 6):
        raise InvalidArgument("malformed snapshot chunk body")
    return fields


def restore(txn: Txn, kv_db: Db, sess_db: Db, group_id: int, chunks: Iterable[Any]) -> None:
    """Replace the group's KV data and sessions by the stream `chunks` (bytes or decoded)."""
    prefix = group_prefix(group_id)
    drop_prefix(txn, kv_db, prefix)
    drop_prefix(txn, sess_db, prefix)
    counts = [0, 0]
    done = False
    for expect_no, chunk in enumerate(chunks):
        if done:
            raise InvalidArgument("snapshot stream continues after its last chunk")
        gid, no, last, kv, sess, totals = _open_chunk(chunk)
        if gid != group_id:
            raise InvalidArgument(f"snapshot chunk of group {gid!r}, restoring {group_id}")
        if no != expect_no:
            raise InvalidArgument(f"snapshot chunk {no!r} where {expect_no} was expected")
        if not (isinstance(kv, list) and isinstance(sess, list)
                and len(kv) % 2 == 0 and len(sess) % 2 == 0):
            raise InvalidArgument("malformed snapshot chunk pairs")
        for i in range(0, len(kv), 2):
            key, value = kv[i], kv[i + 1]
            if not (isinstance(key, bytes) and key and isinstance(value, bytes)):
                raise InvalidArgument("malformed key/value in snapshot chunk")
            if not kv_put(txn, kv_db, prefix, key, value):
                raise InvalidArgument("snapshot holds two long keys with the same hash")
        for i in range(0, len(sess), 2):
            if not (isinstance(sess[i], bytes) and isinstance(sess[i + 1], bytes)):
                raise InvalidArgument("malformed session record in snapshot chunk")
            txn.put(prefix + sess[i], sess[i + 1], db=sess_db)
        counts[0] += len(kv) // 2
        counts[1] += len(sess) // 2
        done = bool(last)
        if done and totals != counts:
            raise InvalidArgument(f"snapshot totals {totals!r} but {counts} pairs received")
    if not done:
        raise InvalidArgument("snapshot stream ended before its last chunk")
