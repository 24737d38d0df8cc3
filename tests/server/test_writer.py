"""StorageWriter: calls run one at a time, in order, on one thread; errors come back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kvstore.server.writer import StorageWriter


async def test_calls_run_in_order_on_one_thread_and_errors_propagate() -> None:
    w = StorageWriter()
    try:
        seen: list[tuple[int, int]] = []

        def job(i: int) -> int:
            seen.append((i, threading.get_ident()))
            if i == 3:
                raise ValueError("boom")
            return i * 10

        futs = [w.run(job, i) for i in range(6)]
        results = await asyncio.gather(*futs, return_exceptions=True)
        assert [r if isinstance(r, int) else type(r) for r in results] == [
            0, 10, 20, ValueError, 40, 50]
        assert [i for i, _ in seen] == list(range(6))
        assert len({t for _, t in seen}) == 1
        assert seen[0][1] != threading.get_ident()
    finally:
        w.close()


async def test_close_lets_the_running_call_finish_and_refuses_new_ones() -> None:
    w = StorageWriter()
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "done"

    running = w.run(slow)
    await asyncio.to_thread(started.wait, 5)
    release.set()
    w.close()
    assert await running == "done"
    with pytest.raises(RuntimeError):
        await w.run(lambda: None)
