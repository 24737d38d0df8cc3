"""Delayed follower apply (kvstore/server/apply_delay.py) on three real hosts in one
process (LMDB, writer threads, the peer-link encoding). Commit notices go out at
once (delay 0) and the Raft clocks all but stop, so a follower knows of every
commit right away and only the apply delay decides when it applies."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from kvstore.bench.host_round import Trio
from kvstore.client.session import ShardSession
from kvstore.raft import Entry, EntryType, ReadState, Ready, SoftState, StateRole
from kvstore.server.apply_delay import DelayedApplies
from kvstore.server.group import Group
from kvstore.server.host import MultiRaftHost
from kvstore.statemachine import Op, make_command
from tests.server.trio import GROUP, still_trio, until


@contextlib.asynccontextmanager
async def _trio(tmp_path: Path, delay_ms: float) -> AsyncIterator[Trio]:
    async with still_trio(tmp_path, commit_notice_delay_ms=0.0,
                          follower_apply_delay_ms=delay_ms) as trio:
        yield trio


def _leader(trio: Trio) -> tuple[MultiRaftHost, Group]:
    host = trio.leader_of(GROUP)
    assert host is not None
    g = host.group(GROUP)
    assert g is not None
    return host, g


def _followers(trio: Trio) -> list[tuple[MultiRaftHost, Group]]:
    leader = trio.leader_of(GROUP)
    out = []
    for h in trio.hosts.values():
        g = h.group(GROUP)
        if h is not leader and g is not None:
            out.append((h, g))
    return out


async def _put(trio: Trio, sess: ShardSession, key: bytes, value: bytes = b"v") -> int:
    host, g = _leader(trio)
    seq = sess.next_seq()
    fut = g.submit_write(make_command(Op.PUT, key, value, b"", False, sess.client_id, seq,
                                      sess.ack_seq()))
    host.wake()
    await fut
    sess.done(seq)
    return g.core.commit_index


async def _held_write(trio: Trio) -> tuple[MultiRaftHost, Group, int]:
    """Write once; a follower that knows it committed but holds its apply, and the index."""
    index = await _put(trio, ShardSession(), b"k")
    host, g = _followers(trio)[0]
    await until(lambda: g.core.commit_index >= index, "the follower never learned it")
    assert g.core.applied_index < index
    return host, g, index


async def test_a_follower_applies_only_after_the_delay(tmp_path: Path) -> None:
    async with _trio(tmp_path, 3000.0) as trio:
        sess = ShardSession()
        t0 = time.monotonic()
        index = await _put(trio, sess, b"a")
        last = await _put(trio, sess, b"b")  # a second round inside the delay: held too
        followers = _followers(trio)
        await until(lambda: all(g.core.commit_index >= index for _, g in followers),
                     "followers never learned the commit")
        if time.monotonic() - t0 < 2.0:  # (a loop stalled for seconds proves nothing here)
            assert all(g.core.applied_index < index for _, g in followers), (
                "a follower applied before its delay")
        await until(lambda: all(g.core.applied_index >= last for _, g in followers),
                     "held entries were never applied")
        for h, _ in followers:
            with h.store.read() as txn:
                assert h.sm.get(txn, GROUP, b"a") == b"v" and h.sm.get(txn, GROUP, b"b") == b"v"


async def test_a_waiting_read_applies_at_once(tmp_path: Path) -> None:
    """A sequential read on a follower must not wait out a long delay."""
    async with _trio(tmp_path, 9_000.0) as trio:
        host, g, index = await _held_write(trio)
        waiter = g.wait_applied(index)
        host.wake()
        assert await asyncio.wait_for(waiter, 3) >= index  # the delay is 9 s


async def test_a_follower_that_becomes_leader_applies_its_backlog(tmp_path: Path) -> None:
    async with _trio(tmp_path, 9_000.0) as trio:
        host, g, index = await _held_write(trio)
        old_host, old = _leader(trio)
        old.core.transfer_leader(host.node_id)
        old_host.wake()
        await until(lambda: trio.leader_of(GROUP) is host, "leadership never moved")
        # Its whole backlog, up to the no-op of its own term (which it must apply
        # before its leader reads are served).
        await until(lambda: g.core.applied_index == g.core.commit_index > index,
                     "the new leader kept its backlog", timeout=3)  # the delay is 9 s


async def test_delay_zero_applies_with_the_commit(tmp_path: Path) -> None:
    async with _trio(tmp_path, 0.0) as trio:
        index = await _put(trio, ShardSession(), b"k")
        followers = _followers(trio)
        await until(lambda: all(g.core.applied_index >= index for _, g in followers),
                     "followers did not apply with the notice", timeout=5)


async def test_a_ready_that_answers_someone_is_never_held(tmp_path: Path) -> None:
    """The policy itself, on a real follower group: a Ready whose apply answers a
    read, a role change (a leader stepping down as its last round commits) or a
    conf change applies at once; the entries' content does not matter to it."""
    async with _trio(tmp_path, 9_000.0) as trio:
        _, g = _followers(trio)[0]
        applies = DelayedApplies(9.0, lambda: None)
        try:
            plain = Ready(committed_entries=[Entry(1, 1, data=b"x")])
            assert applies.hold([(g, plain)]) == {g.gid} and not plain.committed_entries
            urgent = [
                Ready(committed_entries=[Entry(1, 1, data=b"x")],
                      read_states=[ReadState(1, b"ctx")]),
                Ready(committed_entries=[Entry(1, 1, data=b"x")],
                      soft_state=SoftState(0, StateRole.FOLLOWER)),
                Ready(committed_entries=[Entry(1, 1, EntryType.CONF_CHANGE, b"cc")]),
                Ready(committed_entries=[Entry(1, i, data=b"x") for i in range(1, 65)]),
            ]
            for rd in urgent:
                assert applies.hold([(g, rd)]) == set() and rd.committed_entries, rd
        finally:
            applies.close()


async def test_an_abandoned_wait_is_dropped(tmp_path: Path) -> None:
    """A sequential read for an index the replica never reaches times out: its
    waiter must not stay (a leak, and it would keep delayed apply off)."""
    async with _trio(tmp_path, 9_000.0) as trio:
        _, g = _followers(trio)[0]
        waiter = g.wait_applied(2**62)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, 0.05)
        assert waiter.cancelled() and g.apply_waiters
        index = await _put(trio, ShardSession(), b"k")
        await until(lambda: g.core.commit_index >= index and not g.apply_waiters,
                     "the abandoned waiter stayed")
        await asyncio.sleep(0.2)
        assert g.core.applied_index < index, "delayed apply stayed off"
