"""One raw TCP link per node for the client's batches (kvstore/server/kv_tcp.py).

The same requests and answers as the node's `KV.MultiBatchStream`
(kvstore/client/stream.py), as length-prefixed protobuf frames on a socket:
grpc.aio costs ~3x the CPU per streamed message. The failure semantics are
the stream's, so the client's retry rules hold unchanged:
- no answer within the timeout: `Timeout` (a write may or may not apply); the
  link stays open and a late answer is dropped;
- the link breaks (node down, connection reset, a frame the node rejected):
  every waiting request fails with `Unavailable`, and the next request opens
  a new link;
- the link cannot be opened (nothing listens, the hello is refused):
  `Unavailable`; the caller may fall back to the gRPC stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import grpc
import msgpack

from kvstore.errors import Timeout, Unavailable
from kvstore.framing import FrameReader, frame_bytes, parse_hello, tune_socket
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_from_proto

MAGIC = "kvstore-kv/1"  # kvstore/server/kv_tcp.py has the node's copy
MAX_FRAME = 64 << 20
MAX_HELLO = 4096


class _LinkProtocol(asyncio.Protocol):
    def __init__(self, link: TcpBatchLink) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.greeted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reader = FrameReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        tune_socket(transport.get_extra_info("socket"))

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        try:
            while (body := reader.next(MAX_FRAME if self.greeted.done() else MAX_HELLO)
                   ) is not None:
                if self.greeted.done():
                    self.link.answered(kv_pb2.MultiBatchResponse.FromString(body))
                else:
                    self._hello(body)
        except Exception as exc:  # a garbled answer: the link is unusable
            self.fail(Unavailable(f"bad frame from the node: {type(exc).__name__}"))

    def _hello(self, body: bytes) -> None:
        self.greeted.set_result(int(parse_hello(body, MAGIC, 2)[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.fail(Unavailable("the node closed the batch link"))

    def fail(self, err: Unavailable) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if not self.greeted.done():
            self.greeted.set_exception(err)
        self.link.broken(self, err)


class TcpBatchLink:
    def __init__(self, host: str, port: int, cluster_id: str) -> None:
        self.host, self.port, self.cluster_id = host, port, cluster_id
        self._proto: _LinkProtocol | None = None
        self._opening: asyncio.Future[_LinkProtocol] | None = None
        self._pending: dict[int, asyncio.Future[kv_pb2.MultiBatchResponse]] = {}
        self._next_id = 0
        self.opened = 0

    async def request(self, req: kv_pb2.MultiBatchRequest,
                      timeout: float) -> kv_pb2.MultiBatchResponse:
        loop = asyncio.get_running_loop()
        proto = self._proto
        if proto is None or proto.transport is None:
            proto = await asyncio.wait_for(self._open(), timeout)
        self._next_id += 1
        rid = req.request_id = self._next_id
        fut: asyncio.Future[kv_pb2.MultiBatchResponse] = loop.create_future()
        self._pending[rid] = fut
        timer = loop.call_later(timeout, _expire, fut)
        try:
            if proto.transport is None:  # broke while this request waited to open it
                raise Unavailable("the batch link closed")
            proto.transport.write(frame_bytes(req.SerializeToString()))
            resp = await fut
        finally:
            timer.cancel()
            self._pending.pop(rid, None)
        if resp.HasField("error"):
            raise error_from_proto(resp.error)
        return resp

    async def _open(self) -> _LinkProtocol:
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
            # Retrieved here too: every waiter may have timed out before it failed.
            self._opening.add_done_callback(lambda t: t.cancelled() or t.exception())
        opening = self._opening
        try:
            return await asyncio.shield(opening)
        finally:
            if opening.done() and self._opening is opening:
                self._opening = None

    async def _connect(self) -> _LinkProtocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: _LinkProtocol(self),
                                                    self.host, self.port)
        except OSError as exc:
            raise Unavailable(f"cannot open a batch link to {self.host}:{self.port}: "
                              f"{exc}", unreachable=True) from None
        if proto.transport is not None:
            proto.transport.write(frame_bytes(
                msgpack.packb([MAGIC, self.cluster_id], use_bin_type=True)))
        await proto.greeted
        self._proto = proto
        self.opened += 1
        return proto

    def answered(self, resp: kv_pb2.MultiBatchResponse) -> None:
        fut = self._pending.get(resp.request_id)
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def broken(self, proto: _LinkProtocol, err: Unavailable) -> None:
        if self._proto is not proto:
            return
        self._proto = None
        for fut in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(err)

    async def aclose(self) -> None:
        proto, self._proto = self._proto, None
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
        if proto is not None and proto.transport is not None:
            proto.transport.close()
        for fut in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(Unavailable("client closed"))


def _expire(fut: asyncio.Future[kv_pb2.MultiBatchResponse]) -> None:
    if not fut.done():
        fut.set_exception(Timeout("no answer on the batch link in time; a write may "
                                  "or may not apply"))


async def discover(stub: Any, addr: str, cluster_id: str,
                   timeout: float) -> TcpBatchLink | None:
    """The link to the node at gRPC address `addr`, or None if it offers none (port
    0, or an older node without `KV.LinkInfo`). Raises AioRpcError otherwise."""
    try:
        info = await stub.LinkInfo(kv_pb2.LinkInfoRequest(cluster_id=cluster_id),
                                   timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise
    if not info.tcp_port:
        return None
    host = addr.rsplit(":", 1)[0].strip("[]")
    return TcpBatchLink(host, info.tcp_port, cluster_id)
