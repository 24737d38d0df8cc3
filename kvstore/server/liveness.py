"""Node-level liveness between peers: the host's half of group quiescence.

A quiesced group sends nothing, so a quiesced follower cannot tell a quiet
leader from a dead one. Its host can: every batch from a peer's stream shows
that node is alive, whatever groups it carries. The host sends each peer an
empty batch (a node beat) when it has sent that peer nothing for
`beat_ticks`, and reports a peer silent once nothing arrived from it for
`dead_after_ticks`; the host then calls `report_leader_down()` on its
quiesced followers of that peer (CockroachDB and etcd do the same with
node liveness and coalesced heartbeats). One beat per peer pair replaces the
per-group heartbeats of every quiet group.

Invariants: times are the host's Raft ticks (real time, see
`RaftClock.due`); a peer counts as heard at start-up, so a fresh
host gives every peer a full `dead_after_ticks` before judging it. False
reports are harmless: a woken follower of a live leader campaigns with
PreVote, is refused (its peers are in their leases), and its message wakes
the leader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kvstore.logging import get_logger

if TYPE_CHECKING:
    from kvstore.server.group import Group

log = get_logger("kvstore.host")


class PeerLiveness:
    __slots__ = ("beat_ticks", "dead_after_ticks", "last_heard", "last_sent")

    def __init__(self, peers: list[int], beat_ticks: int, dead_after_ticks: int) -> None:
        self.beat_ticks = beat_ticks
        self.dead_after_ticks = dead_after_ticks
        self.last_heard = dict.fromkeys(peers, 0)
        self.last_sent = dict.fromkeys(peers, 0)

    def add_peer(self, peer: int, tick: int) -> None:
        """A node that joined the cluster (counted alive from `tick`)."""
        if peer not in self.last_heard:
            self.last_heard[peer] = tick
            self.last_sent[peer] = tick

    def heard(self, peer: int, tick: int) -> None:
        if peer in self.last_heard:
            self.last_heard[peer] = tick

    def wrap_send(self, send: Callable[[int, Any], None], clock: Callable[[], int]
                  ) -> Callable[[int, Any], None]:
        """`send` that also notes when each peer was last sent something."""
        last_sent = self.last_sent

        def send_noted(to: int, items: Any) -> None:
            if to in last_sent:
                last_sent[to] = clock()
            send(to, items)

        return send_noted

    def beats_due(self, tick: int) -> list[int]:
        """Peers sent nothing for `beat_ticks`: they need a node beat now."""
        return [p for p, t in sorted(self.last_sent.items()) if tick - t >= self.beat_ticks]

    def silent(self, tick: int) -> set[int]:
        """Peers that sent nothing for more than `dead_after_ticks`."""
        return {p for p, t in self.last_heard.items() if tick - t > self.dead_after_ticks}


def wake_for_silent(groups: Iterable[Group], silent: set[int]) -> None:
    """Quiesced groups whose leader, or whose quorum, went silent resume their timers."""
    for g in groups:
        if not g.core.quiesced:
            continue
        if g.core.leader_id in silent:
            g.core.report_leader_down()
            log.info("host.leader_silent", group=g.gid, leader=g.core.leader_id)
        elif g.core.report_peers_silent(silent):
            log.info("host.quorum_silent", group=g.gid, silent=sorted(silent))
