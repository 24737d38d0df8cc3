"""Where replicas and leaders should be, driven from the host's tick.

- `bootstrap_initial`: an initial member's first boot creates its replicas
  from the first metadata record (identical on every initial member).
- `rebalance_all`: each group this node leads takes one single-step change
  towards its target placement (`kvstore.server.rebalance`).
- `balance_leaders`: each group this node leads hands leadership to its
  preferred replica (first in target order, which the cluster's leader
  policy sets) once that one is caught up.
"""

from __future__ import annotations

from kvstore.logging import get_logger
from kvstore.raft import ConfState, RaftCore, StateRole
from kvstore.server.cluster_view import ClusterView, seed_meta
from kvstore.server.config import NodeConfig
from kvstore.server.group import Group
from kvstore.server.rebalance import rebalance_group
from kvstore.sharding.meta import META_GROUP, LeaderPolicy
from kvstore.storage import NodeStore

log = get_logger("kvstore.placement")

# Initial replicas start from a snapshot at this index (see NodeStore.bootstrap_group).
INIT_INDEX = 1


def bootstrap_initial(cfg: NodeConfig, store: NodeStore, view: ClusterView) -> None:
    """First boot of an initial member: write the record, create this node's replicas.

    Group 0 goes last, so a crash half-way repeats only the missing bootstraps
    on restart (and only then: bootstrapping a group later would fork its
    history). A joining node bootstraps nothing; leaders create its replicas."""
    meta = view.meta
    if cfg.join or meta is None or store.has_group(META_GROUP):
        return
    seed_meta(store, meta)
    for gid in [*range(1, meta.shard_count + 1), META_GROUP]:
        t = meta.targets(gid)
        if cfg.node_id in t.voters + t.learners and not store.has_group(gid):
            store.bootstrap_group(
                gid, ConfState(voters=sorted(t.voters), learners=sorted(t.learners)),
                initial_index=INIT_INDEX)


def rebalance_all(groups: dict[int, Group], view: ClusterView) -> int:
    """One step towards the target for every group led here; the number of steps taken."""
    meta = view.meta
    if meta is None:
        return 0
    steps = 0
    for gid, g in groups.items():
        if g.core.role != StateRole.LEADER:
            continue
        targets = view.targets(gid)
        if targets is not None and rebalance_group(gid, g.core, targets, meta.epoch,
                                                   g.conf_epoch) is not None:
            steps += 1
    return steps


def balance_leaders(groups: dict[int, Group], view: ClusterView, node_id: int) -> int:
    """Leadership to the preferred replica (one transfer per group per round).

    Targets list voters preferred leader first. SPREAD prefers the first only:
    placement spreads those like replicas, and failures and restarts make
    leadership drift. PACK takes the first voter in line that is up and caught
    up, so leadership gathers on the next node while the first one is down."""
    meta = view.meta
    pack = meta is not None and meta.leader_policy == LeaderPolicy.PACK
    started = 0
    for gid, g in groups.items():
        core = g.core
        if core.role != StateRole.LEADER or core.lead_transferee:
            continue
        targets = view.targets(gid)
        if targets is None:
            continue
        to = _transferee(core, targets.voters if pack else targets.voters[:1], node_id)
        if to is None:
            continue
        core.transfer_leader(to)
        started += 1
        log.info("host.leader_balance", group=gid, to=to)
    return started


def _transferee(core: RaftCore, line: tuple[int, ...], node_id: int) -> int | None:
    """The first of `line` fit to lead, or None when this node comes first."""
    for candidate in line:
        if candidate == node_id:
            return None
        pr = core.trk.progress.get(candidate)
        if (pr is not None and not pr.is_learner and pr.recent_active
                and pr.match == core.last_index):
            return candidate
    return None
