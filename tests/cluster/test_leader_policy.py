"""Leader policies on real node processes.

PACK gathers every shard's leadership on the lowest-id node, moves it to the
next node while that one is down and back when it returns; `kvctl leader
policy` switches a running cluster, and bad policies get clear errors.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvstore.client.sync import SyncKVClient
from kvstore.cluster.admin import preferred_leader, set_leader_policy
from kvstore.cluster.local import LocalCluster, free_port
from kvstore.cluster.probe import cluster_status, node_status
from kvstore.errors import InvalidArgument
from tests.cluster.conftest import _dump_logs, start_cluster
from tests.cluster.test_node import kvctl


def _leaders(endpoints: list[str]) -> dict[int, int]:
    return {s["id"]: s["leader"] for s in cluster_status(endpoints)["shards"]}


def _wait_all_led_by(endpoints: list[str], node: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    leaders = _leaders(endpoints)
    while time.monotonic() < deadline:
        leaders = _leaders(endpoints)
        if len(leaders) == 9 and set(leaders.values()) == {node}:
            return
        time.sleep(0.2)
    raise AssertionError(f"groups not all led by node {node}: {leaders}")


def test_pack_gathers_leaders_and_follows_the_first_node_through_a_crash(
        tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", extra={"leader_policy": "pack"})
    try:
        _wait_all_led_by(c.endpoints, 1)
        with SyncKVClient(c.endpoints) as kv:
            kv.put(b"before", b"crash")
        c.kill(1)
        # Shards that elected node 3 hand leadership to node 2, the next in line.
        _wait_all_led_by(c.endpoints[1:], 2)
        with SyncKVClient(c.endpoints[1:]) as kv:
            kv.put(b"during", b"outage")
        c.start(1)
        _wait_all_led_by(c.endpoints, 1)
        with SyncKVClient(c.endpoints) as kv:
            assert kv.get(b"before") == b"crash"
            assert kv.get(b"during") == b"outage"
    except Exception:
        _dump_logs(c)
        raise
    finally:
        c.stop()


def test_kvctl_switches_a_running_cluster_between_policies(cluster3: LocalCluster) -> None:
    r = kvctl(cluster3, "leader", "policy")
    assert r.returncode == 0 and r.stdout.strip() == "leader policy: spread", r.stderr
    spread = {s["id"]: s["target"][0] for s in cluster_status(cluster3.endpoints)["shards"]}
    assert len(set(spread.values())) > 1

    r = kvctl(cluster3, "leader", "policy", "pack")
    assert r.returncode == 0, r.stderr
    assert "leader policy pack (lowest id first) (metadata epoch 2)" in r.stdout
    assert set(_leaders(cluster3.endpoints).values()) == {1}  # it waited for the moves

    r = kvctl(cluster3, "leader", "policy", "pack", "--node", "3")
    assert r.returncode == 0, r.stderr
    assert set(_leaders(cluster3.endpoints).values()) == {3}
    st = cluster_status(cluster3.endpoints)
    assert (st["leader_policy"], st["leader_node"]) == ("pack", 3) and not st["problems"]
    assert kvctl(cluster3, "leader", "policy").stdout.strip() == (
        "leader policy: pack (node 3 first)")

    r = kvctl(cluster3, "leader", "policy", "spread")
    assert r.returncode == 0, r.stderr
    assert _leaders(cluster3.endpoints) == spread


@pytest.mark.parametrize(("policy", "node", "message"), [
    ("", 0, "expected spread or pack"),
    ("random", 0, "expected spread or pack"),
    ("spread", 2, "needs the pack policy"),
    ("pack", 9, "must be an active node"),
])
def test_bad_policies_are_invalid_argument(cluster3: LocalCluster, policy: str, node: int,
                                           message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        set_leader_policy(cluster3.endpoints, policy, node, timeout=10)
    assert cluster_status(cluster3.endpoints)["leader_policy"] == "spread"


def test_kvctl_reports_bad_policies(cluster3: LocalCluster) -> None:
    r = kvctl(cluster3, "leader", "policy", "random")
    assert r.returncode == 2 and "'random' is not one of" in r.stderr
    r = kvctl(cluster3, "leader", "policy", "pack", "--node", "9")
    assert r.returncode == 1
    assert "error: the first leader must be an active node" in r.stderr


def _row(target: list[int], down: set[int]) -> dict[str, object]:
    return {"target": target, "replicas": [{"node": n, "up": n not in down} for n in target]}


@pytest.mark.parametrize(("pack", "down", "expected"), [
    (False, set(), 2),
    (False, {2}, 0),     # spread waits for the first replica only: anyone may lead
    (True, {2}, 1),
    (True, {2, 1}, 3),
    (True, {1, 2, 3}, 0),
])
def test_preferred_leader_mirrors_the_balancer(pack: bool, down: set[int],
                                               expected: int) -> None:
    assert preferred_leader(_row([2, 1, 3], down), pack) == expected


def test_the_node_flag_sets_the_policy_of_a_new_cluster(tmp_path: Path) -> None:
    port = free_port()
    addr = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvstore.server.main", "--node-id", "1", "--listen", addr,
         "--peers", f"1={addr}", "--data-dir", str(tmp_path / "n1"), "--shards", "2",
         "--replication", "1", "--leader-policy", "pack"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while (st := node_status(addr)) is None or not st.leader_policy:
            assert time.monotonic() < deadline and proc.poll() is None, "node did not start"
            time.sleep(0.2)
        assert st.leader_policy == "pack"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    bad = subprocess.run([sys.executable, "-m", "kvstore.server.main", "--leader-policy",
                          "random"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "'random' is not one of" in bad.stderr
