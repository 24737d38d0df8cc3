"""Outbound peer links: one long-lived link per peer, raw TCP or a `Raft.Stream`.

Each link starts by asking the peer (`Raft.Hello`) for its raw TCP listener
and uses it when offered (kvstore/transport/tcp.py: far cheaper per batch
than a grpc.aio stream write), or dials the raw listener address the config
gives (`[raft_dial]`, e.g. a chaos proxy). Otherwise, and for peers dialed
through a `[dial]` override only (a proxy of the gRPC port cannot carry the
raw link), it keeps a client stream `Raft.Stream` open.

The host hands over one coalesced batch per peer per loop turn (`send`).
Each peer has a bounded queue (`max_queued_batches`) and a writer task that
keeps a stream open, reconnecting with capped exponential backoff. Raft
tolerates loss, so nothing here retries a batch: when a peer is down or too
slow, batches are dropped and the groups they carried are told the peer is
unreachable (the leader then probes instead of pipelining blindly).

Batches are encoded when written, not when queued: every batch that queued up
while the previous stream write was in flight leaves in ONE write (up to
`MAX_MESSAGES_PER_WRITE` messages), in order. A grpc.aio stream write costs far
more CPU than encoding its messages, so under load this saves writes exactly
when the loop is busiest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

import grpc

from kvstore.logging import get_logger
from kvstore.proto import raft_pb2, raft_pb2_grpc
from kvstore.raft.types import Message
from kvstore.transport.tcp import frame, hello, tune_socket
from kvstore.transport.wire import encode_batch

log = get_logger("kvstore.transport")

UnreachableFn = Callable[[int, list[int]], None]
Items = list[tuple[int, Message]]
MAX_MESSAGES_PER_WRITE = 4096
HELLO_TIMEOUT_S = 2.0
# Wait for the socket only when this much is buffered (a slow or stuck peer);
# below it a write never blocks the link task.
DRAIN_ABOVE_BYTES = 4 << 20
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    # Reconnect quickly after a peer restarts: the default backoff reaches minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


async def _finished(call: grpc.aio.StreamUnaryCall[raft_pb2.RaftBatch,
                                                   raft_pb2.RaftStreamSummary]) -> None:
    await call


class _Peer:
    __slots__ = ("addr", "connected", "event", "peer_id", "queue", "task", "transport")

    def __init__(self, peer_id: int, addr: str) -> None:
        self.peer_id = peer_id
        self.addr = addr
        self.queue: deque[Items] = deque()
        self.event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.connected = False
        self.transport = ""


class PeerStreams:
    def __init__(self, node_id: int, cluster_id: str, peers: dict[int, str],
                 on_unreachable: UnreachableFn, max_queued_batches: int = 256,
                 tcp: bool = True, grpc_only: frozenset[int] = frozenset(),
                 tcp_dial: dict[int, str] | None = None) -> None:
        self.node_id = node_id
        self.tcp = tcp
        self.grpc_only = grpc_only  # dialed through a gRPC-only override
        self.tcp_dial = tcp_dial or {}  # raw listener addresses known in advance
        self.cluster_id = cluster_id
        self.on_unreachable = on_unreachable
        self.max_queued = max_queued_batches
        # Shared with the node's cluster view, which adds peers as nodes join.
        self._addresses = peers
        self._peers: dict[int, _Peer] = {}
        self._closed = False
        self._started = False
        self.sync()
        self.sent_batches = 0
        self.dropped_batches = 0

    def sync(self) -> None:
        """Open a link to every address not linked yet (peers are never dropped:
        a removed node stays reachable until its replicas have moved away)."""
        for pid, addr in self._addresses.items():
            if pid != self.node_id and pid not in self._peers:
                p = self._peers[pid] = _Peer(pid, addr)
                if self._started and not self._closed:
                    self._start(p)

    async def start(self) -> None:
        self._started = True
        for p in self._peers.values():
            self._start(p)

    def _start(self, p: _Peer) -> None:
        p.task = asyncio.create_task(self._run(p), name=f"peer-{p.peer_id}")

    async def aclose(self) -> None:
        self._closed = True
        tasks = [p.task for p in self._peers.values() if p.task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def send(self, to: int, items: list[tuple[int, Message]]) -> None:
        p = self._peers.get(to)
        if p is None:
            return  # not a peer we know (e.g. a removed member): drop
        if len(p.queue) >= self.max_queued:
            old = p.queue.popleft()
            self.dropped_batches += 1
            self.on_unreachable(to, _gids(old))
        p.queue.append(items)
        p.event.set()

    async def _run(self, p: _Peer) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                await self._stream(p)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # grpc errors, connection resets
                if p.connected:
                    log.warning("peer.disconnected", peer=p.peer_id, error=str(exc)[:200])
                p.connected = False
                self._drop_queued(p)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _stream(self, p: _Peer) -> None:
        target = self.tcp_dial.get(p.peer_id) if self.tcp else None
        if target is None and self.tcp and p.peer_id not in self.grpc_only:
            port = await self._tcp_port(p)
            if port:
                target = f"{p.addr.rsplit(':', 1)[0]}:{port}"
        if target is not None:
            await self._tcp_stream(p, target)
        else:
            await self._grpc_stream(p)

    async def _tcp_port(self, p: _Peer) -> int:
        """The peer's raw TCP port (0: it offers none)."""
        async with grpc.aio.insecure_channel(p.addr, options=CHANNEL_OPTIONS) as channel:
            try:
                r = await raft_pb2_grpc.RaftStub(channel).Hello(raft_pb2.HelloRequest(
                    cluster_id=self.cluster_id, from_node=self.node_id, to_node=p.peer_id),
                    timeout=HELLO_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return 0
                raise
        return int(r.tcp_port)

    async def _tcp_stream(self, p: _Peer, target: str) -> None:
        host, port = target.rsplit(":", 1)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), HELLO_TIMEOUT_S)
        tune_socket(writer.get_extra_info("socket"))
        # The acceptor never writes: this read ends only when the link does.
        ended = asyncio.ensure_future(reader.read(1))
        ended.add_done_callback(lambda _f: p.event.set())
        writer.writelines(frame(hello(self.cluster_id, self.node_id, p.peer_id)))
        try:
            while not self._closed:
                if ended.done():
                    exc = None if ended.cancelled() else ended.exception()
                    raise ConnectionError(f"node {p.peer_id} closed the raft link") from exc
                if not p.queue:
                    p.event.clear()
                    await p.event.wait()
                    continue
                writer.writelines(frame(encode_batch(_take(p.queue))))
                if writer.transport.get_write_buffer_size() > DRAIN_ABOVE_BYTES:
                    await writer.drain()
                self._connected(p, "tcp")
                self.sent_batches += 1
        finally:
            ended.cancel()
            writer.close()

    def _connected(self, p: _Peer, transport: str) -> None:
        if not p.connected:
            log.info("peer.connected", peer=p.peer_id, addr=p.addr, transport=transport)
            p.connected = True
            p.transport = transport

    async def _grpc_stream(self, p: _Peer) -> None:
        async with grpc.aio.insecure_channel(p.addr, options=CHANNEL_OPTIONS) as channel:
            call = raft_pb2_grpc.RaftStub(channel).Stream()
            # Completes (usually with an error) when the peer ends the stream.
            ended = asyncio.ensure_future(_finished(call))
            # Wakes the writer when the stream ends; cheaper than an asyncio.wait
            # (two tasks and callbacks) for every idle wait, once per loop turn.
            ended.add_done_callback(lambda _f: p.event.set())
            try:
                while not self._closed:
                    if ended.done():
                        ended.result()  # raises the stream's error
                        return
                    if not p.queue:
                        p.event.clear()
                        await p.event.wait()
                        continue
                    await call.write(raft_pb2.RaftBatch(
                        cluster_id=self.cluster_id, from_node=self.node_id, to_node=p.peer_id,
                        payload=encode_batch(_take(p.queue))))
                    self._connected(p, "grpc")
                    self.sent_batches += 1
            finally:
                call.cancel()
                ended.cancel()

    def _drop_queued(self, p: _Peer) -> None:
        gids: set[int] = set()
        while p.queue:
            gids.update(_gids(p.queue.popleft()))
            self.dropped_batches += 1
        if gids:
            self.on_unreachable(p.peer_id, sorted(gids))

    def status(self) -> dict[int, bool]:
        return {pid: p.connected for pid, p in sorted(self._peers.items())}


def _gids(items: Items) -> list[int]:
    return sorted({gid for gid, _ in items})


def _take(queue: deque[Items]) -> Items:
    """Pop queued batches, oldest first, into one (at least one batch, bounded)."""
    out = queue.popleft()
    if not queue:
        return out
    out = list(out)
    while queue and len(out) + len(queue[0]) <= MAX_MESSAGES_PER_WRITE:
        out.extend(queue.popleft())
    return out
