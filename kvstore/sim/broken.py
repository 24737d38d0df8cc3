"""TEST-ONLY deliberately broken cores, to prove the simulator's checker can fail.

Never use these outside tests and `python -m kvstore.sim --broken ...`.

`CommitOldTermCore` disables Raft §5.4.2: its leader commits an entry of an
older term as soon as a quorum holds it, instead of only entries of its own
term. Figure 8 of the Raft paper shows how such an entry can then be
overwritten by a later leader; the simulator must report it (as a state
machine safety, leader completeness or acked-proposal-lost violation).

`CampaignIgnoresLeaseCore` lets an explicit `campaign()` break the promise a
follower gave its leader by acknowledging a heartbeat (no vote, its own
included, before the lease ends). Two forced campaigns behind a partition
then elect a new leader while the old one still serves lease reads; the
simulator must report a read index safety violation.

Membership (run them with `--membership always`):

`ConfChangeUncheckedCore` drops the one-at-a-time rule: its leader accepts a
conf change while another is still pending, so two single-step changes can
be in flight and members can be two configurations apart, whose quorums need
not intersect.

`LearnersInQuorumCore` counts learners' acknowledgements towards the commit
quorum, so an entry can commit on a minority of the voters and be lost when
the other voters elect a leader without it.

`LeaderProposesAfterRemovalCore` is the core before the fix of the
removed-leader deadlock (see testdata/confchange_remove_leader_tail.txt): a
leader keeps accepting proposals after proposing its own removal, so after
it steps down members still in the older configuration may need the vote
of a node whose log is longer than theirs, and nobody is ever elected.
`StaleVoteIgnoredCore` is the core before the stale-vote fix (etcd's rule):
it drops a vote request of a lower term instead of refusing it with its own
term (Figure 2), so a candidate behind a voter's term never learns it. With
no pre-vote, a removed member that does not know it keeps raising the terms
of the voters it still sees, and a candidate it cannot see may never catch
up: the group stays leaderless (seed 714 with 5 nodes and 600 steps).

`QuiesceFreezesLeaseClockCore` stops a quiesced replica's lease clock (its
`ticks`) while quiet, as a host that stopped ticking quiet groups would. A
quiesced leader cut off from its followers then keeps a lease forever, and
serves stale lease reads after the others elected a new leader; the
simulator must report it (seeds that draw quiescence and lease reads).
"""

from __future__ import annotations

import random

from kvstore.raft import (
    ConfChange,
    Config,
    Entry,
    EntryType,
    Message,
    MessageType,
    RaftCore,
    StateRole,
    Storage,
)
from kvstore.raft.quorum import joint_committed
from kvstore.raft.tracker import ProgressTracker


class CommitOldTermCore(RaftCore):
    """TEST-ONLY: a leader that commits old-term entries by counting replicas."""

    def _may_commit_at(self, index: int) -> bool:
        return True


class CampaignIgnoresLeaseCore(RaftCore):
    """TEST-ONLY: `campaign()` starts an election even inside a granted lease."""

    def campaign(self) -> None:
        self.hup()


class ConfChangeUncheckedCore(RaftCore):
    """TEST-ONLY: a leader that proposes a conf change while one is pending."""

    def propose_conf_change(self, cc: ConfChange) -> int:
        self.pending_conf_index = 0  # forget the pending one
        return super().propose_conf_change(cc)


class _LearnersCountTracker(ProgressTracker):
    __slots__ = ()

    def committed(self) -> int:
        acked = {nid: pr.match for nid, pr in self.progress.items()}
        cfg = self.config
        return joint_committed(cfg.incoming | cfg.learners, cfg.outgoing, acked)


class LearnersInQuorumCore(RaftCore):
    """TEST-ONLY: a leader that counts learners towards the commit quorum."""

    def __init__(self, config: Config, storage: Storage, rng: random.Random) -> None:
        super().__init__(config, storage, rng)
        self.trk.__class__ = _LearnersCountTracker


class LeaderProposesAfterRemovalCore(RaftCore):
    """TEST-ONLY: the core before the removed-leader fix (proposals after its removal)."""

    def propose(self, data: bytes) -> int:
        return self._propose(Entry(self.term, 0, EntryType.NORMAL, data))
class StaleVoteIgnoredCore(RaftCore):
    """TEST-ONLY: the core before the stale-vote fix (a lower-term VOTE is dropped)."""

    def _on_lower_term(self, m: Message) -> None:
        if m.type != MessageType.VOTE:
            super()._on_lower_term(m)


class QuiesceFreezesLeaseClockCore(RaftCore):
    """TEST-ONLY: quiet time does not count towards the end of a lease."""

    def tick(self) -> None:
        if self.quiesced and self.role == StateRole.LEADER:
            return
        super().tick()


BROKEN_CORES: dict[str, type[RaftCore]] = {
    "commit-old-term": CommitOldTermCore,
    "campaign-ignores-lease": CampaignIgnoresLeaseCore,
    "conf-change-unchecked": ConfChangeUncheckedCore,
    "learners-in-quorum": LearnersInQuorumCore,
    "leader-proposes-after-removal": LeaderProposesAfterRemovalCore,
    "quiesce-freezes-lease-clock": QuiesceFreezesLeaseClockCore,
    "stale-vote-ignored": StaleVoteIgnoredCore,
}
