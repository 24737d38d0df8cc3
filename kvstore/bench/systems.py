"""Bringing up the systems under test for one benchmark phase, and always tearing them down.

`open_system(name, cfg, root)` is a context manager yielding a `SystemHandle`:
the client endpoints, the server pids (whose CPU time the runner samples; empty
when unknown, e.g. for `--endpoints`) and descriptive facts for the report.

- kvstore: a fresh `LocalCluster` of `cfg.nodes` real node processes (fsync on,
  the node default), or an existing cluster (`--cluster-dir`, pids known;
  `--endpoints`, pids unknown) that is checked for reachability, never stopped.
- etcd: a fresh `EtcdCluster` of `cfg.etcd_members` members; the handle's one
  endpoint is the leader's client address.
Clusters we start are stopped on every exit path, including KeyboardInterrupt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstore.bench.config import BenchConfig
from kvstore.bench.etcd.cluster import EtcdCluster, etcd_version
from kvstore.bench.stats import fs_type
from kvstore.cluster.admin import wait_leaders
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import cluster_info
from kvstore.errors import Unavailable

READY_TIMEOUT_S = 60.0
PORT_ATTEMPTS = 3


@dataclass(slots=True)
class SystemHandle:
    name: str
    endpoints: list[str]
    pids: list[int] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@contextmanager
def open_system(name: str, cfg: BenchConfig, root: Path,
                etcd_bin: str | None = None) -> Iterator[SystemHandle]:
    if name == "kvstore":
        with _kvstore(cfg, root) as handle:
            yield handle
    elif name == "etcd":
        if etcd_bin is None:
            raise Unavailable("no etcd binary to start")
        with _etcd(cfg, root, etcd_bin) as handle:
            yield handle
    else:
        raise Unavailable(f"unknown system {name!r}")


@contextmanager
def _kvstore(cfg: BenchConfig, root: Path) -> Iterator[SystemHandle]:
    if cfg.endpoints or cfg.cluster_dir:
        yield _existing_kvstore(cfg)
        return
    cluster = LocalCluster.create(root, cfg.nodes, shards=cfg.shards,
                                  extra={"leader_policy": cfg.leader_policy})
    try:
        cluster.start()
        cluster.wait_ready(READY_TIMEOUT_S)
        # Measure with leaders where the policy puts them, not where elections did.
        wait_leaders(cluster.endpoints, READY_TIMEOUT_S)
        yield SystemHandle("kvstore", cluster.endpoints,
                           [n.pid for n in cluster.nodes.values()],
                           {"nodes": cfg.nodes, "shards": cfg.shards,
                            "leader_policy": cfg.leader_policy,
                            "replication": cluster.replication, "fsync": True,
                            "data_fs": fs_type(root), "started_by_bench": True})
    finally:
        cluster.stop()


def _existing_kvstore(cfg: BenchConfig) -> SystemHandle:
    pids: list[int] = []
    if cfg.cluster_dir:
        cluster = LocalCluster.load(Path(cfg.cluster_dir))
        endpoints = cluster.endpoints
        pids = [n.pid for nid, n in sorted(cluster.nodes.items()) if cluster.alive(nid)]
    else:
        endpoints = list(cfg.endpoints)
    info = cluster_info(endpoints)
    if info is None:
        raise Unavailable(f"no kvstore endpoint answered ({', '.join(endpoints)}): "
                          "is the cluster running?")
    return SystemHandle("kvstore", endpoints, pids,
                        {"nodes": len(info.nodes), "shards": len(info.shards),
                         "started_by_bench": False,
                         "cpu_note": "" if pids else "server pids unknown: no CPU figures"})


def _start_etcd(cfg: BenchConfig, root: Path, binary: str) -> tuple[EtcdCluster, str]:
    """A ready etcd cluster and its leader; new ports if one was taken meanwhile."""
    attempt = 1
    while True:
        cluster = EtcdCluster(binary, root / f"try{attempt}", cfg.etcd_members)
        try:
            cluster.start()
            return cluster, cluster.wait_ready(READY_TIMEOUT_S)
        except Unavailable:
            clash = cluster.port_clash()
            cluster.stop()
            if not clash or attempt == PORT_ATTEMPTS:
                raise
        attempt += 1


@contextmanager
def _etcd(cfg: BenchConfig, root: Path, binary: str) -> Iterator[SystemHandle]:
    cluster, leader = _start_etcd(cfg, root, binary)
    try:
        yield SystemHandle("etcd", [leader], cluster.pids,
                           {"members": cfg.etcd_members, "version": etcd_version(binary),
                            "binary": binary, "fsync": True, "data_fs": fs_type(root),
                            "client_endpoint": "leader", "started_by_bench": True})
    finally:
        cluster.stop()
