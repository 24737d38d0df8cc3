"""Where replicas and leaders should be, driven from the host's tick.

- `bootstrap_initial`: an initial member's first boot creates its replicas
  from the first metadata record (identical on every initial member).
- `rebalance_all`: each group this node leads takes one single-step change
  towards its target placement (`kvstore.server.rebalance`).
- `balance_leaders`: each group this node leads hands leadership to its
  preferred replica (first in placement order) once that one is caught up.
"""

from __future__ import annotations

from kvstore.logging import get_logger
from kvstore.raft import ConfState, StateRole
from kvstore.server.cluster_view import ClusterView, seed_meta
from kvstore.server.config import NodeConfig
from kvstore.server.group import Group
from kvstore.server.rebalance import rebalance_group
from kvstore.sharding.meta import META_GROUP
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
    """Leadership back to preferred replicas (one transfer per group per round).

    Placement orders replicas by rendezvous score, so preferred leaders are
    spread like replicas; failures and restarts make leadership drift."""
    started = 0
    for gid, g in groups.items():
        core = g.core
        if core.role != StateRole.LEADER or core.lead_transferee:
            continue
        targets = view.targets(gid)
        if targets is None:
            continue
        preferred = targets.voters[0]
        pr = core.trk.progress.get(preferred)
        if (preferred == node_id or pr is None or pr.is_learner
                or not pr.recent_active or pr.match != core.last_index):
            continue
        core.transfer_leader(preferred)
        started += 1
        log.info("host.leader_balance", group=gid, to=preferred)
    return started
