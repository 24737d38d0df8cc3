"""The `Admin` servicer: node status, the shard map, leadership, membership of groups and nodes.

Node membership (AddNode/RemoveNode) changes the metadata record through
group 0 (`kvstore.server.membership`); per-group changes (ChangeMembership)
act on one shard's Raft group directly, for operators who need to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
from kvstore.proto import admin_pb2
from kvstore.proto_conv import raft_role_to_proto, shard_map_to_proto
from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ProposalDropped,
    StateRole,
)
from kvstore.rpc_status import map_errors
from kvstore.server.cluster_view import ClusterView
from kvstore.server.group import Group
from kvstore.server.host import MultiRaftHost
from kvstore.server.membership import change_meta, meta_leader_error
from kvstore.server.rebalance import MAX_PROMOTE_LAG
from kvstore.sharding import ShardingError, ShardMap
from kvstore.sharding.meta import ClusterMeta, LeaderPolicy, NodeState

_ACTIONS = {
    admin_pb2.MEMBERSHIP_ACTION_ADD_LEARNER: ConfChangeType.ADD_LEARNER,
    admin_pb2.MEMBERSHIP_ACTION_PROMOTE: ConfChangeType.ADD_NODE,
    admin_pb2.MEMBERSHIP_ACTION_REMOVE: ConfChangeType.REMOVE_NODE,
}
MIN_CLOCK_RATE, MAX_CLOCK_RATE = 0.1, 10.0


class AdminService:
    def __init__(self, host: MultiRaftHost, view: ClusterView, address: str) -> None:
        self.host = host
        self.view = view
        self.address = address

    def current_map(self) -> ShardMap:
        """The metadata's map refined with the voters and leaders of groups hosted here."""
        return self.view.client_map({
            gid: (g.core.role, g.core.leader_id, g.core.trk.config.voter_ids())
            for gid, g in self.host.groups.items() if gid != 0})

    def _check_cluster(self, cluster_id: str) -> None:
        if cluster_id and cluster_id != self.view.cluster_id:
            raise WrongCluster(f"this node is in cluster {self.view.cluster_id!r}, "
                               f"not {cluster_id!r}")

    @map_errors
    async def Status(self, request: admin_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> admin_pb2.StatusResponse:
        groups = []
        for gid, g in sorted(self.host.groups.items()):
            c = g.core
            cs = c.conf_state()
            t = self.view.targets(gid)
            groups.append(admin_pb2.GroupStatus(
                group_id=gid, role=raft_role_to_proto(c.role), term=c.term,
                leader_id=c.leader_id, commit_index=c.commit_index,
                applied_index=c.applied_index, last_index=c.last_index,
                snapshot_index=self.host.store.group(gid).snapshot().meta.index,
                voters=sorted(set(cs.voters) | set(cs.voters_outgoing)), learners=cs.learners,
                target_voters=t.voters if t else (), target_learners=t.learners if t else (),
                quiesced=c.quiesced,
            ))
        meta = self.view.meta
        return admin_pb2.StatusResponse(
            node_id=self.host.node_id, address=self.address, cluster_id=self.view.cluster_id,
            groups=groups, epoch=meta.epoch if meta else 0,
            removed_nodes=_removed(meta) if meta else (),
            leader_policy=meta.leader_policy.name.lower() if meta else "",
            leader_node=meta.leader_node if meta else 0)

    @map_errors
    async def ClusterInfo(self, request: admin_pb2.ClusterInfoRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> admin_pb2.ClusterInfo:
        self._check_cluster(request.cluster_id)
        return shard_map_to_proto(self.current_map())

    @map_errors
    async def TransferLeader(self, request: admin_pb2.TransferLeaderRequest,
                             context: grpc.aio.ServicerContext[Any, Any]
                             ) -> admin_pb2.TransferLeaderResponse:
        g = self._leader_group(request.shard_id)
        if request.to_node not in g.core.trk.config.voter_ids():
            raise InvalidArgument(f"node {request.to_node} is not a voter of shard "
                                  f"{request.shard_id}")
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
            if pr.match == 0:
                raise Unavailable(f"learner {request.node_id} has not acknowledged the leader "
                                  "yet (its node may be down); promote it once it has caught up")
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

    def _leader_group(self, shard_id: int) -> Group:
        """This node's replica of `shard_id`, which must lead its group."""
        g = self.host.group(shard_id)
        if g is None:
            raise InvalidArgument(f"node {self.host.node_id} has no replica of shard {shard_id}")
        if g.core.role != StateRole.LEADER:
            lead = g.core.leader_id
            raise NotLeader(shard=shard_id, leader_hint=lead,
                            leader_addr=self.view.addresses.get(lead, ""))
        return g

    def _check_membership(self, request: admin_pb2.ChangeMembershipRequest
                          ) -> tuple[Group, ConfChangeType]:
        self._check_cluster(request.cluster_id)
        typ = _ACTIONS.get(request.action)
        if typ is None:
            raise InvalidArgument(f"unknown membership action {request.action}")
        if request.node_id not in self.view.map.nodes:
            raise InvalidArgument(f"node {request.node_id} is not a member of this cluster")
        g = self._leader_group(request.shard_id)
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

    @map_errors
    async def AddNode(self, request: admin_pb2.AddNodeRequest,
                      context: grpc.aio.ServicerContext[Any, Any]) -> admin_pb2.NodeChangeResponse:
        self._check_cluster(request.cluster_id)
        if request.node_id <= 0 or ":" not in request.address:
            raise InvalidArgument("AddNode needs a positive node_id and a HOST:PORT address")
        meta = await self._change(lambda m: m.with_node(request.node_id, request.address))
        return _node_change(meta)

    @map_errors
    async def RemoveNode(self, request: admin_pb2.RemoveNodeRequest,
                         context: grpc.aio.ServicerContext[Any, Any]
                         ) -> admin_pb2.NodeChangeResponse:
        self._check_cluster(request.cluster_id)
        meta = await self._change(lambda m: m.without_node(request.node_id))
        return _node_change(meta)

    @map_errors
    async def SetLeaderPolicy(self, request: admin_pb2.SetLeaderPolicyRequest,
                              context: grpc.aio.ServicerContext[Any, Any]
                              ) -> admin_pb2.SetLeaderPolicyResponse:
        self._check_cluster(request.cluster_id)
        try:
            policy = LeaderPolicy.parse(request.policy)
        except ShardingError as exc:
            raise InvalidArgument(str(exc)) from None
        meta = await self._change(lambda m: m.with_leader_policy(policy, request.leader_node))
        return admin_pb2.SetLeaderPolicyResponse(epoch=meta.epoch,
                                                 policy=meta.leader_policy.name.lower(),
                                                 leader_node=meta.leader_node)

    async def _change(self, fn: Callable[[ClusterMeta], ClusterMeta]) -> ClusterMeta:
        err = meta_leader_error(self.host, self.view.addresses)
        if err is not None:
            raise err
        return await change_meta(self.host, fn)


def _removed(meta: ClusterMeta) -> list[int]:
    return [n for n, r in meta.nodes.items() if r.state == NodeState.REMOVED]


def _node_change(meta: ClusterMeta) -> admin_pb2.NodeChangeResponse:
    return admin_pb2.NodeChangeResponse(
        epoch=meta.epoch, removed_nodes=_removed(meta),
        nodes=[admin_pb2.NodeInfo(id=n, address=r.address) for n, r in meta.nodes.items()])
