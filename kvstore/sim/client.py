"""Simulated clients: unique proposals, acknowledgements and linearizable reads.

A proposal `b"s<seed>-c<n>"` goes to a node believed leader (any node in the
LEADER role, possibly a stale one, else a random node). It is acknowledged
when that same node applies an entry with the returned (index, term) and the
same payload, exactly as a real host resolves a client future. If that node
applies something else at the index, or crashes first, the outcome is unknown
and the client never hears "ok".

Checks owned here:
- no acknowledged proposal lost: once acked, the command at that index is
  fixed; any node applying something else there is a violation (the final
  check, after healing, also requires every node to reach `max_acked`);
- ReadIndex safety: a `ReadState` index must be >= every index known committed
  when the read was requested (in particular every acked write and every read
  index already returned), and so must a lease read.
"""

from __future__ import annotations

import random

from kvstore.raft import Entry, NotLeaderError, ProposalDropped, ReadState, StateRole
from kvstore.sim.checker import SafetyChecker, Violation
from kvstore.sim.node import SimNode
from kvstore.sim.params import SimParams
from kvstore.sim.trace import Trace


class Workload:
    """Proposals and reads of one run, with their outcomes."""

    def __init__(self, seed: int, params: SimParams, rng: random.Random,
                 checker: SafetyChecker, trace: Trace) -> None:
        self.seed = seed
        self._p = params
        self._rng = rng
        self._checker = checker
        self._trace = trace
        self.pending: dict[int, dict[int, tuple[int, bytes]]] = {}  # node -> index -> (term, data)
        self.acked: dict[int, bytes] = {}
        self.max_acked = 0
        self.reads: dict[tuple[int, bytes], int] = {}  # (node, ctx) -> min read index
        self.max_read = 0
        self.proposals = 0
        self.read_count = 0

    # --- requests -----------------------------------------------------------
    def step(self, now: int, nodes: dict[int, SimNode]) -> None:
        """One step of client activity (called once per tick during the chaos phase)."""
        rng = self._rng
        if rng.random() < self._p.propose_rate:
            node = self.pick(nodes)
            room = self._p.max_pending - self.outstanding(nodes)
            if node is not None:
                for _ in range(min(room, rng.randint(1, self._p.max_batch))):
                    if self.propose(now, node) is None:
                        break
        if self._p.read_rate and rng.random() < self._p.read_rate:
            node = self.pick(nodes)
            if node is not None:
                self.read(now, node)

    def outstanding(self, nodes: dict[int, SimNode]) -> int:
        """Proposals still waiting; those a node skipped (snapshot) are given up."""
        total = 0
        for nid, mine in self.pending.items():
            applied = nodes[nid].applied
            for index in [i for i in mine if i <= applied]:
                del mine[index]
            total += len(mine)
        return total

    def pick(self, nodes: dict[int, SimNode]) -> SimNode | None:
        """A running node: one in the LEADER role if any (maybe stale), else any."""
        live = [n for n in nodes.values() if n.up and n.paused_until == 0]
        if not live:
            return None
        leaders = [n for n in live if n.role == StateRole.LEADER]
        return self._rng.choice(leaders or live)

    def propose(self, now: int, node: SimNode) -> tuple[int, int, bytes] | None:
        """Propose a fresh payload on `node`; (index, term, payload) if appended."""
        assert node.core is not None
        self.proposals += 1
        data = b"s%d-c%d" % (self.seed, self.proposals)
        try:
            index = node.core.propose(data)
        except NotLeaderError as exc:
            self._trace.note(now, "propose", f"{node.id} {data!r} not leader ({exc.leader_id})")
            return None
        except ProposalDropped as exc:
            self._trace.note(now, "propose", f"{node.id} {data!r} dropped ({exc})")
            return None
        term = node.core.term
        self.pending.setdefault(node.id, {})[index] = (term, data)
        self._trace.note(now, "propose", f"{node.id} {data!r} -> {term}/{index}")
        return index, term, data

    def read(self, now: int, node: SimNode) -> None:
        """A linearizable read on `node` (ReadIndex, or the lease when configured)."""
        core = node.core
        assert core is not None
        floor = max(self._checker.max_commit, self.max_read)
        if self._p.lease_reads and node.role == StateRole.LEADER:
            index = core.lease_read_index()
            self._trace.note(now, "lease-read", f"{node.id} -> {index} (floor {floor})")
            if index is not None:
                self._trace.tally("lease_reads")
                self._check_read(node.id, index, floor, "lease read")
            return
        self.read_count += 1
        ctx = b"r%d" % self.read_count
        try:
            core.read_index(ctx)
        except ProposalDropped as exc:
            self._trace.note(now, "read", f"{node.id} {ctx!r} dropped ({exc})")
            return
        self.reads[(node.id, ctx)] = floor
        self._trace.note(now, "read", f"{node.id} {ctx!r} floor {floor}")

    # --- outcomes -----------------------------------------------------------
    def on_apply(self, node: int, e: Entry) -> None:
        want = self.acked.get(e.index)
        if want is not None and want != e.data:
            raise Violation("acked proposal lost",
                            f"node {node} applies {e.data!r} at {e.index}, where {want!r} "
                            f"was acknowledged")
        mine = self.pending.get(node)
        if not mine:
            return
        sent = mine.pop(e.index, None)
        if sent is not None and sent == (e.term, e.data):
            self.acked[e.index] = e.data
            self.max_acked = max(self.max_acked, e.index)
            self._trace.tally("acks")

    def on_read_state(self, node: int, rs: ReadState) -> None:
        floor = self.reads.get((node, rs.request_ctx))
        if floor is None:
            raise Violation("read index safety",
                            f"node {node} got ReadState {rs.request_ctx!r} it never asked for")
        self._trace.tally("read_states")
        self._check_read(node, rs.index, floor, "ReadIndex")

    def _check_read(self, node: int, index: int, floor: int, kind: str) -> None:
        if index < floor:
            raise Violation("read index safety",
                            f"{kind} on node {node} returned index {index}, but {floor} was "
                            f"already committed when the read was requested")
        self.max_read = max(self.max_read, index)

    def on_crash(self, node: int) -> None:
        self.pending.pop(node, None)
