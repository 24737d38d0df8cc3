"""Online replica moves: each shard leader walks its group towards its target placement.

Targets come from the metadata group (`ClusterMeta.targets`), which every
node hosts, so no central scheduler is needed: the leader of each group
compares its configuration with the target and takes ONE single-step action
at a time (the one-at-a-time rule of single-server changes, Ongaro §4.1;
`RaftCore.propose_conf_change` refuses a second change while one is pending):

1. add a missing target voter as a learner (it catches up by snapshot + log);
2. promote a target learner once it has caught up (acknowledged the leader,
   recently active, not waiting for a snapshot, at most MAX_PROMOTE_LAG
   entries behind);
3. once every target voter is a voter, and all of them are active and caught
   up, remove (or demote to learner, for group 0) one extra voter; if the
   extra voter is this leader, hand leadership to a caught-up target voter
   first (the new leader then removes us);
4. remove learners that are no target; add missing target learners (group 0).

Voters never drop below the target's size and a removal waits for the
targets to be healthy, so a move never costs availability a healthy cluster
had. `next_action` is pure (tested on its own); `rebalance_group` applies it.

Epoch fencing: nodes apply group 0 at slightly different times, and a new
leader may still hold older metadata than the one that started a move. Each
change carries the metadata epoch it was planned under (`ConfChange.context`);
members remember the highest one applied, and a leader whose metadata is
older does nothing until it has caught up (otherwise two leaders with
different epochs would undo each other's moves).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kvstore.logging import get_logger
from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ProposalDropped,
    RaftCore,
    StateRole,
)
from kvstore.raft.progress import ProgressState
from kvstore.sharding.meta import Targets

log = get_logger("kvstore.rebalance")

# A learner is promoted (or a transfer target chosen) only this close to the leader.
MAX_PROMOTE_LAG = 100


class Kind(Enum):
    ADD_LEARNER = "add_learner"
    PROMOTE = "promote"
    REMOVE = "remove"
    DEMOTE = "demote"
    TRANSFER = "transfer"


@dataclass(frozen=True, slots=True)
class Action:
    kind: Kind
    node: int


@dataclass(frozen=True, slots=True)
class Member:
    """What the leader knows of one member's progress."""

    match: int
    active: bool
    snapshotting: bool = False


def _caught_up(m: Member | None, last_index: int) -> bool:
    # match > 0: the member acknowledged the leader at least once. In a young
    # group (last_index <= MAX_PROMOTE_LAG) a learner whose node never got a
    # message would otherwise pass, and promoting it adds a voter with no
    # replica, which cannot vote (hosts create replicas on leader messages only).
    return (m is not None and m.active and not m.snapshotting and m.match > 0
            and m.match + MAX_PROMOTE_LAG >= last_index)


def next_action(self_id: int, voters: set[int], learners: set[int],
                members: dict[int, Member], last_index: int, targets: Targets) -> Action | None:
    """The next single step from (voters, learners) towards `targets`, or None."""
    tv, tl = targets.voters, set(targets.learners)
    for t in tv:
        if t not in voters and t not in learners:
            return Action(Kind.ADD_LEARNER, t)
    for t in tv:
        if t in learners and _caught_up(members.get(t), last_index):
            return Action(Kind.PROMOTE, t)
    extra = sorted(voters - set(tv))
    healthy = all(t in voters and (t == self_id or _caught_up(members.get(t), last_index))
                  for t in tv)
    if extra and healthy:
        others = [x for x in extra if x != self_id]
        if others:
            x = others[0]
            return Action(Kind.DEMOTE if x in tl else Kind.REMOVE, x)
        to = next((t for t in tv if t != self_id
                   and (m := members.get(t)) is not None and m.match >= last_index), None)
        if to is not None:
            return Action(Kind.TRANSFER, to)
        return None
    for x in sorted(learners):
        if x not in tl and x not in tv:
            return Action(Kind.REMOVE, x)
    for t in sorted(tl):
        if t not in voters and t not in learners:
            return Action(Kind.ADD_LEARNER, t)
    return None


_CC = {
    Kind.ADD_LEARNER: ConfChangeType.ADD_LEARNER,
    Kind.DEMOTE: ConfChangeType.ADD_LEARNER,
    Kind.PROMOTE: ConfChangeType.ADD_NODE,
    Kind.REMOVE: ConfChangeType.REMOVE_NODE,
}


def plan(core: RaftCore, targets: Targets) -> Action | None:
    """The next action for a group this node leads (None if not leader or busy)."""
    if (core.role != StateRole.LEADER or core.lead_transferee
            or core.pending_conf_index > core.applied_index or core.trk.config.joint()):
        return None
    cfg = core.trk.config
    members = {nid: Member(pr.match, pr.recent_active or nid == core.id,
                           pr.state == ProgressState.SNAPSHOT)
               for nid, pr in core.trk.progress.items()}
    return next_action(core.id, set(cfg.incoming), set(cfg.learners), members,
                       core.last_index, targets)


def encode_epoch(epoch: int) -> bytes:
    return b"epoch:%d" % epoch


def decode_epoch(context: bytes) -> int:
    """The epoch a change was planned under (0 for hand-made changes or garbage)."""
    if context.startswith(b"epoch:") and context[6:].isdigit() and len(context) < 32:
        return int(context[6:])
    return 0


def rebalance_group(gid: int, core: RaftCore, targets: Targets, epoch: int,
                    conf_epoch: int) -> Action | None:
    """Take the next step for group `gid` under metadata `epoch`; the action taken."""
    if epoch < conf_epoch:
        return None
    action = plan(core, targets)
    if action is None:
        return None
    try:
        if action.kind == Kind.TRANSFER:
            core.transfer_leader(action.node)
        else:
            core.propose_conf_change(ConfChange(
                [ConfChangeSingle(_CC[action.kind], action.node)], encode_epoch(epoch)))
    except ProposalDropped as exc:
        log.debug("rebalance.refused", group=gid, action=action.kind.value, node=action.node,
                  reason=str(exc))
        return None
    log.info("rebalance.step", group=gid, action=action.kind.value, node=action.node,
             voters=sorted(core.trk.config.incoming))
    return action
