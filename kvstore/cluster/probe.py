"""Readiness probe: does every shard have one leader that its live replicas agree on?

Uses the Admin.Status RPC of each endpoint with a short deadline (sync gRPC,
so it can run from plain scripts and tests).
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from kvstore.proto import admin_pb2, admin_pb2_grpc


def node_status(endpoint: str, timeout: float = 1.0) -> admin_pb2.StatusResponse | None:
    try:
        with grpc.insecure_channel(endpoint) as ch:
            return admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest(),
                                                      timeout=timeout)
    except grpc.RpcError:
        return None


def agreed_leader(statuses: Iterable[admin_pb2.StatusResponse | None], gid: int
                  ) -> tuple[int, admin_pb2.GroupStatus | None, str]:
    """(leader id or 0, the leader's view of the group, why not) for group `gid`.

    The leader is the replica claiming leadership in the highest term; its
    configuration says who the members are, and every member that answered
    must name it. Replicas removed from the group (possibly without knowing
    it, if they were down when it happened) are idle and not asked."""
    reports = [(st.node_id, g) for st in statuses if st is not None
               for g in st.groups if g.group_id == gid]
    if not reports:
        return 0, None, "no replica answered"
    claims = [(g.term, nid, g) for nid, g in reports if g.role == admin_pb2.RAFT_ROLE_LEADER]
    if not claims:
        return 0, None, "no leader yet"
    _, lead, lg = max(claims, key=lambda c: (c[0], c[1]))
    members = set(lg.voters) | set(lg.learners)
    seen = {g.leader_id for nid, g in reports if nid in members}
    if seen != {lead}:
        return 0, lg, f"no agreed leader yet (members name {sorted(seen)})"
    return lead, lg, ""


def cluster_ready(endpoints: list[str], shards: int) -> tuple[bool, str]:
    """(ready, reason). Ready: the metadata group (0) and each shard 1..shards has a
    leader that all answering members agree on (see `agreed_leader`)."""
    statuses = [node_status(ep) for ep in endpoints]
    answered = sum(st is not None for st in statuses)
    if answered == 0:
        return False, "no node answered"
    for gid in range(0, shards + 1):
        lead, _, why = agreed_leader(statuses, gid)
        if not lead:
            return False, f"group {gid}: {why}"
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
    removed = {r for st in statuses.values() if st for r in st.removed_nodes}
    newest = max((st for st in statuses.values() if st), key=lambda st: st.epoch, default=None)
    epoch = newest.epoch if newest else info.epoch
    nodes = [{"id": n.id, "address": n.address, "up": statuses[n.id] is not None,
              "state": "removed" if n.id in removed else "active"} for n in info.nodes]
    shards: list[dict[str, object]] = []
    problems: list[str] = []
    meta_row = admin_pb2.ShardInfo(id=0, replicas=sorted(
        nid for nid, st in statuses.items() if st and any(g.group_id == 0 for g in st.groups)))
    for s in [meta_row, *info.shards]:
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
        leader, lg, _ = agreed_leader(statuses.values(), s.id)
        if lg is not None:  # replicas the leader no longer counts are idle leftovers
            replicas = [r for r in replicas if not r["up"] or r["node"] in lg.voters
                        or r["node"] in lg.learners]
        if not leader:
            problems.append(f"no leader for shard {s.id}: {down} of {len(replicas)} replicas "
                            "unreachable" if down else f"no agreed leader for shard {s.id} "
                            f"(replicas report {sorted(leaders)})")
        moving = lg is not None and (sorted(lg.target_voters) != sorted(lg.voters) or sorted(
            lg.target_learners) != sorted(lg.learners))
        shards.append({"id": s.id, "leader": leader, "replicas": replicas,
                       "target": list(lg.target_voters) if lg else [], "moving": moving})
    for n in nodes:
        if not n["up"] and n["state"] == "active":
            problems.append(f"node {n['id']} ({n['address']}) is unreachable")
    return {"cluster_id": info.cluster_id, "epoch": epoch,
            "leader_policy": newest.leader_policy if newest else "",
            "leader_node": newest.leader_node if newest else 0, "nodes": nodes,
            "shards": shards, "problems": problems,
            "moves": sum(1 for s in shards if s["moving"])}

