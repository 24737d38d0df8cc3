"""Raw TCP client links: `KV.MultiBatchStream` without gRPC's machinery.

Why: a message on a grpc.aio stream costs ~130 µs of CPU on each side and
~240 µs of round trip on this machine for a 64-op batch; the same protobuf
bytes as a length-prefixed frame on a socket cost ~40 µs and ~90 µs. With
every write round of a loaded node carrying one client batch, that is a
large share of a round (README, "Performance"). The raw Raft links made the
same trade for peer traffic (kvstore/transport/tcp.py).

Discovery: the client asks the node's gRPC address `KV.Hello` for this
listener's port and connects to that port on the same host; a node that
offers none (port 0), or an older node without Hello, gets the gRPC stream.

Wire (both directions, after the hello):
    frame = u32 big-endian body length + body
    client's first frame = msgpack [MAGIC, cluster_id]
    node's first frame   = msgpack [MAGIC, node_id] (the link is accepted)
    client frames = serialized `MultiBatchRequest` (with request_id)
    node frames   = serialized `MultiBatchResponse` (request_id echoed, in
                    completion order; a request that fails as a whole is
                    answered with `error`, as on the stream)
A bad hello, an oversized frame or a frame that is not a MultiBatchRequest
closes the link with a log line saying why; the node never acts on it. As on
the stream, at most `max_inflight` requests of a link run at once; past that
the node stops reading, so a flooding client meets TCP flow control.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
from google.protobuf.message import DecodeError as ProtoDecodeError

from kvstore.framing import FrameError, frame_bytes, parse_hello
from kvstore.logging import get_logger
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_to_proto
from kvstore.transport.tcp import AcceptedLink, Listener

log = get_logger("kvstore.server.kv_tcp")

MAGIC = "kvstore-kv/1"  # kvstore/client/tcp_link.py has the client's copy
MAX_HELLO = 4096
MAX_FRAME = 64 << 20  # as the gRPC server's max_receive_message_length

Handle = Callable[[kv_pb2.MultiBatchRequest], Awaitable[kv_pb2.MultiBatchResponse]]


class KVLinkProtocol(AcceptedLink):
    """The node's side of one client link."""

    def __init__(self, node_id: int, cluster_id: str, handle: Handle,
                 max_inflight: int) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.handle = handle
        self.max_inflight = max_inflight
        self.greeted = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused = False
        super().__init__()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        self._drain()

    def _drain(self) -> None:
        """Act on the whole frames received, unless paused (they wait in the buffer)."""
        reader = self._reader
        try:
            while self._transport is not None and not self._paused and (
                    body := reader.next(MAX_FRAME if self.greeted else MAX_HELLO)) is not None:
                if self.greeted:
                    self._request(body)
                else:
                    self._hello(body)
        except FrameError as exc:
            self._reject(str(exc))

    def _hello(self, body: bytes) -> None:
        raw = parse_hello(body, MAGIC, 2)
        if raw[1] != self.cluster_id:
            raise FrameError(f"cluster {raw[1]!r} is not this cluster")
        self.greeted = True
        self._write(msgpack.packb([MAGIC, self.node_id], use_bin_type=True))

    def _request(self, body: bytes) -> None:
        try:
            req = kv_pb2.MultiBatchRequest.FromString(body)
        except ProtoDecodeError as exc:
            raise FrameError(f"frame is not a MultiBatchRequest: {exc}") from exc
        t = asyncio.ensure_future(self._answer(req))
        self._tasks.add(t)
        t.add_done_callback(self._done)
        if len(self._tasks) >= self.max_inflight and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()

    async def _answer(self, req: kv_pb2.MultiBatchRequest) -> None:
        try:
            resp = await self.handle(req)
        except Exception as exc:  # the request fails; the link goes on
            resp = kv_pb2.MultiBatchResponse(error=error_to_proto(exc))
        resp.request_id = req.request_id
        self._write(resp.SerializeToString())

    def _done(self, t: asyncio.Task[None]) -> None:
        self._tasks.discard(t)
        if self._paused and len(self._tasks) < self.max_inflight and self._transport:
            self._paused = False
            self._transport.resume_reading()
            self._drain()

    def _write(self, body: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame_bytes(body))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for t in list(self._tasks):
            t.cancel()

    def _reject(self, why: str) -> None:
        peer: Any = self._transport.get_extra_info("peername") if self._transport else None
        log.warning("kv.tcp_rejected", peer=str(peer), error=why)
        self.close()
        self._reader.clear()


class KVTcpServer(Listener[KVLinkProtocol]):
    """The raw client-link listener of one node (started next to its gRPC server)."""

    def __init__(self, node_id: int, cluster_id: str, handle: Handle,
                 max_inflight: int) -> None:
        super().__init__(lambda: KVLinkProtocol(node_id, cluster_id, handle, max_inflight))
