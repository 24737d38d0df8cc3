"""InstallSnapshot: stream a group's image to a lagging follower, and receive one.

Sending (leader): when a core asks to send a snapshot, the host streams a
*fresh* image instead of the core's recorded one. One LMDB read transaction
gives a consistent view of the group's applied index, configuration and data,
so the meta (index = applied, its term, conf state at applied) always matches
the bytes, and a member added after the last local snapshot is in it. Chunks
come from the state machine's iterator (never the whole image in memory),
each with a CRC-32, the last with a BLAKE2b digest of all chunk bytes, paced
to `rate_bytes_per_s`.

Receiving (follower): chunks go to a staging file (length-prefixed), checked
chunk by chunk and by the final digest, then fsync'd. Only a complete,
verified image is handed to Raft, as a SNAPSHOT message whose data names the
file; the host restores it in one write transaction (data, log reset,
applied index), so a crash mid-install leaves the old state intact.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import msgpack

from kvstore.errors import InvalidArgument
from kvstore.logging import get_logger
from kvstore.proto import raft_pb2, raft_pb2_grpc
from kvstore.raft import Message, MessageType, Snapshot, SnapshotMeta
from kvstore.raft.codec import conf_state_from_list, conf_state_to_list, decode_entry
from kvstore.storage import layout
from kvstore.storage.group import load_group_state

if TYPE_CHECKING:
    from kvstore.statemachine import StateMachine
    from kvstore.storage import NodeStore

log = get_logger("kvstore.snapshots")
FILE_PREFIX = b"file:"
_LEN = struct.Struct(">I")
ReportFn = Callable[[int, int, bool], None]


def _encode_meta(term: int, meta: SnapshotMeta) -> bytes:
    return msgpack.packb([term, meta.index, meta.term, conf_state_to_list(meta.conf_state)])


def _decode_meta(raw: bytes) -> tuple[int, SnapshotMeta]:
    try:
        term, index, sterm, cs = msgpack.unpackb(raw, raw=False)
        return int(term), SnapshotMeta(int(index), int(sterm), conf_state_from_list(cs))
    except Exception as exc:
        raise InvalidArgument(f"malformed snapshot meta: {exc}") from exc


def current_meta(store: NodeStore, txn: Any, gid: int) -> SnapshotMeta:
    """The meta of the group's applied state as seen by read transaction `txn`."""
    st = load_group_state(txn, store.log_db, store.state_db, gid)
    if st.applied == st.offset:
        term = st.offset_term
    else:
        raw = txn.get(layout.log_key(gid, st.applied), db=store.log_db)
        term = decode_entry(raw).term if raw is not None else st.offset_term
    return SnapshotMeta(st.applied, term, st.conf_state)


class SnapshotSender:
    def __init__(self, node_id: int, cluster_id: str, peers: dict[int, str], store: NodeStore,
                 sm: StateMachine, report: ReportFn, chunk_bytes: int = 1 << 20,
                 rate_bytes_per_s: int = 64 << 20) -> None:
        self.node_id, self.cluster_id, self.peers = node_id, cluster_id, peers
        self.store, self.sm, self.report = store, sm, report
        self.chunk_bytes, self.rate = chunk_bytes, rate_bytes_per_s
        self._inflight: dict[tuple[int, int], asyncio.Task[None]] = {}
        self.sent = 0

    def send(self, gid: int, m: Message) -> None:
        key = (gid, m.to)
        if key in self._inflight or m.to not in self.peers:
            return  # one stream per follower and group at a time
        t = asyncio.create_task(self._send(gid, m.to, m.term), name=f"snap-{gid}-{m.to}")
        self._inflight[key] = t
        t.add_done_callback(lambda _t: self._inflight.pop(key, None))

    async def _send(self, gid: int, to: int, term: int) -> None:
        ok = False
        try:
            async with grpc.aio.insecure_channel(self.peers[to]) as ch:
                call = raft_pb2_grpc.RaftStub(ch).InstallSnapshot()
                with self.store.read() as txn:
                    meta = current_meta(self.store, txn, gid)
                    async for chunk in self._chunks(gid, to, term, meta, txn):
                        await call.write(chunk)
                await call.done_writing()
                resp = await call
            ok = True
            self.sent += 1
            log.info("snapshot.sent", group=gid, to=to, index=meta.index,
                     bytes=resp.received_bytes)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("snapshot.send_failed", group=gid, to=to, error=str(exc)[:200])
        finally:
            self.report(gid, to, ok)

    async def _chunks(self, gid: int, to: int, term: int, meta: SnapshotMeta,
                      txn: Any) -> AsyncIterator[raft_pb2.SnapshotChunk]:
        digest = hashlib.blake2b(digest_size=32)
        offset = 0
        started = time.monotonic()
        it = self.sm.snapshot_chunks(txn, gid, self.chunk_bytes)
        data = next(it)
        seq = 0
        while True:
            nxt = next(it, None)
            digest.update(data)
            last = nxt is None
            yield raft_pb2.SnapshotChunk(
                cluster_id=self.cluster_id, from_node=self.node_id, to_node=to, group_id=gid,
                meta=_encode_meta(term, meta) if seq == 0 else b"", seq=seq, offset=offset,
                data=data, crc32=zlib.crc32(data), last=last,
                digest=digest.digest() if last else b"")
            offset += len(data)
            # Throttle: never faster than rate_bytes_per_s on average.
            ahead = offset / self.rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            if nxt is None:
                return
            data, seq = nxt, seq + 1

    async def aclose(self) -> None:
        for t in list(self._inflight.values()):
            t.cancel()
        for t in list(self._inflight.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await t


class SnapshotReceiver:
    """Stages an incoming stream to disk and returns the SNAPSHOT message for Raft."""

    def __init__(self, node_id: int, data_dir: str, max_bytes: int = 64 << 30) -> None:
        self.node_id = node_id
        self.dir = Path(data_dir) / "snapshots"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        # Left by a crash mid-transfer or before install: useless now (the
        # leader sends a fresh image), and the old state was never touched.
        for stale in (*self.dir.glob("*.part"), *self.dir.glob("*.snap")):
            stale.unlink(missing_ok=True)

    async def receive(self, chunks: AsyncIterator[raft_pb2.SnapshotChunk]
                      ) -> tuple[int, Message, int]:
        """(group, message, bytes). Raises InvalidArgument on any inconsistency."""
        digest = hashlib.blake2b(digest_size=32)
        path: Path | None = None
        f = None
        total = 0
        try:
            first: raft_pb2.SnapshotChunk | None = None
            async for c in chunks:
                if first is None:
                    first = c
                    term, meta = _decode_meta(c.meta)
                    path = self.dir / f"g{c.group_id}-from{c.from_node}-{meta.index}.part"
                    f = open(path, "wb")  # noqa: SIM115 (closed in finally)
                _check_chunk(c, first, total, self.max_bytes)
                digest.update(c.data)
                f.write(_LEN.pack(len(c.data)) + c.data)  # type: ignore[union-attr]
                total += len(c.data)
                if c.last:
                    if c.digest != digest.digest():
                        raise InvalidArgument("snapshot digest mismatch")
                    f.flush()  # type: ignore[union-attr]
                    os.fsync(f.fileno())  # type: ignore[union-attr]
                    f.close()  # type: ignore[union-attr]
                    done = path.with_suffix(".snap")  # type: ignore[union-attr]
                    os.replace(path, done)  # type: ignore[arg-type]
                    path = None
                    msg = Message(MessageType.SNAPSHOT, to=self.node_id, frm=first.from_node,
                                  term=term, snapshot=Snapshot(meta, FILE_PREFIX + bytes(done)))
                    return first.group_id, msg, total
            raise InvalidArgument("snapshot stream ended before its last chunk")
        finally:
            if f is not None and not f.closed:
                f.close()
            if path is not None:
                path.unlink(missing_ok=True)


def _check_chunk(c: raft_pb2.SnapshotChunk, first: raft_pb2.SnapshotChunk, offset: int,
                 max_bytes: int) -> None:
    if c.group_id != first.group_id or c.from_node != first.from_node:
        raise InvalidArgument("snapshot chunks of different groups or senders in one stream")
    if c.offset != offset:
        raise InvalidArgument(f"snapshot chunk at offset {c.offset}, expected {offset}")
    if zlib.crc32(c.data) != c.crc32:
        raise InvalidArgument(f"snapshot chunk {c.seq}: CRC-32 mismatch")
    if offset + len(c.data) > max_bytes:
        raise InvalidArgument(f"snapshot larger than {max_bytes} bytes")


def staged_path(snapshot: Snapshot) -> Path | None:
    data = snapshot.data
    return Path(data[len(FILE_PREFIX):].decode()) if data.startswith(FILE_PREFIX) else None


def read_staged(path: Path) -> Iterator[bytes]:
    """The chunk bytes of a staged snapshot file, one at a time."""
    with open(path, "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return
            (n,) = _LEN.unpack(head)
            yield f.read(n)
