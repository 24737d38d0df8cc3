"""This node's view of the cluster: the metadata record, peer addresses, shard map.

The metadata group (group 0, see `kvstore.sharding.meta`) is the source of
truth. The host reloads the record from LMDB whenever group 0 applies
entries or installs a snapshot, and hands it to `ClusterView.update`; every
consumer reads from this one object:
- `addresses` is mutated in place (never replaced), because the transport,
  the Raft service and the snapshot sender share it;
- `map` is the shard map clients route by: the node table plus each shard's
  *target* replicas (placement over active nodes), versioned by the record's
  epoch. `client_map` refines it with what this node knows first-hand (the
  actual voters and leader of the groups it hosts), because during a replica
  move the leader may sit on a replica that is no longer a target.

Only ever touched on the event loop thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import grpc

from kvstore.errors import ConfigError
from kvstore.logging import get_logger
from kvstore.proto import admin_pb2, admin_pb2_grpc
from kvstore.proto_conv import shard_map_from_proto
from kvstore.raft import StateRole
from kvstore.sharding import DEFAULT_VNODES, RingSpec, ShardInfo, ShardMap
from kvstore.sharding.errors import ShardingError
from kvstore.sharding.meta import META_GROUP, META_KEY, ClusterMeta, Targets
from kvstore.statemachine import StateMachine
from kvstore.storage import NodeStore
from kvstore.storage.kvdata import kv_put
from kvstore.storage.layout import group_prefix

log = get_logger("kvstore.cluster_view")

Listener = Callable[[ClusterMeta], None]


def load_meta(store: NodeStore, sm: StateMachine) -> ClusterMeta | None:
    """The record in this node's replica of group 0, or None (no replica / not yet)."""
    if not store.has_group(META_GROUP):
        return None
    with store.read() as txn:
        raw = sm.get(txn, META_GROUP, META_KEY)
    if raw is None:
        return None
    try:
        return ClusterMeta.decode(raw)
    except ShardingError as exc:
        log.error("meta.undecodable", error=str(exc))
        return None


def seed_meta(store: NodeStore, meta: ClusterMeta) -> None:
    """Write the initial record into group 0's data (first boot, before bootstrapping it)."""
    with store.write() as w:
        kv_put(w.txn, store.kv_db, group_prefix(META_GROUP), META_KEY, meta.encode())


def map_from_meta(cluster_id: str, meta: ClusterMeta) -> ShardMap:
    shards = tuple(ShardInfo(s, meta.targets(s).voters) for s in range(1, meta.shard_count + 1))
    return ShardMap(cluster_id, meta.epoch, RingSpec(meta.shard_count, DEFAULT_VNODES),
                    meta.addresses(), shards)


async def fetch_cluster_map(seeds: list[str], cluster_id: str, timeout_s: float) -> ShardMap:
    """The shard map of the cluster `seeds` belong to (retried until `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    errors: dict[str, str] = {}
    while time.monotonic() < deadline:
        for addr in seeds:
            try:
                async with grpc.aio.insecure_channel(addr) as ch:
                    info = await admin_pb2_grpc.AdminStub(ch).ClusterInfo(
                        admin_pb2.ClusterInfoRequest(cluster_id=cluster_id), timeout=2.0)
                return shard_map_from_proto(info)
            except grpc.aio.AioRpcError as exc:
                errors[addr] = exc.details() or exc.code().name
        await asyncio.sleep(0.5)
    raise ConfigError("no seed answered: " + "; ".join(f"{a}: {e}" for a, e in errors.items()))


class ClusterView:
    def __init__(self, cluster_id: str, node_id: int, addresses: dict[int, str],
                 shard_map: ShardMap, meta: ClusterMeta | None) -> None:
        self.cluster_id = cluster_id
        self.node_id = node_id
        self.addresses = addresses
        self.map = shard_map
        self.meta = meta
        self._listeners: list[Listener] = []
        self._targets: dict[int, Targets] = {}
        if meta is not None:
            self._merge_addresses(meta)

    @property
    def epoch(self) -> int:
        return self.map.epoch

    def subscribe(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def targets(self, gid: int) -> Targets | None:
        """Target placement of `gid` under the current record (cached per epoch)."""
        if self.meta is None:
            return None
        t = self._targets.get(gid)
        if t is None:
            t = self._targets[gid] = self.meta.targets(gid)
        return t

    def update(self, meta: ClusterMeta) -> None:
        """Adopt a newer record (older or equal epochs are ignored)."""
        if self.meta is not None and meta.epoch <= self.meta.epoch:
            return
        self.meta = meta
        self._targets = {}
        self._merge_addresses(meta)
        self.map = map_from_meta(self.cluster_id, meta)
        log.info("meta.updated", epoch=meta.epoch, active=meta.active(),
                 nodes=len(meta.nodes))
        for fn in self._listeners:
            fn(meta)

    def adopt_map(self, m: ShardMap) -> None:
        """A joining node's first map (fetched from a seed) until group 0 reaches it."""
        for nid, addr in m.nodes.items():
            if nid != self.node_id:
                self.addresses.setdefault(nid, addr)
        self.map = m

    def _merge_addresses(self, meta: ClusterMeta) -> None:
        for nid, addr in meta.addresses().items():
            if nid != self.node_id:
                # A peer's address in a local config (e.g. through a proxy) wins.
                self.addresses.setdefault(nid, addr)

    def client_map(self, groups: dict[int, tuple[StateRole, int, list[int]]]) -> ShardMap:
        """`map` with first-hand voters and leaders of hosted groups (gid -> role, leader, voters)."""
        m = self.map
        shards = list(m.shards)
        for gid, (_role, leader, voters) in groups.items():
            if not 1 <= gid <= len(shards) or self.node_id not in voters:
                continue  # stale replica: it knows nothing current
            target = shards[gid - 1].replicas
            order = [n for n in target if n in voters] + [n for n in voters if n not in target]
            if any(n not in m.nodes for n in order):
                continue
            hint = leader if leader in order else 0
            shards[gid - 1] = ShardInfo(gid, tuple(order), hint)
        return dataclasses.replace(m, shards=tuple(shards))
