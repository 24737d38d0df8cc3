"""Client sessions: the client half of exactly-once writes (Raft thesis §6.3).

The server half is kvstore/statemachine/sessions.py.
"""

from __future__ import annotations

import os


class ShardSession:
    """Exactly-once state for one shard: an id, the next seq and the seqs in flight.

    Sessions are per shard because each shard's state machine keeps its own
    session table; ack_seq (all seqs up to it are answered) lets the server
    drop the results it keeps for retries."""

    __slots__ = ("client_id", "outstanding", "seq")

    def __init__(self) -> None:
        self.client_id = os.urandom(16)
        self.seq = 0
        self.outstanding: set[int] = set()

    def next_seq(self) -> int:
        self.seq += 1
        self.outstanding.add(self.seq)
        return self.seq

    def done(self, seq: int) -> None:
        self.outstanding.discard(seq)

    def ack_seq(self) -> int:
        return (min(self.outstanding) - 1) if self.outstanding else self.seq
