"""The host's storage writer: one long-lived thread that runs each turn's write batch.

`asyncio.to_thread` costs a context copy, a `concurrent.futures.Future`, the
executor's locks and a chained asyncio future per call; the host makes one call
per loop turn (hundreds per second under load), and that overhead showed up as
~5% of the node's GIL time in py-spy profiles. This writer keeps one thread and
hands it work through a `SimpleQueue`; the result comes back to the loop with
one `call_soon_threadsafe`.

Invariants: calls run one at a time, in submission order, always on the same
thread (LMDB ties a write transaction to the thread that began it); `close()`
lets a running call finish and fails the calls still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]


class StorageWriter:
    def __init__(self, name: str = "storage-writer") -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `fn(*args)` on the writer thread; the future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._closed:
            fut.set_exception(RuntimeError("storage writer is closed"))
            return fut
        self._queue.put((loop, fut, fn, args))
        return fut

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _main(self) -> None:
        while (job := self._queue.get()) is not None:
            loop, fut, fn, args = job
            try:
                result = fn(*args)
            except BaseException as exc:
                _resolve(loop, fut, None, exc)
            else:
                _resolve(loop, fut, result, None)
        while True:  # closed: fail whatever was queued behind the sentinel
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                _resolve(job[0], job[1], None, RuntimeError("storage writer is closed"))


def _resolve(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], result: Any,
             exc: BaseException | None) -> None:
    def done() -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(done)
