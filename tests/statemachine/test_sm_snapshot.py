"""Snapshot stream and restore across two real stores, and replica determinism.

Hypothesis drives random workloads (long keys, sessions with retries and acks,
deletes, cas) into a source store; its snapshot restored into a second store
that holds other data must equal the source exactly (KV and session records),
other groups untouched, and both stores must keep answering identically.
Corrupt, truncated or misdirected streams are refused and leave the old data.
"""

from __future__ import annotations

import shutil
import tempfile
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.errors import InvalidArgument
from kvstore.raft.types import ConfState, HardState, Snapshot, SnapshotMeta
from kvstore.statemachine import Command, cas, delete, put
from tests.statemachine.support import Node

KEYS = st.one_of(st.binary(min_size=1, max_size=4), st.binary(max_size=3).map(
    lambda t: b"L" * 500 + t))


@st.composite
def command(draw: st.DrawFn) -> Command:
    key = draw(KEYS)
    cid = draw(st.sampled_from([b"", b"c1", b"c2"]))
    seq = draw(st.integers(1, 6)) if cid else 0
    ack = draw(st.integers(0, seq - 1)) if cid else 0
    kw = {"client_id": cid, "seq": seq, "ack_seq": ack}
    kind = draw(st.sampled_from(["put", "put", "delete", "cas"]))
    if kind == "put":
        return put(key, draw(st.binary(max_size=30)), **kw)  # type: ignore[arg-type]
    if kind == "delete":
        return delete(key, **kw)  # type: ignore[arg-type]
    return cas(key, draw(st.none() | st.binary(max_size=2)),
               draw(st.none() | st.binary(max_size=2)), **kw)  # type: ignore[arg-type]


BATCHES = st.lists(st.tuples(st.lists(command(), min_size=1, max_size=8),
                             st.integers(0, 200_000)), min_size=1, max_size=10)


def state(node: Node, gid: int) -> tuple[object, object]:
    return node.scan(gid), [(k[8:], v) for k, v in node.raw_sessions(gid)]


@settings(max_examples=40, deadline=None)
@given(batches=BATCHES, other=BATCHES, chunk_size=st.integers(1, 400),
       after=st.lists(command(), min_size=1, max_size=8))
def test_snapshot_round_trip_reproduces_the_source(
        batches: list[tuple[list[Command], int]], other: list[tuple[list[Command], int]],
        chunk_size: int, after: list[Command]) -> None:
    d = Path(tempfile.mkdtemp(prefix="kv-snap-"))
    src, dst = Node(d / "src", groups=(1,)), Node(d / "dst", groups=(1, 2))
    try:
        for cmds, at in batches:
            src.apply(cmds, at_ms=at)
        for cmds, at in other:  # the destination's old data, in the group and a neighbour
            dst.apply(cmds, at_ms=at)
            dst.apply(cmds, at_ms=at, gid=2)
        neighbour = state(dst, 2)
        with src.store.read() as txn:
            chunks = list(src.sm.snapshot_chunks(txn, 1, chunk_size))
        with dst.store.write() as w:
            dst.sm.restore(w.txn, 1, iter(chunks))
        assert state(dst, 1) == state(src, 1)
        assert state(dst, 2) == neighbour
        at = max(t for _, t in batches) + 1
        assert dst.apply(after, at_ms=at) == src.apply(after, at_ms=at)
        assert state(dst, 1) == state(src, 1)
    finally:
        src.close()
        dst.close()
        shutil.rmtree(d, ignore_errors=True)


def test_chunks_stream_in_bounded_pieces(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.apply([put(b"k%03d" % i, b"v" * 100) for i in range(100)])
    with node.store.read() as txn:
        chunks = list(node.sm.snapshot_chunks(txn, 1, chunk_size=1000))
    # A chunk closes once it holds >= 1000 bytes of pairs: 10 pairs of 104 bytes each.
    assert len(chunks) == 10
    assert all(len(c) < 1200 for c in chunks)
    node.close()


def test_bad_streams_are_refused_and_leave_the_old_data(tmp_path: Path) -> None:
    src, dst = Node(tmp_path / "a"), Node(tmp_path / "b")
    src.apply([put(b"k%d" % i, b"new") for i in range(30)])
    dst.apply([put(b"old", b"data")])
    with src.store.read() as txn:
        chunks = list(src.sm.snapshot_chunks(txn, 1, chunk_size=50))
    flipped = bytearray(chunks[1])
    flipped[-8] ^= 0xFF
    foreign = msgpack.unpackb(chunks[0])
    body = msgpack.unpackb(foreign[2])
    body[0] = 2
    cases = {
        "checksum": [chunks[0], bytes(flipped), *chunks[2:]],
        "ended before its last chunk": chunks[:-1],
        "where 1 was expected": [chunks[0], *chunks[2:]],
        "after its last chunk": [*chunks, chunks[-1]],
        "not a kvstore snapshot": [b"\x93\x01\x02\x03"],
        "not msgpack": [b"\xc1"],
        "group 2": [msgpack.packb([foreign[0], foreign[1], msgpack.packb(body),
                                   zlib.crc32(msgpack.packb(body))])],
    }
    for msg, stream in cases.items():
        with pytest.raises(InvalidArgument, match=msg), dst.store.write() as w:
            dst.sm.restore(w.txn, 1, stream)
        assert dst.scan() == [(b"old", b"data")], msg
    src.close()
    dst.close()


def test_restore_snapshot_installs_image_log_reset_and_applied_in_one_batch(
        tmp_path: Path) -> None:
    src, dst = Node(tmp_path / "a"), Node(tmp_path / "b")
    for i in range(5):
        src.apply([put(b"k%d" % i, b"v%d" % i, client_id=b"c", seq=i + 1)])
    dst.apply([put(b"stale", b"x")])
    with src.store.read() as txn:
        data = b"".join(src.sm.snapshot_chunks(txn, 1, chunk_size=16))
    meta = SnapshotMeta(index=5, term=3, conf_state=ConfState(voters=[1, 2, 3]))
    with dst.store.write() as w:
        dst.sm.restore_snapshot(w, 1, Snapshot(meta, data))
    g = dst.store.group(1)
    assert (g.first_index(), g.last_index(), g.term(5)) == (6, 5, 3)
    assert dst.store.applied_index(1) == 5 and g.snapshot().meta == meta
    assert g.initial_state() == (HardState(), ConfState(voters=[1, 2, 3]))
    assert state(dst, 1) == state(src, 1)
    # A retry of an already applied request is still answered from the restored session.
    assert dst.apply([put(b"k0", b"v0", client_id=b"c", seq=1)]) == src.apply(
        [put(b"k0", b"v0", client_id=b"c", seq=1)])
    with pytest.raises(InvalidArgument), dst.store.write() as w:
        dst.sm.restore_snapshot(w, 1, Snapshot(SnapshotMeta(9, 3), data[:-3]))
    assert dst.store.applied_index(1) == 6 and state(dst, 1) == state(src, 1)
    src.close()
    dst.close()
