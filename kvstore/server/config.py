"""Node configuration: from a TOML file, overridden by command-line flags.

Example `node.toml`:

    node_id = 1
    listen = "127.0.0.1:7001"
    data_dir = "data/n1"
    cluster_id = "local"
    shards = 8
    replication = 3
    tick_ms = 50
    election_ticks = 10
    heartbeat_ticks = 1
    quiesce_ticks = 20
    [peers]
    1 = "127.0.0.1:7001"
    2 = "127.0.0.1:7002"
    3 = "127.0.0.1:7003"

The initial members of a cluster must agree on peers, shards, replication
and leader_policy: on first boot each of them writes the same cluster metadata
(group 0, `kvstore.sharding.meta`) from them. After that, group 0 is the
source of truth for the node table and placement.

A node that joins a running cluster names seeds instead of peers:

    node_id = 4
    listen = "127.0.0.1:7004"
    data_dir = "data/n4"
    cluster_id = "local"
    join = ["127.0.0.1:7001", "127.0.0.1:7002"]

It bootstraps nothing; it learns the node table from a seed, then gets its
replicas (group 0 first) by snapshot once `kvctl node add` has added it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kvstore.errors import ConfigError
from kvstore.sharding import MAX_REPLICATION_FACTOR
from kvstore.sharding.meta import LEADER_POLICY_NAMES

# The ring holds shards x DEFAULT_VNODES points, capped by kvstore.sharding.
MAX_SHARDS = 8192


@dataclass(slots=True)
class NodeConfig:
    node_id: int
    listen: str
    data_dir: str
    peers: dict[int, str] = field(default_factory=dict)
    # Seed addresses of a running cluster this node joins (empty: an initial member).
    join: list[str] = field(default_factory=list)
    # Where THIS node dials some peers, when that differs from their address in
    # `peers` (e.g. through a proxy). `peers` must be identical on every initial
    # member: the first metadata record is built from it.
    dial: dict[int, str] = field(default_factory=dict)
    # Where THIS node dials some peers' raw TCP Raft listeners (e.g. through a
    # proxy), instead of asking them with Raft.Hello.
    raft_dial: dict[int, str] = field(default_factory=dict)
    cluster_id: str = "kvstore"
    shards: int = 8
    replication: int = 3
    # Where shard leaders sit (kvstore.sharding.meta.LeaderPolicy): "spread" or
    # "pack". Initial members write it into the first metadata record; after
    # that `kvctl leader policy` changes it for the whole cluster.
    leader_policy: str = "spread"
    tick_ms: int = 50
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    # An idle shard's leader stops heartbeating after this many idle ticks
    # (kvstore/raft/quiesce.py); peers then exchange one node beat per pair
    # instead (server/liveness.py). 0 keeps every group heartbeating.
    quiesce_ticks: int = 20
    # A leader whose commit index moved tells followers with its next append, or
    # after this many milliseconds if none goes out (kvstore/server/notices.py);
    # with follower_apply_delay_ms it bounds how far reads served by followers lag.
    # 0: at once, as etcd does.
    commit_notice_delay_ms: float = 5.0
    # A follower may hold committed entries back this many milliseconds and apply
    # several rounds in one transaction (kvstore/server/apply_delay.py); reads it
    # serves at `stale` see writes that much later. 0: apply with the next append.
    follower_apply_delay_ms: float = 40.0
    max_key_bytes: int = 4096
    max_value_bytes: int = 1 << 20
    max_batch_ops: int = 4096
    max_pending_proposals: int = 100_000
    max_inbox_messages: int = 100_000
    request_timeout_s: float = 5.0
    # Snapshot + compact a group once it applied this many entries past its last
    # snapshot, keeping the newest log_retain_entries so slightly lagging
    # followers still catch up from the log.
    snapshot_entries: int = 10_000
    log_retain_entries: int = 1_000
    snapshot_chunk_bytes: int = 1 << 20
    snapshot_rate_bytes: int = 64 << 20
    fsync: bool = True
    # Shard leaders move replicas to the metadata's target placement on their own.
    # False: group membership is managed by hand (kvctl member ...), as when an
    # operator pauses a scheduler.
    rebalance: bool = True
    # Raft messages between nodes: "tcp" (a raw TCP link per peer, on
    # raft_tcp_port of the listen host; 0 = any free port, peers ask for it
    # with Raft.Hello) or "grpc" (a Raft.Stream per peer). Peers named in
    # `dial` but not in `raft_dial` are reached by gRPC (a proxy of the gRPC
    # port cannot carry the raw link).
    peer_transport: str = "tcp"
    raft_tcp_port: int = 0
    # Client batches: "tcp" also offers a raw TCP link (kvstore/server/kv_tcp.py)
    # on client_tcp_port of the listen host (0 = any free port; clients ask for
    # it with KV.LinkInfo), "grpc" only the MultiBatchStream.
    client_transport: str = "tcp"
    client_tcp_port: int = 0
    # Chaos tests only: accept Admin.SetClockRate (clock-skew faults).
    allow_fault_injection: bool = False
    log_level: str = "info"
    log_json: bool = False

    def validate(self) -> None:
        if self.node_id <= 0:
            raise ConfigError("node_id must be a positive integer")
        if self.join:
            self._validate_join()
        if self.node_id not in self.peers:
            raise ConfigError(f"peers must include this node ({self.node_id})")
        if self.peers[self.node_id] != self.listen and not self.listen.endswith(":0"):
            raise ConfigError(f"peers[{self.node_id}] ({self.peers[self.node_id]}) "
                              f"differs from listen ({self.listen})")
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ConfigError(f"shards must be between 1 and {MAX_SHARDS}")
        limit = MAX_REPLICATION_FACTOR if self.join else min(len(self.peers),
                                                             MAX_REPLICATION_FACTOR)
        if not 1 <= self.replication <= limit:
            raise ConfigError(f"replication must be between 1 and {limit} (peers: "
                              f"{len(self.peers)}, at most {MAX_REPLICATION_FACTOR})")
        if self.leader_policy not in LEADER_POLICY_NAMES:
            raise ConfigError(f"leader_policy must be 'spread' or 'pack', got "
                              f"{self.leader_policy!r}")
        if self.tick_ms < 1:
            raise ConfigError("tick_ms must be at least 1")
        if self.election_ticks <= self.heartbeat_ticks or self.heartbeat_ticks < 1:
            raise ConfigError("need 1 <= heartbeat_ticks < election_ticks")
        if self.peer_transport not in ("tcp", "grpc"):
            raise ConfigError(f"peer_transport must be 'tcp' or 'grpc', got "
                              f"{self.peer_transport!r}")
        if self.client_transport not in ("tcp", "grpc"):
            raise ConfigError(f"client_transport must be 'tcp' or 'grpc', got "
                              f"{self.client_transport!r}")
        for name in ("raft_tcp_port", "client_tcp_port"):
            port = getattr(self, name)
            if type(port) is not int or not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be between 0 and 65535")
        if not 0 <= self.commit_notice_delay_ms <= 1000:
            raise ConfigError("commit_notice_delay_ms must be between 0 and 1000")
        if not 0 <= self.follower_apply_delay_ms <= 10_000:
            raise ConfigError("follower_apply_delay_ms must be between 0 and 10000")
        if self.quiesce_ticks < 0:
            raise ConfigError("quiesce_ticks must be >= 0 (0: never quiesce)")
        if self.snapshot_entries < 1 or self.log_retain_entries < 0:
            raise ConfigError("need snapshot_entries >= 1 and log_retain_entries >= 0")
        if self.snapshot_chunk_bytes < 1024 or self.snapshot_rate_bytes < 1024:
            raise ConfigError("snapshot_chunk_bytes and snapshot_rate_bytes must be >= 1024")
        for nid, addr in [*self.peers.items(), *self.dial.items(), *self.raft_dial.items()]:
            if nid <= 0 or ":" not in addr:
                raise ConfigError(f"peer {nid}: address must be host:port, got {addr!r}")
        if self.node_id in self.dial or self.node_id in self.raft_dial:
            raise ConfigError("dial cannot override this node's own address")


    def _validate_join(self) -> None:
        if not isinstance(self.join, list) or not all(
                isinstance(a, str) and ":" in a for a in self.join):
            raise ConfigError("join must be a list of seed addresses HOST:PORT")
        others = set(self.peers) - {self.node_id}
        if others:
            raise ConfigError("a joining node takes its peers from the cluster; "
                              f"drop peers {sorted(others)} or drop join")
        self.peers = {self.node_id: self.listen}


def parse_peers(spec: str) -> dict[int, str]:
    """`1=127.0.0.1:7001,2=127.0.0.1:7002` -> {1: "127.0.0.1:7001", 2: ...}."""
    peers: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        nid, sep, addr = part.partition("=")
        if not sep or not nid.strip().isdigit():
            raise ConfigError(f"bad peer {part!r}: expected ID=HOST:PORT")
        peers[int(nid)] = addr.strip()
    return peers


def load_config(path: str | None, overrides: dict[str, Any]) -> NodeConfig:
    """Merge a TOML file (if any) with flag overrides (None values are ignored)."""
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML in {path}: {exc}") from exc
    for table in ("peers", "dial", "raft_dial"):
        if table in raw:
            raw[table] = _peers_from_toml(raw[table])
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(NodeConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
    for key in ("node_id", "listen", "data_dir"):
        if key not in raw:
            raise ConfigError(f"missing required setting: {key}")
    _check_scalar_types(raw)
    try:
        cfg = NodeConfig(**raw)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    cfg.validate()
    return cfg


# TOML gives ints, floats, bools and strings as such; a float setting takes an int.
_SCALARS: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"), "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"), "str": ((str,), "a string")}


def _check_scalar_types(raw: dict[str, Any]) -> None:
    """A value of the wrong type fails here, by name, not as a TypeError in validate."""
    for f in fields(NodeConfig):
        spec = _SCALARS.get(str(f.type))
        if spec is None or f.name not in raw:
            continue
        want, what = spec
        v = raw[f.name]
        if not isinstance(v, want) or (isinstance(v, bool) and bool not in want):
            raise ConfigError(f"{f.name} must be {what}, got {v!r}")


def _peers_from_toml(v: Any) -> dict[int, str]:
    if isinstance(v, str):
        return parse_peers(v)
    if not isinstance(v, dict):
        raise ConfigError("peers must be a table of ID = \"HOST:PORT\"")
    try:
        return {int(k): str(a) for k, a in v.items()}
    except ValueError as exc:
        raise ConfigError(f"peer ids must be integers: {exc}") from exc
