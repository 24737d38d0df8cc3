"""The `Admin` servicer: node status, the cluster's shard map, leadership transfer."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from kvstore.errors import (
    InvalidArgument,
    NotLeader,
    PermissionDenied,
    Timeout,
    Unavailable,
    WrongCluster,
)
from kvstore.proto import admin_pb2, admin_pb2_grpc
from kvstore.proto_conv import raft_role_to_proto, shard_map_to_proto
from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ProposalDropped,
    StateRole,
)
from kvstore.rpc_status import map_errors
from kvstore.server.group import Group
from kvstore.server.host import MultiRaftHost
from kvstore.sharding import ShardMap

_ACTIONS = {
    admin_pb2.MEMBERSHIP_ACTION_ADD_LEARNER: ConfChangeType.ADD_LEARNER,
    admin_pb2.MEMBERSHIP_ACTION_PROMOTE: ConfChangeType.ADD_NODE,
    admin_pb2.MEMBERSHIP_ACTION_REMOVE: ConfChangeType.REMOVE_NODE,
}
# A learner may be promoted only when it is at most this many entries behind.
MAX_PROMOTE_LAG = 100
MIN_CLOCK_RATE, MAX_CLOCK_RATE = 0.1, 10.0


class AdminService(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(self, host: MultiRaftHost, shard_map: ShardMap, address: str) -> None:
        self.host = host
        self.shard_map = shard_map
        self.address = address

    def current_map(self) -> ShardMap:
        """The static map with this node's freshest leader hints."""
        m = self.shard_map
        for gid, g in self.host.groups.items():
            lead = g.core.leader_id
            if lead and lead != m.shard(gid).leader_hint and lead in m.shard(gid).replicas:
                m = m.with_leader(gid, lead)
        self.shard_map = m
        return m

    @map_errors
    async def Status(self, request: admin_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> admin_pb2.StatusResponse:
        groups = []
        for gid, g in sorted(self.host.groups.items()):
            c = g.core
            cs = c.conf_state()
            groups.append(admin_pb2.GroupStatus(
                group_id=gid, role=raft_role_to_proto(c.role), term=c.term,
                leader_id=c.leader_id, commit_index=c.commit_index,
                applied_index=c.applied_index, last_index=c.last_index,
                snapshot_index=self.host.store.group(gid).snapshot().meta.index,
                voters=sorted(set(cs.voters) | set(cs.voters_outgoing)), learners=cs.learners,
                quiesced=c.quiesced,
            ))
        return admin_pb2.StatusResponse(node_id=self.host.node_id, address=self.address,
                                        cluster_id=self.shard_map.cluster_id, groups=groups)

    @map_errors
    async def ClusterInfo(self, request: admin_pb2.ClusterInfoRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> admin_pb2.ClusterInfo:
        if request.cluster_id and request.cluster_id != self.shard_map.cluster_id:
            raise WrongCluster(f"this node is in cluster {self.shard_map.cluster_id!r}, "
                               f"not {request.cluster_id!r}")
        return shard_map_to_proto(self.current_map())

    @map_errors
    async def TransferLeader(self, request: admin_pb2.TransferLeaderRequest,
                             context: grpc.aio.ServicerContext[Any, Any]
                             ) -> admin_pb2.TransferLeaderResponse:
        g = self.host.group(request.shard_id)
        if g is None:
            raise InvalidArgument(f"node {self.host.node_id} has no replica of shard "
                                  f"{request.shard_id}")
        if request.to_node not in self.shard_map.shard(request.shard_id).replicas:
            raise InvalidArgument(f"node {request.to_node} is not a replica of shard "
                                  f"{request.shard_id}")
        if g.core.role != StateRole.LEADER:
            lead = g.core.leader_id
            raise NotLeader(shard=request.shard_id, leader_hint=lead,
                            leader_addr=self.shard_map.nodes.get(lead, ""))
        g.core.transfer_leader(request.to_node)
        self.host.wake()
        return admin_pb2.TransferLeaderResponse(leader_id=g.core.leader_id, term=g.core.term)

    @map_errors
    async def ChangeMembership(self, request: admin_pb2.ChangeMembershipRequest,
                               context: grpc.aio.ServicerContext[Any, Any]
                               ) -> admin_pb2.ChangeMembershipResponse:
        g, typ = self._check_membership(request)
        core = g.core
        if typ == ConfChangeType.ADD_NODE:
            pr = core.trk.progress.get(request.node_id)
            if pr is None or not pr.is_learner:
                raise InvalidArgument(f"node {request.node_id} is not a learner of shard "
                                      f"{request.shard_id}; add it as a learner first")
            lag = core.last_index - pr.match
            if lag > MAX_PROMOTE_LAG:
                raise Unavailable(f"learner {request.node_id} is {lag} entries behind; "
                                  "promote it once it has caught up")
        try:
            index = core.propose_conf_change(
                ConfChange([ConfChangeSingle(typ, request.node_id)]))
        except ProposalDropped as exc:
            raise Unavailable(f"shard {request.shard_id}: change refused: {exc}") from exc
        term = core.term
        self.host.wake()
        try:
            await asyncio.wait_for(g.wait_applied(index), self.host.cfg.request_timeout_s)
        except TimeoutError:
            raise Timeout("membership change not applied in time; check kvctl status") from None
        if core.log.term_or_none(index) not in (term, None):
            raise Unavailable("leadership changed before the membership change committed")
        cs = core.conf_state()
        return admin_pb2.ChangeMembershipResponse(index=index, voters=cs.voters,
                                                  learners=cs.learners)

    def _check_membership(self, request: admin_pb2.ChangeMembershipRequest
                          ) -> tuple[Group, ConfChangeType]:
        if request.cluster_id and request.cluster_id != self.shard_map.cluster_id:
            raise WrongCluster(f"this node is in cluster {self.shard_map.cluster_id!r}")
        typ = _ACTIONS.get(request.action)
        if typ is None:
            raise InvalidArgument(f"unknown membership action {request.action}")
        if request.node_id not in self.shard_map.nodes:
            raise InvalidArgument(f"node {request.node_id} is not a member of this cluster")
        g = self.host.group(request.shard_id)
        if g is None:
            raise InvalidArgument(f"node {self.host.node_id} has no replica of shard "
                                  f"{request.shard_id}")
        if g.core.role != StateRole.LEADER:
            lead = g.core.leader_id
            raise NotLeader(shard=request.shard_id, leader_hint=lead,
                            leader_addr=self.shard_map.nodes.get(lead, ""))
        return g, typ

    @map_errors
    async def SetClockRate(self, request: admin_pb2.SetClockRateRequest,
                           context: grpc.aio.ServicerContext[Any, Any]
                           ) -> admin_pb2.SetClockRateResponse:
        if not self.host.cfg.allow_fault_injection:
            raise PermissionDenied("fault injection is disabled on this node "
                               "(allow_fault_injection = false)")
        if not MIN_CLOCK_RATE <= request.rate <= MAX_CLOCK_RATE:
            raise InvalidArgument(f"clock rate must be in [{MIN_CLOCK_RATE}, {MAX_CLOCK_RATE}]")
        self.host.set_clock_rate(request.rate)
        return admin_pb2.SetClockRateResponse(rate=request.rate)
