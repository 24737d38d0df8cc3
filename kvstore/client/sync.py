"""`SyncKVClient`: a thin blocking wrapper over `KVClient` for scripts and the CLI.

It owns a private event loop in a daemon thread; each call submits the
coroutine there and waits. Use it as a context manager so the loop and its
channels are closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from kvstore.client.core import KVClient

T = TypeVar("T")


class SyncKVClient:
    def __init__(self, endpoints: Sequence[str], **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kvclient",
                                        daemon=True)
        self._thread.start()
        self._client: KVClient = self._run(self._make(endpoints, kwargs))
        try:
            self._run(self._client.connect())
        except BaseException:
            self.close()
            raise

    @staticmethod
    async def _make(endpoints: Sequence[str], kwargs: dict[str, Any]) -> KVClient:
        return KVClient(endpoints, **kwargs)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __enter__(self) -> SyncKVClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        client = getattr(self, "_client", None)
        if client is not None:
            self._run(client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def client(self) -> KVClient:
        return self._client

    def get(self, key: bytes, *, consistency: str | None = None) -> bytes | None:
        return self._run(self._client.get(key, consistency=consistency))

    def put(self, key: bytes, value: bytes) -> None:
        self._run(self._client.put(key, value))

    def delete(self, key: bytes) -> bool:
        return self._run(self._client.delete(key))

    def cas(self, key: bytes, expected: bytes | None, new: bytes) -> bool:
        return self._run(self._client.cas(key, expected, new))

    def scan(self, start: bytes = b"", end: bytes = b"", *, prefix: bytes | None = None,
             limit: int = 0, consistency: str | None = None) -> list[tuple[bytes, bytes]]:
        return self._run(self._client.scan(start, end, prefix=prefix, limit=limit,
                                           consistency=consistency))
