"""The leader's view of the group: membership configuration, progress and votes.

`TrackerConfig` is the membership (incoming voters, outgoing voters while in a
joint configuration, learners, learners_next). `apply_conf_change` computes a
new configuration from a `ConfChange`:
- one change and not joint: a single-step change (the one-at-a-time rule: the
  voter sets may differ by at most one member);
- several changes: enter a joint configuration (Raft thesis §4.3), left later
  by an empty ConfChange (automatically when `auto_leave`).
An invalid change returns None and is ignored by every replica alike, so apply
stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kvstore.raft.progress import Progress
from kvstore.raft.quorum import VoteResult, joint_committed, joint_vote
from kvstore.raft.types import ConfChange, ConfChangeType, ConfState


@dataclass(slots=True)
class TrackerConfig:
    incoming: set[int] = field(default_factory=set)
    outgoing: set[int] = field(default_factory=set)
    learners: set[int] = field(default_factory=set)
    learners_next: set[int] = field(default_factory=set)
    auto_leave: bool = False

    @classmethod
    def from_conf_state(cls, cs: ConfState) -> TrackerConfig:
        return cls(set(cs.voters), set(cs.voters_outgoing), set(cs.learners),
                   set(cs.learners_next), cs.auto_leave)

    def to_conf_state(self) -> ConfState:
        return ConfState(sorted(self.incoming), sorted(self.learners), sorted(self.outgoing),
                         sorted(self.learners_next), self.auto_leave)

    def joint(self) -> bool:
        return bool(self.outgoing)

    def voter_ids(self) -> list[int]:
        return sorted(self.incoming | self.outgoing)

    def all_ids(self) -> list[int]:
        return sorted(self.incoming | self.outgoing | self.learners | self.learners_next)

    def copy(self) -> TrackerConfig:
        return TrackerConfig(set(self.incoming), set(self.outgoing), set(self.learners),
                             set(self.learners_next), self.auto_leave)


def apply_conf_change(cfg: TrackerConfig, cc: ConfChange) -> TrackerConfig | None:
    """The configuration after `cc`, or None if `cc` is invalid here."""
    new = cfg.copy()
    if cc.leave_joint():
        if not cfg.joint():
            return None
        new.outgoing = set()
        new.learners |= new.learners_next
        new.learners_next = set()
        new.auto_leave = False
        return new
    if cfg.joint():
        return None  # must leave the joint configuration first
    if len(cc.changes) > 1:
        new.outgoing = set(cfg.incoming)
        new.auto_leave = True
    for ch in cc.changes:
        if ch.node_id <= 0:
            return None
        _apply_single(new, ch.type, ch.node_id)
    if not new.incoming:
        return None  # removing every voter would make the group unusable
    if not new.joint() and len(new.incoming ^ cfg.incoming) > 1:
        return None  # single-step changes alter at most one voter
    return new


def _apply_single(cfg: TrackerConfig, typ: ConfChangeType, node: int) -> None:
    if typ == ConfChangeType.ADD_NODE:
        cfg.incoming.add(node)
        cfg.learners.discard(node)
        cfg.learners_next.discard(node)
    elif typ == ConfChangeType.ADD_LEARNER:
        cfg.incoming.discard(node)
        if node in cfg.outgoing:
            # A demoted voter still votes in the outgoing half until we leave joint.
            cfg.learners_next.add(node)
        else:
            cfg.learners.add(node)
    else:
        cfg.incoming.discard(node)
        cfg.learners.discard(node)
        cfg.learners_next.discard(node)


class ProgressTracker:
    __slots__ = ("config", "max_inflight", "progress", "votes")

    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.config = TrackerConfig()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def set_config(self, cfg: TrackerConfig, next_index: int) -> None:
        """Switch to `cfg`, keeping progress of members that stay."""
        self.config = cfg
        ids = cfg.all_ids()
        learners = cfg.learners | cfg.learners_next
        for nid in ids:
            pr = self.progress.get(nid)
            if pr is None:
                pr = Progress(next_index, self.max_inflight)
                # A new member counts as active so CheckQuorum does not
                # immediately depose the leader that added it.
                pr.recent_active = True
                self.progress[nid] = pr
            pr.is_learner = nid in learners and nid not in cfg.incoming | cfg.outgoing
        for nid in list(self.progress):
            if nid not in ids:
                del self.progress[nid]

    def is_singleton(self) -> bool:
        return len(self.config.incoming) == 1 and not self.config.outgoing

    def committed(self) -> int:
        acked = {nid: pr.match for nid, pr in self.progress.items()}
        return joint_committed(self.config.incoming, self.config.outgoing, acked)

    def vote_result(self, votes: dict[int, bool]) -> VoteResult:
        return joint_vote(self.config.incoming, self.config.outgoing, votes)

    def quorum_active(self, self_id: int) -> bool:
        active = {nid: pr.recent_active or nid == self_id for nid, pr in self.progress.items()
                  if not pr.is_learner}
        return self.vote_result(active) == VoteResult.WON

    def record_vote(self, nid: int, granted: bool) -> None:
        self.votes.setdefault(nid, granted)

    def tally(self) -> VoteResult:
        return self.vote_result(self.votes)

    def reset_votes(self) -> None:
        self.votes = {}
