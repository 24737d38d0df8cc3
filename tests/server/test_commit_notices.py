"""Deferred commit notices (kvstore/server/notices.py) on three real hosts in one
process (LMDB, writer threads, the peer-link encoding): with the Raft clocks all
but stopped, no heartbeat can carry a commit index, so followers learn a commit
only from the host's notice timer (or, with delay 0, from the eager notice)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kvstore.bench.host_round import Trio
from kvstore.client.session import ShardSession
from kvstore.statemachine import Op, make_command
from tests.server.trio import GROUP, still_trio, until


@contextlib.asynccontextmanager
async def _still_trio(tmp_path: Path, delay_ms: float) -> AsyncIterator[Trio]:
    async with still_trio(tmp_path, commit_notice_delay_ms=delay_ms) as trio:
        yield trio


async def _put(trio: Trio, sess: ShardSession, key: bytes) -> int:
    host = trio.leader_of(GROUP)
    assert host is not None
    g = host.group(GROUP)
    assert g is not None
    seq = sess.next_seq()
    fut = g.submit_write(make_command(Op.PUT, key, b"v", b"", False, sess.client_id, seq,
                                      sess.ack_seq()))
    host.wake()
    await fut
    sess.done(seq)
    return g.core.commit_index


@pytest.mark.parametrize("delay_ms", [5.0, 0.0])
async def test_followers_learn_commits_without_heartbeats(tmp_path: Path,
                                                          delay_ms: float) -> None:
    async with _still_trio(tmp_path, delay_ms) as trio:
        sess = ShardSession()
        for i in range(3):
            index = await _put(trio, sess, b"k%d" % i)
            leader = trio.leader_of(GROUP)
            followers = [h.group(GROUP) for h in trio.hosts.values() if h is not leader]
            deadline = time.monotonic() + 10
            while not all(g is not None and g.core.applied_index >= index for g in followers):
                assert time.monotonic() < deadline, (
                    f"followers stuck at {[g.core.applied_index for g in followers if g]} "
                    f"below commit {index}")
                await asyncio.sleep(0.005)
            assert leader is not None and not leader.group(GROUP).core.commit_notice_pending


async def test_a_loaded_leader_sends_no_separate_notices(tmp_path: Path) -> None:
    """Back-to-back writes: each commit rides the next write's append."""
    async with _still_trio(tmp_path, 1000.0) as trio:
        sess = ShardSession()
        indexes = [await _put(trio, sess, b"w%d" % i) for i in range(5)]
        leader = trio.leader_of(GROUP)
        followers = [h.group(GROUP) for h in trio.hosts.values() if h is not leader]
        # A write is answered once one follower acknowledged it; the other may step
        # the last append a little later. Both must have it well before the 1 s
        # notice timer could fire.
        await until(lambda: all(g is not None and g.core.log.last_index() >= indexes[-1]
                                for g in followers),
                    "a follower never received the last append", timeout=0.5)
        # Each write's append carried the previous write's commit: the followers know
        # all but the last write committed, though no separate notice went out.
        assert all(g is not None and g.core.commit_index >= indexes[-2] for g in followers)
        assert leader is not None and leader.group(GROUP).core.commit_notice_pending


async def test_a_notice_waits_its_own_delay(tmp_path: Path) -> None:
    """The timer armed for one notice must not send a younger one early: the delay
    counts from when each notice became pending (notices.py)."""
    loop = asyncio.get_running_loop()
    async with _still_trio(tmp_path, 1000.0) as trio:
        sess = ShardSession()
        await _put(trio, sess, b"a")  # its notice is pending: the timer fires ~1 s later
        first_done = loop.time()
        await asyncio.sleep(0.6)
        second = await _put(trio, sess, b"b")  # carries a's commit; b's notice is pending
        await asyncio.sleep(max(0.0, first_done + 1.2 - loop.time()))  # a's timer has fired
        leader = trio.leader_of(GROUP)
        followers = [h.group(GROUP) for h in trio.hosts.values() if h is not leader]
        assert all(g is not None and g.core.commit_index < second for g in followers), (
            "b's notice left before its own delay")
        deadline = time.monotonic() + 10
        while not all(g is not None and g.core.commit_index >= second for g in followers):
            assert time.monotonic() < deadline, "b's notice never left"
            await asyncio.sleep(0.01)
