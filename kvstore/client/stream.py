"""One long-lived `KV.MultiBatchStream` per node: the client's batches as messages.

A grpc.aio unary call costs about 200 µs of CPU on each side, more than the
ops a coalesced batch carries; a message on an open stream about a third of
that (TiKV's client streams BatchCommands per store for the same reason).
`BatchStream.request` sends one MultiBatchRequest and waits for the answer
with its request_id; answers come in completion order.

Failure semantics match a unary call's, so the client's retry rules hold:
- no answer within the timeout: `Timeout` (a write may or may not apply). The
  stream stays open; a late answer is dropped;
- the stream breaks (node down, connection reset): every waiting request fails
  with the call's status mapped to a KVError (`Unavailable` for a lost node),
  and the next request opens a new stream;
- a send that cannot finish within the timeout (a wedged connection) cancels
  the stream, which fails everything waiting on it;
- a node without the method (UNIMPLEMENTED, an older version) sets
  `unsupported` and raises `StreamUnsupported`: the caller falls back to the
  unary MultiBatch for that node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import grpc

from kvstore.errors import Timeout, Unavailable
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_from_proto, from_rpc_error

OpenCall = Callable[[], Any]  # -> grpc.aio.StreamStreamCall


class StreamUnsupported(Exception):
    """The node does not serve MultiBatchStream."""


class BatchStream:
    def __init__(self, open_call: OpenCall) -> None:
        self._open_call = open_call
        self._call: Any = None
        self._pending: dict[int, asyncio.Future[kv_pb2.MultiBatchResponse]] = {}
        self._next_id = 0
        # grpc allows one send in progress per call.
        self._send_lock = asyncio.Lock()
        self._sending: tuple[Any, asyncio.Future[Any]] | None = None
        self._readers: dict[int, asyncio.Task[None]] = {}  # id(call) -> its reader
        self.unsupported = False
        self.opened = 0

    async def request(self, req: kv_pb2.MultiBatchRequest,
                      timeout: float) -> kv_pb2.MultiBatchResponse:
        if self.unsupported:
            raise StreamUnsupported()
        loop = asyncio.get_running_loop()
        self._next_id += 1
        rid = req.request_id = self._next_id
        fut: asyncio.Future[kv_pb2.MultiBatchResponse] = loop.create_future()
        self._pending[rid] = fut
        timer = loop.call_later(timeout, self._expire, fut)
        try:
            await self._send(req, fut)
            resp = await fut
        finally:
            timer.cancel()
            self._pending.pop(rid, None)
        if resp.HasField("error"):
            raise error_from_proto(resp.error)
        return resp

    async def _send(self, req: kv_pb2.MultiBatchRequest,
                    fut: asyncio.Future[kv_pb2.MultiBatchResponse]) -> None:
        async with self._send_lock:
            if fut.done():  # expired, or its stream failed, while waiting for the lock
                return
            call = self._call if self._call is not None else self._open()
            self._sending = (call, fut)
            try:
                await call.write(req)
            except asyncio.CancelledError:
                if _cancelling():
                    raise
                await self._settle(call, fut)  # _expire cancelled the wedged call
            except Exception:  # the call ended: its reader says why
                await self._settle(call, fut)
            finally:
                self._sending = None

    def _expire(self, fut: asyncio.Future[Any]) -> None:
        if fut.done():
            return
        fut.set_exception(Timeout("no answer on the batch stream in time; a write may "
                                  "or may not apply"))
        if self._sending is not None and self._sending[1] is fut:
            # Still sending at the deadline: flow control never opened (a wedged or
            # blackholed connection). Drop the stream; the next request opens another.
            self._sending[0].cancel()

    async def _settle(self, call: Any, fut: asyncio.Future[Any]) -> None:
        reader = self._readers.get(id(call))
        if reader is not None:
            await asyncio.wait([reader], timeout=1.0)
        if not fut.done():
            fut.set_exception(Unavailable("the batch stream failed"))

    def _open(self) -> Any:
        call = self._call = self._open_call()
        self.opened += 1
        t = asyncio.ensure_future(self._read(call))
        self._readers[id(call)] = t
        t.add_done_callback(lambda _t: self._readers.pop(id(call), None))
        return call

    async def _read(self, call: Any) -> None:
        err: BaseException
        try:
            async for resp in call:
                fut = self._pending.get(resp.request_id)
                if fut is not None and not fut.done():
                    fut.set_result(resp)
            err = Unavailable("the node closed the batch stream")
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.unsupported = True
                err = StreamUnsupported()
            else:
                err = from_rpc_error(exc)
        except asyncio.CancelledError:
            if _cancelling():
                self._fail_all(call, Unavailable("client closed"))
                raise
            err = Unavailable("the batch stream was cancelled")
        except Exception as exc:
            err = Unavailable(f"the batch stream failed: {type(exc).__name__}")
        self._fail_all(call, err)

    def _fail_all(self, call: Any, err: BaseException) -> None:
        if self._call is call:
            self._call = None
        # Every request pending now rode this stream or was not sent yet: a new
        # stream opens only after this point.
        for fut in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(err)

    async def aclose(self, grace: float = 1.0) -> None:
        """Half-close the stream and let the node end it (or cancel it after `grace`).

        Waiting for the call's status matters: a call merely cancelled leaves a
        grpc.aio task behind that a loop closed right after reports as destroyed."""
        call, self._call = self._call, None
        readers = list(self._readers.values())
        if call is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(call.done_writing(), grace)
            if readers:
                await asyncio.wait(readers, timeout=grace)
            call.cancel()
            try:
                await asyncio.wait_for(call.code(), grace)
            except asyncio.CancelledError:
                if _cancelling():
                    raise
            except Exception:  # closing: the status is all we waited for
                pass
        for t in readers:
            t.cancel()
        if readers:
            await asyncio.gather(*readers, return_exceptions=True)


def _cancelling() -> bool:
    """Whether the running task itself is being cancelled (not just an await in it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
