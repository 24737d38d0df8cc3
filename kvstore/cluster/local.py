"""Local clusters of real `kvstore-node` processes on 127.0.0.1 (tests, kvctl, chaos, bench).

`LocalCluster` writes one TOML config per node under `root/nN/`, starts each
node as its own process (new session, so a signal reaches only that node),
records `node.pid` and `node.log` there, and can kill (-9), pause (SIGSTOP),
resume and restart nodes. `cluster.json` in the root lets `kvctl cluster
down` find the processes again from another command.

`set_peer_addresses` lets a node dial its peers at other addresses than their
listen addresses (the chaos harness puts a fault-injecting proxy on every
link), through the node config's `[dial]` table, and their raw TCP Raft
listeners (each node gets a fixed `raft_tcp_port` here) through
`[raft_dial]`; `[peers]` stays the same listen addresses on every node (the
first cluster metadata is built from it).

Ports are ephemeral: each is taken by binding port 0 and releasing it just
before the node starts (a small race that retries cover).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kvstore.errors import ConfigError, Unavailable

_PORT_FLOOR = 10000


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free now, for a listener started later (and restarted after kills).

    Drawn below the kernel's ephemeral range: a port the kernel itself chose
    (bind to 0) is the kind it also gives outgoing connections, so between now
    and the node's (re)start a client socket could take it ("address already
    in use": seen in CI). Falls back to a kernel-chosen port."""
    rng = random.SystemRandom()
    top = _ephemeral_floor()
    for _ in range(64 if top - _PORT_FLOOR > 1000 else 0):
        port = rng.randrange(_PORT_FLOOR, top)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int, taken: Iterable[int] = ()) -> list[int]:
    """`n` distinct free ports, none of them in `taken`. Each `free_port` is free
    when drawn but not reserved, so two draws for one cluster could return the
    same port (seen in CI: one node's Raft port was another's gRPC port)."""
    seen = set(taken)
    out: list[int] = []
    for _ in range(100 * n):
        port = free_port()
        if port not in seen:
            seen.add(port)
            out.append(port)
            if len(out) == n:
                return out
    raise Unavailable(f"could not find {n} distinct free ports")


@dataclass
class NodeProc:
    node_id: int
    addr: str
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    pid: int = 0
    # Seeds of the running cluster, for a node added after creation (`add_node`).
    join: list[str] = field(default_factory=list)
    raft_port: int = 0  # its raw TCP Raft listener (0: any free port)
    link_port: int = 0  # its raw client-link listener (0: any free port)

    @property
    def raft_addr(self) -> str:
        return f"127.0.0.1:{self.raft_port}"

    @property
    def link_addr(self) -> str:
        return f"127.0.0.1:{self.link_port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "node.toml"

    @property
    def log_path(self) -> Path:
        return self.dir / "node.log"


@dataclass
class LocalCluster:
    root: Path
    nodes: dict[int, NodeProc] = field(default_factory=dict)
    shards: int = 8
    replication: int = 3
    cluster_id: str = "local"
    tick_ms: int = 50
    election_ticks: int = 10
    extra: dict[str, object] = field(default_factory=dict)
    #: node id -> {peer id -> address that node dials for that peer}
    peer_addrs: dict[int, dict[int, str]] = field(default_factory=dict)
    #: node id -> {peer id -> address that node dials for that peer's raw Raft port}
    raft_peer_addrs: dict[int, dict[int, str]] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, n: int, *, shards: int = 8, replication: int = 3,
               tick_ms: int = 50, election_ticks: int = 10, cluster_id: str = "local",
               extra: dict[str, object] | None = None) -> LocalCluster:
        if n < 1:
            raise ConfigError("a cluster needs at least one node")
        root.mkdir(parents=True, exist_ok=True)
        c = cls(root, {}, shards, min(replication, n), cluster_id, tick_ms, election_ticks,
                extra or {})
        for nid in range(1, n + 1):
            d = root / f"n{nid}"
            d.mkdir(exist_ok=True)
            grpc_port, raft_port, link_port = free_ports(3, c._ports())
            c.nodes[nid] = NodeProc(nid, f"127.0.0.1:{grpc_port}", d, raft_port=raft_port,
                                    link_port=link_port)
        for node in c.nodes.values():
            node.config_path.write_text(c._toml(node))
        c.save()
        return c

    @classmethod
    def load(cls, root: Path) -> LocalCluster:
        meta = root / "cluster.json"
        if not meta.exists():
            raise ConfigError(f"no cluster in {root} (missing cluster.json)")
        raw = json.loads(meta.read_text())
        c = cls(root, {}, raw["shards"], raw["replication"], raw["cluster_id"])
        for nid_s, info in raw["nodes"].items():
            nid = int(nid_s)
            c.nodes[nid] = NodeProc(nid, info["addr"], root / f"n{nid}", None, info.get("pid", 0),
                                    info.get("join", []), info.get("raft_port", 0),
                                    info.get("link_port", 0))
        return c

    def save(self) -> None:
        raw = {
            "cluster_id": self.cluster_id, "shards": self.shards,
            "replication": self.replication,
            "nodes": {str(n.node_id): {"addr": n.addr, "pid": n.pid, "join": n.join,
                                       "raft_port": n.raft_port, "link_port": n.link_port}
                      for n in self.nodes.values()},
        }
        (self.root / "cluster.json").write_text(json.dumps(raw, indent=2))

    def set_peer_addresses(self, overrides: dict[int, dict[int, str]],
                           raft: dict[int, dict[int, str]] | None = None) -> None:
        """Per node, the address it dials for each peer (`overrides`: gRPC; `raft`:
        raw TCP Raft listener); rewrites the configs.

        Takes effect when a node (re)starts. A peer not named keeps its listen
        address; a node cannot override its own entry."""
        for table in (overrides, raft or {}):
            _check_overrides(self, table)
        self.peer_addrs = {nid: dict(table) for nid, table in overrides.items()}
        self.raft_peer_addrs = {nid: dict(table) for nid, table in (raft or {}).items()}
        for node in self.nodes.values():
            node.config_path.write_text(self._toml(node))

    def _ports(self) -> set[int]:
        """The ports this cluster's nodes were given (gRPC, raw Raft and client link)."""
        return {int(n.addr.rsplit(":", 1)[1]) for n in self.nodes.values()} | {
            p for n in self.nodes.values() for p in (n.raft_port, n.link_port) if p}

    def add_node(self, nid: int | None = None) -> NodeProc:
        """A new node configured to join the running cluster (not started, not yet a member:
        `kvctl node add` / `kvstore.cluster.admin.add_node` makes it one)."""
        nid = nid if nid is not None else max(self.nodes, default=0) + 1
        if nid in self.nodes:
            raise ConfigError(f"node {nid} already exists in this cluster")
        d = self.root / f"n{nid}"
        d.mkdir(exist_ok=True)
        seeds = [n.addr for n in self.nodes.values()]
        grpc_port, raft_port, link_port = free_ports(3, self._ports())
        node = self.nodes[nid] = NodeProc(nid, f"127.0.0.1:{grpc_port}", d, join=seeds,
                                          raft_port=raft_port, link_port=link_port)
        node.config_path.write_text(self._toml(node))
        self.save()
        return node

    def _toml(self, node: NodeProc) -> str:
        members = [node] if node.join else list(self.nodes.values())
        peers = "\n".join(f'{n.node_id} = "{n.addr}"' for n in members)
        dial = _table(self.peer_addrs.get(node.node_id, {}))
        raft_dial = _table(self.raft_peer_addrs.get(node.node_id, {}))
        extra = "\n".join(f"{k} = {json.dumps(v)}" for k, v in self.extra.items())
        port = (f"raft_tcp_port = {node.raft_port}\n"
                if node.raft_port and "raft_tcp_port" not in self.extra else "")
        if node.link_port and "client_tcp_port" not in self.extra:
            port += f"client_tcp_port = {node.link_port}\n"
        return (
            f'node_id = {node.node_id}\nlisten = "{node.addr}"\n'
            f'data_dir = "{node.dir / "data"}"\ncluster_id = "{self.cluster_id}"\n'
            f"shards = {self.shards}\nreplication = {self.replication}\n"
            f"tick_ms = {self.tick_ms}\nelection_ticks = {self.election_ticks}\n{port}"
            f"{extra}\n{_join_line(node)}[peers]\n{peers}\n[dial]\n{dial}\n"
            f"[raft_dial]\n{raft_dial}\n"
        )

    @property
    def endpoints(self) -> list[str]:
        return [n.addr for n in self.nodes.values()]

    # --- process control ---------------------------------------------------
    def start(self, nid: int | None = None) -> None:
        for node in self._select(nid):
            if node.proc is not None and node.proc.poll() is None:
                continue
            with open(node.log_path, "ab") as logf:
                node.proc = subprocess.Popen(
                    [sys.executable, "-m", "kvstore.server.main", "--config",
                     str(node.config_path)],
                    stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            node.pid = node.proc.pid
            (node.dir / "node.pid").write_text(str(node.pid))
        self.save()

    def _select(self, nid: int | None) -> list[NodeProc]:
        if nid is None:
            return list(self.nodes.values())
        if nid not in self.nodes:
            raise ConfigError(f"no node {nid} in this cluster")
        return [self.nodes[nid]]

    def signal(self, nid: int, sig: signal.Signals) -> None:
        node = self.nodes[nid]
        if node.pid and _alive(node.pid):
            os.kill(node.pid, sig)

    def kill(self, nid: int) -> None:
        """SIGKILL: no shutdown, no flush — a crash."""
        self.signal(nid, signal.SIGKILL)
        self._reap(self.nodes[nid], 10.0)

    def pause(self, nid: int) -> None:
        self.signal(nid, signal.SIGSTOP)

    def resume(self, nid: int) -> None:
        self.signal(nid, signal.SIGCONT)

    def restart(self, nid: int) -> None:
        self.kill(nid)
        self.start(nid)

    def stop(self, nid: int | None = None, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), then SIGKILL after `timeout`."""
        for node in self._select(nid):
            if node.pid and _alive(node.pid):
                os.kill(node.pid, signal.SIGCONT)  # a paused node cannot handle SIGTERM
                os.kill(node.pid, signal.SIGTERM)
        for node in self._select(nid):
            self._reap(node, timeout)

    def _reap(self, node: NodeProc, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while node.pid and _alive(node.pid, node.proc):
            if time.monotonic() > deadline:
                os.kill(node.pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.02)
        if node.proc is not None:
            node.proc.wait(timeout=5)
        node.proc = None

    def alive(self, nid: int) -> bool:
        node = self.nodes[nid]
        return bool(node.pid) and _alive(node.pid, node.proc)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until every shard has a leader that all live replicas agree on."""
        from kvstore.cluster.probe import cluster_ready

        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            ok, last = cluster_ready(self.endpoints, self.shards)
            if ok:
                return
            for node in self.nodes.values():
                if node.proc is not None and node.proc.poll() is not None:
                    raise Unavailable(f"node {node.node_id} exited with "
                                      f"{node.proc.returncode}; see {node.log_path}")
            time.sleep(0.1)
        raise Unavailable(f"cluster not ready after {timeout:.0f}s: {last}")


def _alive(pid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped by us) still answers kill(0): check its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _join_line(node: NodeProc) -> str:
    return f"join = {json.dumps(node.join)}\n" if node.join else ""


def _table(entries: dict[int, str]) -> str:
    return "\n".join(f'{p} = "{a}"' for p, a in sorted(entries.items()))


def _check_overrides(c: LocalCluster, overrides: dict[int, dict[int, str]]) -> None:
    for nid, table in overrides.items():
        if nid not in c.nodes:
            raise ConfigError(f"no node {nid} in this cluster")
        for peer, addr in table.items():
            if peer not in c.nodes or peer == nid:
                raise ConfigError(f"node {nid}: cannot override the address of {peer}")
            if ":" not in addr:
                raise ConfigError(f"node {nid}: peer {peer} address must be host:port, "
                                  f"got {addr!r}")
