"""Pending ReadIndex requests on the leader (Raft thesis §6.4).

A request records the commit index at the time it arrived. It is released,
together with every request queued before it, once a quorum acknowledges a
heartbeat carrying its context: that proves the leader was still leader when
the request arrived. Bounded by `max_pending`; beyond it requests are dropped
(the host times them out and the client retries).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kvstore.raft.types import Message


@dataclass(slots=True)
class ReadIndexStatus:
    req: Message
    index: int
    acks: dict[int, bool] = field(default_factory=dict)


class ReadOnly:
    __slots__ = ("max_pending", "pending", "queue")

    def __init__(self, max_pending: int = 4096) -> None:
        self.max_pending = max_pending
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, m: Message) -> bool:
        ctx = m.context
        if ctx in self.pending:
            return True
        if len(self.queue) >= self.max_pending:
            return False
        self.pending[ctx] = ReadIndexStatus(m, index)
        self.queue.append(ctx)
        return True

    def recv_ack(self, nid: int, ctx: bytes) -> dict[int, bool] | None:
        rs = self.pending.get(ctx)
        if rs is None:
            return None
        rs.acks[nid] = True
        return rs.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release `ctx` and every request queued before it."""
        if ctx not in self.pending:
            return []
        i = self.queue.index(ctx) + 1
        released = [self.pending.pop(c) for c in self.queue[:i]]
        del self.queue[:i]
        return released

    def last_pending_ctx(self) -> bytes:
        return self.queue[-1] if self.queue else b""
