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
