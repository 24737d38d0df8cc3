"""`address_overrides` (client router) and per-node peer addresses (LocalCluster).

The chaos harness depends on both: clients must dial only their proxies, and
each node must dial its peers only through its own link proxies.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kvstore.client.breaker import CircuitBreaker
from kvstore.client.router import Router
from kvstore.cluster.local import LocalCluster
from kvstore.errors import ConfigError
from kvstore.sharding import ShardMap


def test_router_dials_the_override_for_every_overridden_node() -> None:
    m = ShardMap.build("c", {1: "10.0.0.1:1", 2: "10.0.0.2:1", 3: "10.0.0.3:1"}, 4, 3)
    r = Router(CircuitBreaker, {1: "127.0.0.1:9001", 2: "127.0.0.1:9002"})
    r.set_map(m)
    assert r.all_addresses() == ["127.0.0.1:9001", "127.0.0.1:9002", "10.0.0.3:1"]
    assert r.require_map().epoch == m.epoch  # same map, only where to dial changes
    leaders = {r.leader_addr(s) for s in r.shard_ids()}
    replicas = {r.replica_addr(s) for s in r.shard_ids() for _ in range(3)}
    assert leaders | replicas <= set(r.all_addresses())
    plain = Router(CircuitBreaker)
    plain.set_map(m)
    assert plain.all_addresses() == ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]


def _peers(c: LocalCluster, nid: int) -> dict[str, str]:
    """Where node `nid` dials each member: `[peers]` (the same on every node, the first
    cluster metadata is built from it) overridden by its own `[dial]` table."""
    raw = tomllib.loads(c.nodes[nid].config_path.read_text())
    own = {str(n): c.nodes[n].addr for n in c.nodes}
    assert raw["peers"] == own
    return {**raw["peers"], **raw.get("dial", {})}


def test_local_cluster_writes_each_nodes_own_peer_table(tmp_path: Path) -> None:
    c = LocalCluster.create(tmp_path, 3, shards=2)
    own = {str(n): c.nodes[n].addr for n in (1, 2, 3)}
    assert _peers(c, 1) == own
    c.set_peer_addresses({1: {2: "127.0.0.1:1012", 3: "127.0.0.1:1013"},
                          2: {1: "127.0.0.1:1021"}})
    assert _peers(c, 1) == {"1": own["1"], "2": "127.0.0.1:1012", "3": "127.0.0.1:1013"}
    assert _peers(c, 2) == {"1": "127.0.0.1:1021", "2": own["2"], "3": own["3"]}
    assert _peers(c, 3) == own
    for bad in ({1: {1: "127.0.0.1:1"}}, {9: {1: "127.0.0.1:1"}}, {1: {7: "127.0.0.1:1"}},
                {1: {2: "no-port"}}):
        with pytest.raises(ConfigError):
            c.set_peer_addresses(bad)
    assert _peers(c, 1)["2"] == "127.0.0.1:1012"  # a rejected change changes nothing
