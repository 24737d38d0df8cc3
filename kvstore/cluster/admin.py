"""Admin calls that must reach a leader: find it, follow NOT_LEADER hints, retry.

Used by `kvctl leader transfer`, `kvctl member ...` (a shard's leader) and
`kvctl node add|remove` and `kvctl leader policy` (the metadata group's leader).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from kvstore.cluster.probe import cluster_info, cluster_status
from kvstore.errors import InvalidArgument, KVError, NotLeader, Unavailable
from kvstore.proto import admin_pb2, admin_pb2_grpc
from kvstore.rpc_status import from_rpc_error

T = TypeVar("T")
Call = Callable[[admin_pb2_grpc.AdminStub], T]


def call_shard_leader(endpoints: list[str], shard: int, call: Call[T],
                      timeout: float = 10.0) -> T:
    """Run `call` against shard's leader; raise the last KVError after `timeout`."""
    info = cluster_info(endpoints)
    if info is None:
        raise Unavailable(f"no endpoint answered ({', '.join(endpoints)})")
    addrs = {n.id: n.address for n in info.nodes}
    shard_info = next((s for s in info.shards if s.id == shard), None)
    if shard_info is None:
        raise InvalidArgument(f"no shard {shard}: the cluster has shards 1..{len(info.shards)}")
    candidates = list(shard_info.replicas)
    target = shard_info.leader_hint or candidates[0]
    deadline = time.monotonic() + timeout
    last: KVError = Unavailable("no attempt made")
    attempt = 0
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(addrs[target]) as ch:
                return call(admin_pb2_grpc.AdminStub(ch))
        except grpc.RpcError as exc:
            last = from_rpc_error(exc)
        if isinstance(last, NotLeader) and last.leader_hint in addrs:
            target = last.leader_hint
        elif isinstance(last, InvalidArgument) and "has no replica" not in last.message:
            raise last
        else:
            attempt += 1
            target = candidates[attempt % len(candidates)]
            time.sleep(0.1)
    raise last


def set_clock_rate(addr: str, rate: float, timeout: float = 2.0) -> float:
    """Chaos: make the node at `addr` run its Raft clock at `rate` x real time."""
    with grpc.insecure_channel(addr) as ch:
        r = admin_pb2_grpc.AdminStub(ch).SetClockRate(
            admin_pb2.SetClockRateRequest(rate=rate), timeout=timeout)
    return float(r.rate)


_ACTIONS = {
    "add-learner": admin_pb2.MEMBERSHIP_ACTION_ADD_LEARNER,
    "promote": admin_pb2.MEMBERSHIP_ACTION_PROMOTE,
    "remove": admin_pb2.MEMBERSHIP_ACTION_REMOVE,
}


def change_member(endpoints: list[str], shard: int, action: str, node: int,
                  timeout: float = 10.0) -> admin_pb2.ChangeMembershipResponse:
    """One membership change on `shard`'s leader, retried (a lagging learner's
    promotion is refused until it caught up) until `timeout`."""
    req = admin_pb2.ChangeMembershipRequest(shard_id=shard, action=_ACTIONS[action],
                                            node_id=node)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call_shard_leader(endpoints, shard,
                                     lambda stub: stub.ChangeMembership(req, timeout=5),
                                     max(1.0, deadline - time.monotonic()))
        except Unavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


# --- node membership (the metadata group) -------------------------------------
def call_meta_leader(endpoints: list[str], call: Call[T], timeout: float = 10.0) -> T:
    """Run `call` against the metadata group's leader, following NOT_LEADER hints."""
    deadline = time.monotonic() + timeout
    targets = list(endpoints)
    last: KVError = Unavailable(f"no endpoint answered ({', '.join(endpoints)})")
    i = 0
    while time.monotonic() < deadline:
        addr = targets[i % len(targets)]
        try:
            with grpc.insecure_channel(addr) as ch:
                return call(admin_pb2_grpc.AdminStub(ch))
        except grpc.RpcError as exc:
            last = from_rpc_error(exc)
        if isinstance(last, NotLeader) and last.leader_addr:
            targets.insert((i + 1) % (len(targets) + 1), last.leader_addr)
        elif not isinstance(last, NotLeader | Unavailable):
            raise last
        else:
            time.sleep(0.1)
        i += 1
    raise last


def add_node(endpoints: list[str], address: str, timeout: float = 30.0
             ) -> admin_pb2.NodeChangeResponse:
    """Add the (running, joining) node at `address`: its id comes from its own Status."""
    deadline = time.monotonic() + min(timeout, 15.0)
    while True:  # a node just started may take a moment to listen
        try:
            with grpc.insecure_channel(address) as ch:
                st = admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest(), timeout=2)
            break
        except grpc.RpcError as exc:
            if time.monotonic() >= deadline:
                raise Unavailable(f"the new node at {address} does not answer: "
                                  f"{from_rpc_error(exc).message}; start it with join seeds "
                                  "first") from None
            time.sleep(0.3)
    req = admin_pb2.AddNodeRequest(cluster_id=st.cluster_id, node_id=st.node_id,
                                   address=address)
    return call_meta_leader(endpoints, lambda stub: stub.AddNode(req, timeout=10), timeout)


def remove_node(endpoints: list[str], node_id: int, timeout: float = 30.0
                ) -> admin_pb2.NodeChangeResponse:
    req = admin_pb2.RemoveNodeRequest(node_id=node_id)
    return call_meta_leader(endpoints, lambda stub: stub.RemoveNode(req, timeout=10), timeout)


def set_leader_policy(endpoints: list[str], policy: str, leader_node: int = 0,
                      timeout: float = 30.0) -> admin_pb2.SetLeaderPolicyResponse:
    req = admin_pb2.SetLeaderPolicyRequest(policy=policy, leader_node=leader_node)
    return call_meta_leader(endpoints, lambda stub: stub.SetLeaderPolicy(req, timeout=10),
                            timeout)


def preferred_leader(shard: dict[str, Any], pack: bool) -> int:
    """Who should lead a `cluster_status` shard row (0: no one in particular).

    Mirrors kvstore.server.placement_driver.balance_leaders: the first target
    voter, and with pack the first one that is up."""
    up = {r["node"] for r in shard["replicas"] if r["up"]}
    line = shard["target"] if pack else shard["target"][:1]
    return next((t for t in line if t in up), 0)


def wait_leaders(endpoints: list[str], timeout: float = 60.0, poll: float = 0.5
                 ) -> dict[str, Any]:
    """Wait until every group is led, by its preferred leader if any; the last status."""
    def off(st: dict[str, Any]) -> str | None:
        pack = st.get("leader_policy") == "pack"
        groups = [s["id"] for s in st["shards"] if not s["leader"]
                  or preferred_leader(s, pack) not in (0, s["leader"])]
        if groups or not st["shards"]:
            return f"groups {groups} are not led by their preferred leader"
        return None
    return _wait_status(endpoints, timeout, poll, off)


def wait_placement(endpoints: list[str], timeout: float = 120.0,
                   poll: float = 0.5) -> dict[str, Any]:
    """Wait until no replica move is in progress and every group is led; the last status."""
    def moving(st: dict[str, Any]) -> str | None:
        shards = st["shards"]
        if not st["moves"] and shards and all(s["leader"] and s["target"] for s in shards):
            return None
        return f"replica moves still in progress ({st.get('moves')} groups moving)"
    return _wait_status(endpoints, timeout, poll, moving)


def _wait_status(endpoints: list[str], timeout: float, poll: float,
                 problem: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
    """Poll `cluster_status` until `problem` finds none; the last status, else Unavailable."""
    deadline = time.monotonic() + timeout
    while True:
        st = cluster_status(endpoints)
        why = problem(st)
        if why is None:
            return st
        if time.monotonic() >= deadline:
            raise Unavailable(f"{why} after {timeout:.0f}s")
        time.sleep(poll)
