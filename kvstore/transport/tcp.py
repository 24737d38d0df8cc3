"""Raw TCP peer links: the coalesced Raft batches of peers.py, without gRPC.

Why: py-spy profiles of a loaded node showed ~30% of its GIL time in
grpc.aio's streaming machinery (`call.write` on the sending side, the request
iterator on the receiving side), for messages that are already one msgpack
payload per peer per turn. A socket write and an `asyncio.Protocol` parse cost
a small fraction of that (server CPU per put fell ~20%, per linearizable get
~30% in `kvctl bench`). gRPC stays for clients, snapshots and the Stream
fallback; the brief's "one gRPC server per process" still holds.

Discovery: the dialer asks the peer's gRPC address `Raft.Hello` for the
port of this listener, then connects to that port on the same host. A peer
that offers none (port 0) gets the gRPC Stream instead.

Wire (dialer -> acceptor only; the acceptor never writes):
    frame = u32 big-endian body length + body
    first frame  = msgpack [MAGIC, cluster_id, from_node, to_node]
    other frames = a `wire.encode_batch` payload (from/to as in the hello)
The acceptor checks the hello (magic, cluster id, addressed to this node,
from a known peer) and every batch (`wire.decode_batch`: well-formed, every
message from->to this link), and closes the link at the first bad frame with
a log line saying why. Nothing unchecked reaches a Raft core; the dialer
reconnects with backoff, like a failed Stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypeVar, cast

import msgpack

from kvstore.framing import FrameError, FrameReader, frame, parse_hello, tune_socket
from kvstore.logging import get_logger
from kvstore.raft import Message
from kvstore.raft.codec import DecodeError
from kvstore.transport.wire import MAX_BATCH_BYTES, decode_batch

log = get_logger("kvstore.transport.tcp")

__all__ = ["MAGIC", "AcceptedLink", "Listener", "TcpRaftProtocol", "TcpRaftServer", "frame", "hello",
           "tune_socket"]

MAGIC = "kvstore-raft/1"
MAX_FRAME = MAX_BATCH_BYTES
MAX_HELLO = 4096
DeliverFn = Callable[[int, list[tuple[int, Message]]], None]


def hello(cluster_id: str, frm: int, to: int) -> bytes:
    return cast(bytes, msgpack.packb([MAGIC, cluster_id, frm, to], use_bin_type=True))


class AcceptedLink(asyncio.Protocol):
    """What every accepting side of a raw link shares: its transport, its frame
    reader, and being tracked and closed by a `Listener`."""

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        tune_socket(transport.get_extra_info("socket"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._reader.clear()

    @property
    def open(self) -> bool:
        return self._transport is not None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class TcpRaftProtocol(AcceptedLink):
    """Accepting side of one raw link (asyncio calls `data_received` per read)."""

    def __init__(self, node_id: int, cluster_id: str, peers: Mapping[int, str],
                 deliver: DeliverFn, on_reject: Callable[[], None] | None = None) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.peers = peers
        self.deliver = deliver
        self.on_reject = on_reject
        self.frm = 0  # set by a valid hello
        super().__init__()

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        try:
            while (body := reader.next(MAX_FRAME if self.frm else MAX_HELLO)) is not None:
                if self.frm == 0:
                    self._hello(body)
                else:
                    self.deliver(self.frm, decode_batch(body, self.frm, self.node_id))
        except (DecodeError, FrameError) as exc:
            self._reject(str(exc))

    def _hello(self, body: bytes) -> None:
        _, cluster_id, frm, to = parse_hello(body, MAGIC, 4)
        if cluster_id != self.cluster_id:
            raise DecodeError(f"cluster {cluster_id!r} is not this cluster")
        if to != self.node_id:
            raise DecodeError(f"link addressed to node {to}, this is node {self.node_id}")
        if type(frm) is not int or frm == self.node_id or frm not in self.peers:
            raise DecodeError(f"node {frm!r} is not a known peer")
        self.frm = frm

    def _reject(self, why: str) -> None:
        log.warning("raft.tcp_rejected", peer=self.frm, error=why)
        if self.on_reject is not None:
            self.on_reject()
        if self._transport is not None:
            self._transport.close()
        self._reader.clear()


class _Link(Protocol):
    @property
    def open(self) -> bool: ...

    def close(self) -> None: ...


L = TypeVar("L", bound=_Link)


class Listener(Generic[L]):
    """A raw TCP listener that tracks its links, so that `close` ends them too."""

    def __init__(self, factory: Callable[[], L]) -> None:
        self._factory = lambda: self._track(factory())
        self._links: set[L] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    def _track(self, proto: L) -> L:
        self._links = {p for p in self._links if p.open}
        self._links.add(proto)
        return proto

    async def start(self, host: str, port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._factory, host or None, port)
        if port == 0 and len(server.sockets) > 1:
            # A name like "localhost" binds several addresses, each with its own
            # free port; callers are told one port, so use the first one on all.
            port = server.sockets[0].getsockname()[1]
            server.close()
            server = await loop.create_server(self._factory, host or None, port)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for proto in self._links:
            proto.close()
        self._links.clear()


class TcpRaftServer(Listener[TcpRaftProtocol]):
    """The raw-link listener of one node (started next to its gRPC server)."""

    def __init__(self, node_id: int, cluster_id: str, peers: Mapping[int, str],
                 deliver: DeliverFn, on_reject: Callable[[], None] | None = None) -> None:
        super().__init__(lambda: TcpRaftProtocol(node_id, cluster_id, peers, deliver,
                                                 on_reject))
