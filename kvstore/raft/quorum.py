"""Quorum arithmetic for majority and joint configurations.

Pure functions over sets of voter ids. A joint configuration (incoming,
outgoing) needs a majority of *both*; an empty outgoing set is no constraint.
Commit, elections, CheckQuorum and ReadIndex all use these, so the rule
"a majority agrees" has exactly one implementation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import IntEnum

# An empty configuration commits everything: joint min() then ignores it.
_INFINITE = 1 << 62


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


def majority_committed(voters: Collection[int], acked: Mapping[int, int]) -> int:
    """The largest index acknowledged by a majority of `voters`."""
    if not voters:
        return _INFINITE
    srt = sorted((acked.get(v, 0) for v in voters), reverse=True)
    return srt[len(voters) // 2]


def joint_committed(incoming: Collection[int], outgoing: Collection[int],
                    acked: Mapping[int, int]) -> int:
    return min(majority_committed(incoming, acked), majority_committed(outgoing, acked))


def majority_vote(voters: Collection[int], votes: Mapping[int, bool]) -> VoteResult:
    if not voters:
        return VoteResult.WON
    granted = missing = 0
    for v in voters:
        got = votes.get(v)
        if got is None:
            missing += 1
        elif got:
            granted += 1
    quorum = len(voters) // 2 + 1
    if granted >= quorum:
        return VoteResult.WON
    if granted + missing >= quorum:
        return VoteResult.PENDING
    return VoteResult.LOST


def joint_vote(incoming: Collection[int], outgoing: Collection[int],
               votes: Mapping[int, bool]) -> VoteResult:
    r1, r2 = majority_vote(incoming, votes), majority_vote(outgoing, votes)
    if r1 == r2:
        return r1
    if VoteResult.LOST in (r1, r2):
        return VoteResult.LOST
    return VoteResult.PENDING
