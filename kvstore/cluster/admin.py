"""Admin calls that must reach a shard's leader: find it, follow NOT_LEADER hints, retry.

Used by `kvctl leader transfer` and `kvctl member ...`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import grpc

from kvstore.cluster.probe import cluster_info
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
