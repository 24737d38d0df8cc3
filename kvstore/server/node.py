"""A kvstore node process: composition of store, host, transport and gRPC services.

Start order: open LMDB -> load the cluster metadata (group 0; on first boot
from the config; a joining node fetches the node table from a seed) -> create
the host (one Raft group per replica here) -> start peer streams -> start the
gRPC server (KV, Raft, Admin, Health) -> run the host loop. Metadata changes
applied by group 0 reach every part through `ClusterView` (new peers get a
stream).
`aclose()` reverses it; waiting clients get UNAVAILABLE, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kvstore.errors import ConfigError
from kvstore.logging import get_logger
from kvstore.proto import admin_pb2_grpc, kv_pb2_grpc, raft_pb2_grpc
from kvstore.server.admin_service import AdminService
from kvstore.server.cluster_view import (
    ClusterView,
    fetch_cluster_map,
    load_meta,
    map_from_meta,
)
from kvstore.server.config import NodeConfig
from kvstore.server.host import MultiRaftHost
from kvstore.server.kv_service import STREAM_MAX_INFLIGHT, KVService
from kvstore.server.kv_tcp import KVTcpServer
from kvstore.server.raft_service import RaftService
from kvstore.server.snapshots import SnapshotReceiver, SnapshotSender
from kvstore.sharding import ShardingError, ShardMap
from kvstore.sharding.meta import ClusterMeta, LeaderPolicy
from kvstore.statemachine import StateMachine
from kvstore.storage import NodeStore
from kvstore.transport.peers import PeerStreams
from kvstore.transport.tcp import TcpRaftServer

log = get_logger("kvstore.node")

# Streams one client connection may hold open at once. A client's batch stream,
# a peer's Raft stream and snapshot transfers need a few; beyond this, gRPC
# clients queue new calls until one ends, so one connection cannot make the
# node hold unbounded per-stream state.
MAX_CONCURRENT_STREAMS = 256

SERVER_OPTIONS = [
    ("grpc.max_concurrent_streams", MAX_CONCURRENT_STREAMS),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.so_reuseport", 0),
]


class Node:
    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.store = NodeStore(cfg.data_dir, sync=cfg.fsync, cluster_id=cfg.cluster_id.encode(),
                               node_id=cfg.node_id)
        self.sm = StateMachine(self.store, max_key_bytes=cfg.max_key_bytes,
                               max_value_bytes=cfg.max_value_bytes)
        self.view = self._initial_view(cfg)
        self.peers = PeerStreams(cfg.node_id, cfg.cluster_id, self.view.addresses,
                                 self._unreachable, tcp=cfg.peer_transport == "tcp",
                                 grpc_only=frozenset(cfg.dial) - frozenset(cfg.raft_dial),
                                 tcp_dial=cfg.raft_dial)
        self.view.subscribe(lambda _meta: self.peers.sync())
        self.snap_sender = SnapshotSender(
            cfg.node_id, cfg.cluster_id, self.view.addresses, self.store, self.sm,
            self._snapshot_done, cfg.snapshot_chunk_bytes, cfg.snapshot_rate_bytes)
        self.snap_receiver = SnapshotReceiver(cfg.node_id, cfg.data_dir)
        self.host = MultiRaftHost(cfg, self.store, self.sm, self.view, self.peers.send,
                                  self.snap_sender.send)
        self.server = grpc.aio.server(options=SERVER_OPTIONS)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.tcp: TcpRaftServer | None = None
        self.kv_tcp: KVTcpServer | None = None
        self._host_task: asyncio.Task[None] | None = None
        # Set if the host loop dies (e.g. a disk error): the process must stop,
        # never keep answering with a dead Raft loop behind it (fail-stop).
        self.failed = asyncio.Event()

    def _initial_view(self, cfg: NodeConfig) -> ClusterView:
        addresses = {**cfg.peers, **cfg.dial}  # dial overrides win (see ClusterView)
        meta = load_meta(self.store, self.sm)
        try:
            if meta is None and not cfg.join:
                meta = ClusterMeta.initial(cfg.peers, cfg.shards, cfg.replication,
                                           LeaderPolicy.parse(cfg.leader_policy))
            if meta is not None:
                if meta.shard_count != cfg.shards:
                    raise ConfigError(f"this cluster has {meta.shard_count} shards, the "
                                      f"config says {cfg.shards}")
                shard_map = map_from_meta(cfg.cluster_id, meta)
            else:  # joining: a placeholder until a seed answers (start())
                shard_map = ShardMap.build(cfg.cluster_id, cfg.peers, cfg.shards, 1)
        except ShardingError as exc:
            raise ConfigError(str(exc)) from exc
        return ClusterView(cfg.cluster_id, cfg.node_id, addresses, shard_map, meta)

    async def _fetch_seed_map(self) -> None:
        """A joining node without metadata yet learns the node table from a seed."""
        if self.view.meta is not None:
            return
        shard_map = await fetch_cluster_map(self.cfg.join, self.cfg.cluster_id,
                                            self.cfg.request_timeout_s * 6)
        if shard_map.ring.shard_count != self.cfg.shards:
            raise ConfigError(f"cluster {self.cfg.cluster_id!r} has "
                              f"{shard_map.ring.shard_count} shards, the config says "
                              f"{self.cfg.shards}")
        self.view.adopt_map(shard_map)
        log.info("node.join_seeded", nodes=sorted(shard_map.nodes), epoch=shard_map.epoch)

    def _snapshot_done(self, gid: int, peer: int, ok: bool) -> None:
        self.host.report_snapshot(gid, peer, ok)

    def _unreachable(self, peer: int, gids: list[int]) -> None:
        self.host.report_unreachable(peer, gids)

    async def start(self) -> None:
        kv = KVService(self.host, self.sm, self.view, self.cfg)
        kv_pb2_grpc.add_KVServicer_to_server(kv, self.server)
        host = self.cfg.listen.rsplit(":", 1)[0].strip("[]")
        raft = RaftService(self.host, self.cfg.cluster_id, self.view.addresses,
                           self.snap_receiver)
        raft_pb2_grpc.add_RaftServicer_to_server(raft, self.server)
        if self.cfg.peer_transport == "tcp":
            self.tcp = TcpRaftServer(self.cfg.node_id, self.cfg.cluster_id, self.view.addresses,
                                     raft.accept, raft.reject)
            raft.tcp_port = await self.tcp.start(host, self.cfg.raft_tcp_port)
        if self.cfg.client_transport == "tcp":
            self.kv_tcp = KVTcpServer(self.cfg.node_id, self.cfg.cluster_id, kv.multi_batch,
                                      STREAM_MAX_INFLIGHT)
            kv.tcp_port = await self.kv_tcp.start(host, self.cfg.client_tcp_port)
        admin_pb2_grpc.add_AdminServicer_to_server(
            AdminService(self.host, self.view, self.cfg.listen), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port(self.cfg.listen)
        if self.port == 0:
            raise ConfigError(f"cannot listen on {self.cfg.listen} (address in use?)")
        if self.cfg.join:
            await self._fetch_seed_map()
        self.peers.sync()
        await self.peers.start()
        self._host_task = asyncio.create_task(self.host.run(), name="multiraft-host")
        self._host_task.add_done_callback(self._host_done)
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info("node.started", node=self.cfg.node_id, listen=self.cfg.listen,
                 groups=len(self.host.groups), shards=self.cfg.shards)

    def _host_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("node.host_failed", node=self.cfg.node_id, error=repr(exc),
                  exc_info=(type(exc), exc, exc.__traceback__) if exc else None)
        self.failed.set()

    async def aclose(self) -> None:
        log.info("node.stopping", node=self.cfg.node_id)
        await self.health.enter_graceful_shutdown()
        if self.kv_tcp is not None:
            self.kv_tcp.close()
        self.host.stop()
        await self.server.stop(grace=1.0)
        if self.tcp is not None:
            self.tcp.close()
        if self._host_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._host_task
        await self.peers.aclose()
        await self.snap_sender.aclose()
        self.store.close()
        log.info("node.stopped", node=self.cfg.node_id)
