"""The in-memory network and the event queue of the simulation.

One heap holds every future event: message deliveries and node ticks, ordered
by (virtual time in microticks, sequence number). The sequence number makes
the order total and deterministic.

Faults, all drawn from the network's own rng:
- drop (per message), duplicate (a second copy with its own delay), delay
  (uniform in [min_delay, max_delay] microticks), reorder (without it, each
  directed link is FIFO);
- partitions: a set of cut directed links, checked when a message is sent and
  again when it arrives (a cut also loses what is still on the wire);
- crashes: `forget(node)` loses every message in flight to or from a node, as a
  broken connection does;
- bans: every link of a retired (decommissioned) member is cut until it is
  re-added (`ban`/`unban`). A ban outlives partitions and `heal`.

Transport feedback, as a real transport gives it (the core's leader depends on
it: a follower in the SNAPSHOT progress state waits for the report):
a SNAPSHOT that is dropped, cut or lost reports failure to its sender, one that
arrives reports success (`feedback`); a message cut by a partition sometimes
reports the peer unreachable. Feedback travels as local `SNAP_STATUS` /
`UNREACHABLE` messages addressed to the sender (`frm` is the peer, `reject`
means failure); the host turns them into `report_snapshot` /
`report_unreachable` calls. Feedback is never dropped, but is lost if the
sender crashes first.

Invariants: `send` never delivers at or before `now` (a message takes at least
one microtick), so a host turn never sees its own output; with `wire_codec`
each delivered copy went through the msgpack codec, so nodes never share
mutable objects and the codec is exercised on every message kind.
"""

from __future__ import annotations

import heapq
import random

from kvstore.raft import Message, MessageType
from kvstore.raft.codec import decode_message, encode_message
from kvstore.sim.params import SimParams
from kvstore.sim.trace import Trace

QueueItem = tuple[int, int, int, "Message | None"]  # (at, seq, node, message or None = tick)

FEEDBACK = frozenset({MessageType.SNAP_STATUS, MessageType.UNREACHABLE})
UNREACHABLE_REPORT_RATE = 0.1  # share of cut messages the transport notices


class Network:
    """Event queue, link faults and partitions (see the module docstring)."""

    def __init__(self, params: SimParams, rng: random.Random, trace: Trace) -> None:
        self.queue: list[QueueItem] = []
        self.cut: set[tuple[int, int]] = set()  # partition | bans: what send/deliver check
        self._partition: set[tuple[int, int]] = set()
        self._bans: dict[int, set[tuple[int, int]]] = {}  # banned node -> its links
        self.drop_rate = params.drop_rate
        self.dup_rate = params.dup_rate
        self._p = params
        self._rng = rng
        self._trace = trace
        self._seq = 0
        self._fifo: dict[tuple[int, int], int] = {}

    def set_partition(self, links: set[tuple[int, int]]) -> None:
        """Replace the partition's cut links (bans stay)."""
        self._partition = set(links)
        self._recut()

    def ban(self, node: int, ids: list[int]) -> None:
        """Cut every link between `node` and the other hosts `ids`, until `unban`."""
        others = [i for i in ids if i != node]
        self._bans[node] = {(node, i) for i in others} | {(i, node) for i in others}
        self._recut()

    def unban(self, node: int) -> None:
        if self._bans.pop(node, None) is not None:
            self._recut()

    def _recut(self) -> None:
        self.cut = set(self._partition)
        for links in self._bans.values():
            self.cut |= links

    def push(self, at: int, node: int, m: Message | None) -> None:
        self._seq += 1
        heapq.heappush(self.queue, (at, self._seq, node, m))

    def send(self, m: Message, now: int) -> None:
        """Put `m` on the wire at time `now`, subject to the current faults."""
        if m.to == m.frm:
            self.push(now + 1, m.to, m)  # a node talking to itself never crosses the wire
            return
        rng = self._rng
        if (m.frm, m.to) in self.cut:
            self._trace.msg(now, "cut", m)
            self.lost(m, now, cut=True)
            return
        if self.drop_rate and rng.random() < self.drop_rate:
            self._trace.msg(now, "drop", m)
            self.lost(m, now)
            return
        copies = 2 if self.dup_rate and rng.random() < self.dup_rate else 1
        lo, span = self._p.min_delay, self._p.max_delay - self._p.min_delay + 1
        for n in range(copies):
            at = now + lo + int(rng.random() * span)  # randint() is 5x slower
            if not self._p.reorder:
                link = (m.frm, m.to)
                at = max(at, self._fifo.get(link, 0))
                self._fifo[link] = at
            copy = decode_message(encode_message(m)) if self._p.wire_codec or n else m
            if n:
                self._trace.msg(now, "dup", m)
            self.push(at, m.to, copy)

    def lost(self, m: Message, now: int, cut: bool = False) -> None:
        """`m` will never arrive: tell its sender when a transport would notice."""
        if m.type == MessageType.SNAPSHOT:
            self.feedback(m, now, ok=False)
        elif cut and self._rng.random() < UNREACHABLE_REPORT_RATE:
            self.push(now + self._p.min_delay, m.frm,
                      Message(MessageType.UNREACHABLE, to=m.frm, frm=m.to))

    def feedback(self, m: Message, now: int, ok: bool) -> None:
        """Report the fate of SNAPSHOT `m` to its sender, one network delay later."""
        self.push(now + self._p.min_delay, m.frm,
                  Message(MessageType.SNAP_STATUS, to=m.frm, frm=m.to, reject=not ok))

    def pop_due(self, end: int) -> list[QueueItem]:
        """All items at the earliest time < `end` (empty if none is due)."""
        q = self.queue
        if not q or q[0][0] >= end:
            return []
        now = q[0][0]
        batch = []
        while q and q[0][0] == now:
            batch.append(heapq.heappop(q))
        return batch

    def forget(self, node: int, now: int) -> None:
        """A crash: lose every message in flight to or from `node` (ticks stay)."""
        keep: list[QueueItem] = []
        for it in self.queue:
            m = it[3]
            if m is None or (m.to != node and (m.frm != node or m.type in FEEDBACK)):
                keep.append(it)  # feedback about a peer lives in the sender's host
            elif m.to == node and m.type == MessageType.SNAPSHOT:
                keep.append((now + self._p.min_delay, it[1], m.frm,
                             Message(MessageType.SNAP_STATUS, to=m.frm, frm=node, reject=True)))
        self.queue = keep
        heapq.heapify(self.queue)

    def heal(self) -> None:
        """Remove partitions and loss; delays, reordering and bans stay."""
        self.set_partition(set())
        self.drop_rate = 0.0
        self.dup_rate = 0.0
