"""Three real hosts in one process (kvstore.bench.host_round.Trio: LMDB, writer
threads, the peer-link encoding) for host-level tests, with their Raft clocks
all but stopped once group 1 has a leader: no heartbeat or election for
minutes, so what the test does is the only traffic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from kvstore.bench.host_round import Trio

GROUP = 1


async def until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def still_trio(tmp_path: Path, **node_opts: Any) -> AsyncIterator[Trio]:
    """A running Trio of one shard whose followers know the leader's commit index."""
    trio = Trio(str(tmp_path), 1, False, quiesce_ticks=0, **node_opts)
    tasks = [asyncio.create_task(h.run()) for h in trio.hosts.values()]
    try:
        await until(lambda: trio.leader_of(GROUP) is not None, "no leader within 30 s", 30)

        def caught_up() -> bool:
            lead = trio.leader_of(GROUP)
            groups = [h.group(GROUP) for h in trio.hosts.values()]
            return lead is not None and all(
                g is not None and g.core.commit_index == lead.group(GROUP).core.commit_index
                for g in groups)
        await until(caught_up, "followers never learned the leader's commit")
        for h in trio.hosts.values():
            h.set_clock_rate(0.0001)  # the next tick (and heartbeat) is minutes away
        await asyncio.sleep(0.1)  # let a heartbeat already sent arrive
        yield trio
    finally:
        for h in trio.hosts.values():
            h.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        trio.close()
