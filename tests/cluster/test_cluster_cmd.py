"""`kvctl cluster up/down` as a user runs them: real node processes in a temp dir.

`up` on a directory that holds a stopped cluster restarts that cluster (same
data, same addresses); it used to write fresh configs with new ports over the
old data, so the nodes' stored node table named addresses nobody listened on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .test_node import KVCTL


def _run(*args: str, endpoints: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KVSTORE_ENDPOINTS": endpoints} if endpoints else None
    return subprocess.run([*KVCTL, *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_up_on_a_stopped_cluster_brings_it_back_with_its_data(tmp_path: Path) -> None:
    root = str(tmp_path / "kv")
    try:
        up = _run("cluster", "up", "--dir", root, "--nodes", "3", "--shards", "2")
        assert up.returncode == 0, up.stderr
        endpoints = up.stdout.strip().splitlines()[-1]
        assert _run("put", "kept", "yes", endpoints=endpoints).returncode == 0
        assert _run("cluster", "down", "--dir", root).returncode == 0

        clash = _run("cluster", "up", "--dir", root, "--shards", "4")
        assert clash.returncode != 0 and "holds a 2-shards cluster, not 4" in clash.stderr

        again = _run("cluster", "up", "--dir", root)
        assert again.returncode == 0, again.stderr
        assert "restarting the cluster" in again.stderr
        assert again.stdout.strip().splitlines()[-1] == endpoints  # same addresses
        got = _run("get", "kept", endpoints=endpoints)
        assert got.returncode == 0 and got.stdout.strip() == "yes", got.stderr

        busy = _run("cluster", "up", "--dir", root)
        assert busy.returncode != 0 and "already running" in busy.stderr
    finally:
        _run("cluster", "down", "--dir", root)


def test_a_cluster_never_gets_the_same_port_twice(tmp_path: Path) -> None:
    from kvstore.cluster.local import LocalCluster, free_ports

    taken = set(free_ports(100))
    assert len(taken) == 100
    assert not set(free_ports(20, taken=taken)) & taken
    c = LocalCluster.create(tmp_path / "c", 7, shards=1)
    ports = [p for n in c.nodes.values()
             for p in (int(n.addr.rsplit(":", 1)[1]), n.raft_port, n.link_port)]
    assert len(ports) == len(set(ports)) == 21
