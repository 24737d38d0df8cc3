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

`QuiesceFreezesLeaseClockCore` stops a quiesced replica's lease clock (its
`ticks`) while quiet, as a host that stopped ticking quiet groups would. A
quiesced leader cut off from its followers then keeps a lease forever, and
serves stale lease reads after the others elected a new leader; the
simulator must report it (seeds that draw quiescence and lease reads).
"""

from __future__ import annotations

from kvstore.raft import RaftCore, StateRole


class CommitOldTermCore(RaftCore):
    """TEST-ONLY: a leader that commits old-term entries by counting replicas."""

    def _may_commit_at(self, index: int) -> bool:
        return True


class CampaignIgnoresLeaseCore(RaftCore):
    """TEST-ONLY: `campaign()` starts an election even inside a granted lease."""

    def campaign(self) -> None:
        self.hup()


class QuiesceFreezesLeaseClockCore(RaftCore):
    """TEST-ONLY: quiet time does not count towards the end of a lease."""

    def tick(self) -> None:
        if self.quiesced and self.role == StateRole.LEADER:
            return
        super().tick()


BROKEN_CORES: dict[str, type[RaftCore]] = {
    "commit-old-term": CommitOldTermCore,
    "campaign-ignores-lease": CampaignIgnoresLeaseCore,
    "quiesce-freezes-lease-clock": QuiesceFreezesLeaseClockCore,
}
