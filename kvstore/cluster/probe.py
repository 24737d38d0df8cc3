"""Readiness probe: does every shard have one leader that its live replicas agree on?

Uses the Admin.Status RPC of each endpoint with a short deadline (sync gRPC,
so it can run from plain scripts and tests).
"""

from __future__ import annotations

import grpc

from kvstore.proto import admin_pb2, admin_pb2_grpc


def node_status(endpoint: str, timeout: float = 1.0) -> admin_pb2.StatusResponse | None:
    try:
        with grpc.insecure_channel(endpoint) as ch:
            return admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest(),
                                                      timeout=timeout)
    except grpc.RpcError:
        return None


def cluster_ready(endpoints: list[str], shards: int) -> tuple[bool, str]:
    """(ready, reason). Ready: each shard 1..shards has a leader, all reporters agree."""
    leaders: dict[int, set[int]] = {s: set() for s in range(1, shards + 1)}
    answered = 0
    for ep in endpoints:
        st = node_status(ep)
        if st is None:
            continue
        answered += 1
        for g in st.groups:
            if g.group_id in leaders:
                leaders[g.group_id].add(g.leader_id)
    if answered == 0:
        return False, "no node answered"
    for shard, seen in sorted(leaders.items()):
        if not seen:
            return False, f"shard {shard}: no replica answered"
        if 0 in seen or len(seen) != 1:
            return False, f"shard {shard}: no agreed leader yet (seen {sorted(seen)})"
    return True, f"{shards} shards led, {answered} of {len(endpoints)} nodes answered"


def cluster_info(endpoints: list[str], timeout: float = 2.0) -> admin_pb2.ClusterInfo | None:
    for ep in endpoints:
        try:
            with grpc.insecure_channel(ep) as ch:
                return admin_pb2_grpc.AdminStub(ch).ClusterInfo(admin_pb2.ClusterInfoRequest(),
                                                               timeout=timeout)
        except grpc.RpcError:
            continue
    return None


def cluster_status(endpoints: list[str]) -> dict[str, object]:
    """Nodes x shards view of the cluster plus a list of human-readable problems."""
    info = cluster_info(endpoints)
    if info is None:
        return {"nodes": [], "shards": [], "problems": [
            f"no endpoint answered ({', '.join(endpoints)}): is the cluster running?"]}
    statuses = {n.id: node_status(n.address) for n in info.nodes}
    nodes = [{"id": n.id, "address": n.address, "up": statuses[n.id] is not None}
             for n in info.nodes]
    shards: list[dict[str, object]] = []
    problems: list[str] = []
    for s in info.shards:
        replicas = []
        leaders: set[int] = set()
        # Static placement plus any node that hosts the group after conf changes.
        hosts = list(s.replicas) + sorted(
            nid for nid, st in statuses.items()
            if st and nid not in s.replicas and any(g.group_id == s.id for g in st.groups))
        for r in hosts:
            st = statuses.get(r)
            g = next((g for g in st.groups if g.group_id == s.id), None) if st else None
            if g is None:
                replicas.append({"node": r, "up": False})
                continue
            if r not in g.voters and r not in g.learners:
                continue  # removed from the group; its replica is idle
            leaders.add(g.leader_id)
            role = admin_pb2.RaftRole.Name(g.role).removeprefix("RAFT_ROLE_").lower()
            replicas.append({"node": r, "up": True,
                             "role": "learner" if r in g.learners else role,
                             "term": g.term, "commit": g.commit_index,
                             "applied": g.applied_index, "last": g.last_index,
                             "snapshot": g.snapshot_index,
                             "log_entries": g.last_index - g.snapshot_index})
        down = sum(1 for r in replicas if not r["up"])
        leader = next(iter(leaders)) if len(leaders) == 1 else 0
        if not leader:
            problems.append(f"no leader for shard {s.id}: {down} of {len(replicas)} replicas "
                            "unreachable" if down else f"no agreed leader for shard {s.id} "
                            f"(replicas report {sorted(leaders)})")
        shards.append({"id": s.id, "leader": leader, "replicas": replicas})
    for n in nodes:
        if not n["up"]:
            problems.append(f"node {n['id']} ({n['address']}) is unreachable")
    return {"cluster_id": info.cluster_id, "epoch": info.epoch, "nodes": nodes,
            "shards": shards, "problems": problems}
