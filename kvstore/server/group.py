"""One shard's Raft group inside the node host: the core plus its waiting clients.

The host owns the loop; a `Group` owns the book-keeping between client
futures and the core:
- writes submitted during a loop turn are proposed as ONE entry per group
  (`flush`), and the entry's (index, term) maps back to their futures;
- linearizable reads of a turn share one ReadIndex request (one context);
- reads wait until `applied >= index` (ReadIndex, lease, or the client's
  last seen index for sequential reads);
- when leadership is lost, waiting writes fail with an *indeterminate*
  error (they may still commit; the client's session makes the retry safe)
  and waiting leader reads fail with NotLeader (always safe to retry).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from kvstore.errors import KVError, NotLeader, Overloaded, Unavailable
from kvstore.raft import NotLeaderError, ProposalDropped, RaftCore, StateRole

# A submission's future, the index of its first command in the entry, and how many
# commands it has (SINGLE: one, answered with its result rather than a list). One
# future per client batch, not per op: a future and its callbacks cost more than
# the apply of the op they answer.
_Waiter = tuple[asyncio.Future[Any], int, int]
SINGLE = -1


@dataclass(slots=True)
class _Proposal:
    term: int
    futures: list[_Waiter]


@dataclass(slots=True)
class Group:
    gid: int
    core: RaftCore
    max_pending: int
    # Writes of the current turn, proposed together by flush().
    batch_cmds: list[Any] = field(default_factory=list)
    batch_futs: list[_Waiter] = field(default_factory=list)
    proposals: dict[int, _Proposal] = field(default_factory=dict)
    # Linearizable reads of the current turn, sharing one ReadIndex context.
    read_batch: list[asyncio.Future[int]] = field(default_factory=list)
    read_ctx_waiting: dict[bytes, list[asyncio.Future[int]]] = field(default_factory=dict)
    # (index, seq, future): resolved with the applied index once applied >= index.
    apply_waiters: list[tuple[int, int, asyncio.Future[int]]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    was_leader: bool = False
    # Highest metadata epoch named by a replica move applied in this group
    # (kvstore.server.rebalance): a leader with older metadata must not act.
    conf_epoch: int = 0
    # Highest index whose writes were answered (possibly before the core's
    # applied index reaches it: see host.py); reply headers report at least this.
    resolved_index: int = 0

    # --- submission (called from gRPC handlers, on the loop thread) --------
    def pending_count(self) -> int:
        return len(self.batch_cmds) + len(self.proposals) + len(self.apply_waiters)

    def submit_write(self, cmd: Any) -> asyncio.Future[Any]:
        """One write; the future resolves with its result."""
        return self._submit([cmd], SINGLE)

    def submit_writes(self, cmds: list[Any]) -> asyncio.Future[list[Any]]:
        """Writes proposed together; the future resolves with their results, in order."""
        return self._submit(cmds, len(cmds))

    def _submit(self, cmds: list[Any], n: int) -> asyncio.Future[Any]:
        self._check_leader()
        if self.pending_count() >= self.max_pending:
            raise Overloaded(f"shard {self.gid}: too many pending requests")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.batch_futs.append((fut, len(self.batch_cmds), n))
        self.batch_cmds.extend(cmds)
        return fut

    def submit_linearizable_read(self) -> asyncio.Future[int]:
        self._check_leader()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.read_batch.append(fut)
        return fut

    def submit_lease_read(self, clock_ok: bool = True) -> asyncio.Future[int]:
        """A lease read; with `clock_ok` False (ticks overdue) it falls back to ReadIndex."""
        self._check_leader()
        idx = self.core.lease_read_index() if clock_ok else None
        if idx is None:  # lease not (yet) held: fall back to ReadIndex
            return self.submit_linearizable_read()
        return self.wait_applied(idx)

    def wait_applied(self, index: int) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        applied = self.core.applied_index
        if applied >= index:
            fut.set_result(applied)
        else:
            heapq.heappush(self.apply_waiters, (index, next(self._seq), fut))
        return fut

    def _check_leader(self) -> None:
        if self.core.role != StateRole.LEADER:
            raise NotLeader(shard=self.gid, leader_hint=self.core.leader_id)

    # --- the host's turn ---------------------------------------------------
    def flush(self, encode: Any) -> None:
        """Propose this turn's writes as one entry and start this turn's ReadIndex."""
        if self.batch_cmds:
            cmds, futs = self.batch_cmds, self.batch_futs
            self.batch_cmds, self.batch_futs = [], []
            try:
                index = self.core.propose(encode(cmds))
            except NotLeaderError as exc:
                _fail_waiters(futs, NotLeader(shard=self.gid, leader_hint=exc.leader_id))
            except ProposalDropped as exc:
                _fail_waiters(futs, Unavailable(f"shard {self.gid}: proposal dropped: {exc}"))
            else:
                self.proposals[index] = _Proposal(self.core.term, futs)
        if self.read_batch:
            futs_r, self.read_batch = self.read_batch, []
            # Unique across nodes: followers forward their reads to the leader,
            # whose pending reads are keyed by context.
            ctx = b"%d:%d:%d" % (self.core.id, self.gid, next(self._seq))
            try:
                self.core.read_index(ctx)
            except ProposalDropped:
                _fail_all(futs_r, NotLeader(shard=self.gid, leader_hint=self.core.leader_id))
            else:
                self.read_ctx_waiting[ctx] = futs_r

    def on_read_state(self, index: int, ctx: bytes) -> None:
        for fut in self.read_ctx_waiting.pop(ctx, []):
            if not fut.done():
                self._chain(self.wait_applied(index), fut)

    @staticmethod
    def _chain(src: asyncio.Future[int], dst: asyncio.Future[int]) -> None:
        if src.done():
            dst.set_result(src.result())
        else:
            src.add_done_callback(lambda s: dst.done() or dst.set_result(s.result()))

    def on_applied(self, index: int, term: int, results: list[Any]) -> None:
        prop = self.proposals.pop(index, None)
        if prop is None:
            return
        if index > self.resolved_index:
            self.resolved_index = index
        if prop.term != term:
            # Another leader's entry took this index: ours was never committed.
            _fail_waiters(prop.futures, Unavailable(f"shard {self.gid}: proposal lost in a "
                                                "leader change, retry"))
            return
        for fut, start, n in prop.futures:
            if not fut.done():
                fut.set_result(results[start] if n == SINGLE else results[start:start + n])

    def release_apply_waiters(self) -> None:
        applied = self.core.applied_index
        w = self.apply_waiters
        while w and w[0][0] <= applied:
            _, _, fut = heapq.heappop(w)
            if not fut.done():
                fut.set_result(applied)
        if w and all(f.done() for _, _, f in w):
            # Only abandoned waits are left (reads that timed out or were cancelled,
            # perhaps for an index this replica never reaches): drop them, or they
            # would stay forever, count as pending and keep delayed apply off.
            w.clear()

    def on_role_change(self) -> None:
        is_leader = self.core.role == StateRole.LEADER
        if self.was_leader and not is_leader:
            hint = self.core.leader_id
            for p in self.proposals.values():
                _fail_waiters(p.futures, Unavailable(
                    f"shard {self.gid}: leadership lost; the write may or may not apply"))
            self.proposals.clear()
            _fail_waiters(self.batch_futs, NotLeader(shard=self.gid, leader_hint=hint))
            self.batch_cmds, self.batch_futs = [], []
            for futs in self.read_ctx_waiting.values():
                _fail_all(futs, NotLeader(shard=self.gid, leader_hint=hint))
            self.read_ctx_waiting.clear()
            _fail_all(self.read_batch, NotLeader(shard=self.gid, leader_hint=hint))
            self.read_batch = []
        self.was_leader = is_leader

    def fail_everything(self, err: KVError) -> None:
        for p in self.proposals.values():
            _fail_waiters(p.futures, err)
        self.proposals.clear()
        _fail_waiters(self.batch_futs, err)
        for futs in self.read_ctx_waiting.values():
            _fail_all(futs, err)
        _fail_all(self.read_batch, err)
        _fail_all([f for _, _, f in self.apply_waiters], err)
        self.batch_cmds, self.batch_futs, self.read_batch, self.apply_waiters = [], [], [], []
        self.read_ctx_waiting.clear()


def _fail_all(futs: list[asyncio.Future[Any]] | list[asyncio.Future[int]], err: Exception) -> None:
    for f in futs:
        if not f.done():
            f.set_exception(err)


def _fail_waiters(waiters: list[_Waiter], err: Exception) -> None:
    _fail_all([f for f, _, _ in waiters], err)
