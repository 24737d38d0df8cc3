"""Inbound side of the peer transport: the `Raft.Stream` servicer.

Each peer keeps one client stream open to us. Every batch is checked (cluster
id, addressed to this node, from a known peer, well-formed payload) before
its messages reach the host; a bad batch ends that stream with a status
(the peer reconnects) and never reaches a Raft core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from kvstore.errors import InvalidArgument, WrongCluster
from kvstore.logging import get_logger
from kvstore.proto import raft_pb2
from kvstore.raft import Message
from kvstore.raft.codec import DecodeError
from kvstore.rpc_status import abort_with
from kvstore.server.host import MultiRaftHost
from kvstore.server.snapshots import SnapshotReceiver
from kvstore.transport.wire import decode_batch

log = get_logger("kvstore.raft_service")


class RaftService:
    def __init__(self, host: MultiRaftHost, cluster_id: str, peers: dict[int, str],
                 receiver: SnapshotReceiver | None = None) -> None:
        self.host = host
        self.receiver = receiver
        self.cluster_id = cluster_id
        self.peers = peers
        self.node_id = host.node_id
        self.rejected = 0
        self.tcp_port = 0  # the raw TCP listener's, once started (kvstore/transport/tcp.py)

    def accept(self, frm: int, items: list[tuple[int, Message]]) -> None:
        """A checked batch from peer `frm` (either transport)."""
        self.host.peer_heard(frm)
        if items:  # an empty batch is a node beat (server/liveness.py)
            self.host.deliver(items)

    def reject(self) -> None:
        self.rejected += 1

    async def Hello(self, request: raft_pb2.HelloRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> raft_pb2.HelloResponse:
        err = self._check(request)
        if err is not None:
            self.rejected += 1
            await abort_with(context, err)
        return raft_pb2.HelloResponse(node_id=self.node_id, tcp_port=self.tcp_port)

    async def Stream(self, request_iterator: AsyncIterator[raft_pb2.RaftBatch],
                     context: grpc.aio.ServicerContext[Any, Any]) -> raft_pb2.RaftStreamSummary:
        n = 0
        async for req in request_iterator:
            err = self._check(req)
            if err is None:
                try:
                    items = decode_batch(req.payload, req.from_node, self.node_id)
                except DecodeError as exc:
                    err = InvalidArgument(f"malformed raft batch from node {req.from_node}: {exc}")
                else:
                    self.accept(req.from_node, items)
                    n += 1
                    continue
            self.rejected += 1
            log.warning("raft.batch_rejected", peer=req.from_node, error=err.message)
            await abort_with(context, err)
        return raft_pb2.RaftStreamSummary(batches=n)

    async def InstallSnapshot(self, request_iterator: AsyncIterator[raft_pb2.SnapshotChunk],
                              context: grpc.aio.ServicerContext[Any, Any]
                              ) -> raft_pb2.InstallSnapshotResponse:
        if self.receiver is None:
            await abort_with(context, InvalidArgument("snapshots are not accepted here"))
        assert self.receiver is not None
        checked = self._checked_chunks(request_iterator)
        try:
            gid, msg, size = await self.receiver.receive(checked)
        except (InvalidArgument, WrongCluster) as exc:
            self.rejected += 1
            log.warning("snapshot.rejected", error=exc.message)
            await abort_with(context, exc)
        if self.host.group(gid) is None:
            await abort_with(context, InvalidArgument(f"no replica of group {gid} here"))
        self.host.deliver([(gid, msg)])
        log.info("snapshot.received", group=gid, frm=msg.frm, bytes=size,
                 index=msg.snapshot.meta.index if msg.snapshot else 0)
        return raft_pb2.InstallSnapshotResponse(group_id=gid, received_bytes=size)

    async def _checked_chunks(self, it: AsyncIterator[raft_pb2.SnapshotChunk]
                              ) -> AsyncIterator[raft_pb2.SnapshotChunk]:
        async for c in it:
            err = self._check(c)
            if err is not None:
                raise err
            yield c

    def _check(self, req: raft_pb2.RaftBatch | raft_pb2.SnapshotChunk | raft_pb2.HelloRequest
               ) -> InvalidArgument | WrongCluster | None:
        if req.cluster_id != self.cluster_id:
            return WrongCluster(f"peer is in cluster {req.cluster_id!r}, this node is in "
                                f"{self.cluster_id!r}")
        if req.to_node != self.node_id:
            return InvalidArgument(f"batch for node {req.to_node} reached node {self.node_id}")
        if req.from_node not in self.peers or req.from_node == self.node_id:
            return InvalidArgument(f"batch from unknown node {req.from_node}")
        return None
