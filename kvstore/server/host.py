"""The multi-raft host: one asyncio task drives every Raft group of this node.

Each loop turn:
1. tick every group if a tick is due; step the peer messages that arrived;
2. `flush` each group: this turn's writes become one proposal, this turn's
   linearizable reads one ReadIndex;
3. take `ready()` from every group that has one;
4. write all groups' snapshots, entries and hard states AND apply all
   committed entries (with each group's applied index) in ONE LMDB
   transaction, committed with one fsync (group commit);
5. only then send messages, coalesced into one batch per peer, and resolve
   client futures (a client hears "ok" only for durable, applied writes);
6. `advance()` every group.
Persist-before-send and apply-with-applied-index in one transaction are the
two durability invariants (see ARCHITECTURE.md).

Step 4 runs in a worker thread (LMDB ties a write transaction to its thread),
so the event loop keeps accepting requests and peer messages during the
fsync; they all join the next turn. That is what makes a turn carry many
writes under load. While the worker runs, nothing mutates a Raft core: the
worker only reads the Ready and computes conf changes with the pure
`apply_conf_change`; the cores are updated after it returns.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kvstore.errors import Unavailable
from kvstore.logging import get_logger
from kvstore.raft import (
    ConfChange,
    Config,
    ConfState,
    EntryType,
    Message,
    MessageType,
    RaftCore,
    Ready,
    StateRole,
)
from kvstore.raft.codec import DecodeError, decode_conf_change
from kvstore.raft.tracker import TrackerConfig, apply_conf_change
from kvstore.server.config import NodeConfig
from kvstore.server.group import Group
from kvstore.server.liveness import PeerLiveness
from kvstore.server.snapshots import read_staged, staged_path
from kvstore.statemachine import StateMachine
from kvstore.storage import NodeStore, WriteBatch

log = get_logger("kvstore.host")

BALANCE_EVERY_TICKS = 40
MAX_CATCHUP_TICKS = 64
# Initial replicas start from a snapshot at this index (see bootstrap_group).
INIT_INDEX = 1
MAX_NEW_REPLICAS_PER_TURN = 64
_LEADER_MESSAGES = (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT)
SendFn = Callable[[int, list[tuple[int, Message]]], None]
SnapshotFn = Callable[[int, Message], None]
# (index, term, state machine results, conf change applied at this index)
_Applied = tuple[int, int, list[Any], ConfChange | None]


_EARLY = (MessageType.APPEND, MessageType.HEARTBEAT)


def _take_leader_messages(g: Group, rd: Ready) -> list[Message]:
    """Remove and return a leader's appends and heartbeats from `rd.messages`."""
    if g.core.role != StateRole.LEADER or not rd.messages:
        return []
    early = [m for m in rd.messages if m.type in _EARLY]
    if early:
        rd.messages = [m for m in rd.messages if m.type not in _EARLY]
    return early


def _decode_cc(data: bytes) -> ConfChange | None:
    try:
        return decode_conf_change(data)
    except DecodeError:
        return None


class MultiRaftHost:
    def __init__(self, cfg: NodeConfig, store: NodeStore, sm: StateMachine,
                 placement: dict[int, list[int]], send: SendFn,
                 send_snapshot: SnapshotFn | None = None) -> None:
        self.cfg = cfg
        self.node_id = cfg.node_id
        self.store = store
        self.sm = sm
        self.placement = placement
        self._send = send
        # Node beats and peer silence, for quiesced groups (liveness.py); None when off.
        self.liveness: PeerLiveness | None = None
        if cfg.quiesce_ticks:
            self.liveness = PeerLiveness(
                sorted(p for p in cfg.peers if p != cfg.node_id),
                beat_ticks=max(1, cfg.election_ticks // 4), dead_after_ticks=cfg.election_ticks)
            self._send = self.liveness.wrap_send(send, lambda: self.ticks)
        self._send_snapshot = send_snapshot
        self.snapshots_installed = 0
        self.compactions = 0
        self.groups: dict[int, Group] = {}
        self._inbox: deque[tuple[int, Message]] = deque()
        self._new_replicas: dict[int, list[Message]] = {}
        self._wake = asyncio.Event()
        self._tick_due = False
        self._stopping = False
        self.turns = 0
        self.ticks = 0
        self._period = cfg.tick_ms / 1000
        self._t0 = time.monotonic()
        self.balance_leaders = True
        self.transfers_started = 0
        self._open_groups()

    def _open_groups(self) -> None:
        self._rng = random.Random(self.node_id * 7919 + int(time.time_ns() % 1_000_003))
        for gid, replicas in sorted(self.placement.items()):
            if self.node_id in replicas and not self.store.has_group(gid):
                self.store.bootstrap_group(gid, ConfState(voters=sorted(replicas)),
                                           initial_index=INIT_INDEX)
        for gid in self.store.group_ids():  # includes replicas added by conf changes
            self._open_group(gid)
        log.info("host.groups_opened", node=self.node_id, groups=sorted(self.groups))

    def _open_group(self, gid: int) -> Group:
        rc = Config(id=self.node_id, election_ticks=self.cfg.election_ticks,
                    heartbeat_ticks=self.cfg.heartbeat_ticks,
                    applied=self.store.applied_index(gid), quiesce_ticks=self.cfg.quiesce_ticks)
        core = RaftCore(rc, self.store.group(gid), random.Random(self._rng.getrandbits(64)))
        g = self.groups[gid] = Group(gid, core, self.cfg.max_pending_proposals)
        return g

    def _create_replicas(self) -> None:
        """Create empty replicas for groups a leader started sending to (after a conf change).

        Runs at the start of a turn, when no write batch is open. The new
        replica knows no configuration; it learns it from the snapshot its
        leader must send (see INIT_INDEX)."""
        pending, self._new_replicas = self._new_replicas, {}
        for gid, msgs in pending.items():
            if gid not in self.groups:
                self.store.bootstrap_group(gid, ConfState())
                self._open_group(gid)
                log.info("host.replica_created", group=gid, leader=msgs[0].frm)
            self._inbox.extend((gid, m) for m in msgs)

    # --- inputs ------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def deliver(self, items: list[tuple[int, Message]]) -> None:
        """Peer messages from the transport (already decoded and validated)."""
        if len(self._inbox) + len(items) > self.cfg.max_inbox_messages:
            log.warning("host.inbox_full", dropped=len(items))
            return  # Raft tolerates loss; the sender retries
        groups = self.groups
        for gid, m in items:
            if gid in groups:
                self._inbox.append((gid, m))
            elif (1 <= gid <= self.cfg.shards and m.type in _LEADER_MESSAGES
                  and len(self._new_replicas) < MAX_NEW_REPLICAS_PER_TURN):
                self._new_replicas.setdefault(gid, []).append(m)
        self._wake.set()

    def group(self, gid: int) -> Group | None:
        return self.groups.get(gid)

    # --- the loop ----------------------------------------------------------
    async def run(self) -> None:
        ticker = asyncio.create_task(self._ticker(), name="raft-ticker")
        try:
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    break
                await self.turn()
        finally:
            ticker.cancel()
            for g in self.groups.values():
                g.fail_everything(Unavailable("node shutting down"))

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._period)
            self._tick_due = True
            self._wake.set()

    async def turn(self) -> None:
        self.turns += 1
        self._tick_due = False
        self._deliver_due_ticks()
        if self._new_replicas:
            self._create_replicas()
        self._step_inbox()
        now_ms = int(time.time() * 1000)
        for g in self.groups.values():
            if g.batch_cmds or g.read_batch:
                g.flush(lambda cmds: self.sm.encode_batch(cmds, now_ms))
        readies = [(g, g.core.ready()) for g in self.groups.values() if g.core.has_ready()]
        if not readies:
            return
        jobs = [(g.gid, rd, g.core.trk.config.copy()) for g, rd in readies
                if rd.entries or rd.hard_state or rd.snapshot or rd.committed_entries]
        applied: dict[int, list[_Applied]] = {}
        if jobs:  # turns with only messages (heartbeats, read acks) need no transaction
            # A leader's appends and heartbeats go out before its own fsync (Raft thesis
            # §10.2.1): the fsyncs of leader and followers overlap. Safe because
            # acknowledgements are only stepped next turn, after this fsync, so commit
            # never counts an entry the leader has not persisted; votes and append
            # responses still wait (they promise durable state).
            self._send_messages([(g, _take_leader_messages(g, rd)) for g, rd in readies])
            batch, applied = await asyncio.to_thread(self._persist_and_apply, jobs)
            batch.publish()
        for _, rd, _ in jobs:
            if rd.snapshot is not None:
                self.snapshots_installed += 1
                path = staged_path(rd.snapshot)
                if path is not None:
                    path.unlink(missing_ok=True)
        self._send_messages([(g, rd.messages) for g, rd in readies])
        for g, rd in readies:
            for index, term, results, cc in applied.get(g.gid, ()):
                if cc is not None:
                    g.core.apply_conf_change(cc)
                g.on_applied(index, term, results)
            for rs in rd.read_states:
                g.on_read_state(rs.index, rs.request_ctx)
            g.core.advance(rd)
            g.release_apply_waiters()
            if rd.soft_state is not None:
                g.on_role_change()
        if any(g.core.has_ready() for g, _ in readies) or self._inbox:
            self._wake.set()

    def ticks_due(self) -> int:
        """Ticks the monotonic clock says have elapsed but were not delivered yet.

        A stopped or starved process (SIGSTOP, a VM freeze, a long GC pause)
        delivers no ticks while the rest of the cluster's clocks run on. Raft
        time must follow real time, or a resumed leader would trust a lease
        that expired while it was stopped."""
        return int((time.monotonic() - self._t0) / self._period) - self.ticks

    def _deliver_due_ticks(self) -> None:
        due = self.ticks_due()
        if due > MAX_CATCHUP_TICKS:
            # After a very long stop, more ticks change nothing (every timer
            # has fired): skip the excess instead of spinning through it.
            self.ticks += due - MAX_CATCHUP_TICKS
            due = MAX_CATCHUP_TICKS
        for _ in range(due):
            self.ticks += 1
            for g in self.groups.values():
                g.core.tick()
            if self.balance_leaders and self.ticks % BALANCE_EVERY_TICKS == 0:
                self._balance_leaders()
        if due and self.liveness is not None:
            self._check_peers(self.liveness)

    def peer_heard(self, peer: int) -> None:
        """The transport received a batch (perhaps an empty node beat) from `peer`."""
        if self.liveness is not None:
            self.liveness.heard(peer, self.ticks)

    def _check_peers(self, liveness: PeerLiveness) -> None:
        """Send node beats that are due; wake quiesced followers of silent peers."""
        for peer in liveness.beats_due(self.ticks):
            self._send(peer, [])
        silent = liveness.silent(self.ticks)
        if silent:
            for g in self.groups.values():
                if g.core.quiesced and g.core.leader_id in silent:
                    g.core.report_leader_down()
                    log.info("host.leader_silent", group=g.gid, leader=g.core.leader_id)

    def set_clock_rate(self, rate: float) -> None:
        """Run this node's Raft clock at `rate` x real time (clock-skew fault injection).

        Rebased so that ticks already delivered stay delivered."""
        self._period = self.cfg.tick_ms / 1000 / rate
        self._t0 = time.monotonic() - self.ticks * self._period
        self._wake.set()

    def lease_clock_ok(self) -> bool:
        """May leases be trusted right now? Not while ticks are overdue (see ticks_due)."""
        return self.ticks_due() <= 1

    def _balance_leaders(self) -> None:
        """Hand leadership to each shard's preferred replica once it is caught up.

        Placement orders replicas by rendezvous score, so preferred leaders
        are spread like replicas; after failures and restarts leadership
        drifts, and this moves it back (one transfer per shard per round).
        """
        for gid, g in self.groups.items():
            core = g.core
            if core.role != StateRole.LEADER or core.lead_transferee:
                continue
            preferred = self.placement[gid][0]
            pr = core.trk.progress.get(preferred)
            if (preferred == self.node_id or pr is None or pr.is_learner
                    or not pr.recent_active or pr.match != core.last_index):
                continue
            core.transfer_leader(preferred)
            self.transfers_started += 1
            log.info("host.leader_balance", group=gid, to=preferred)

    def _step_inbox(self) -> None:
        inbox = self._inbox
        groups = self.groups
        while inbox:
            gid, m = inbox.popleft()
            g = groups.get(gid)
            if g is not None:
                g.core.step(m)

    def _persist_and_apply(self, jobs: list[tuple[int, Ready, TrackerConfig]]
                           ) -> tuple[WriteBatch, dict[int, list[_Applied]]]:
        """Worker thread: one write transaction for every group, committed with one fsync."""
        out: dict[int, list[_Applied]] = {}
        w = self.store.write()
        try:
            for gid, rd, _ in jobs:
                if rd.snapshot is not None:
                    self._install_snapshot(w, gid, rd)
                if rd.entries:
                    w.append(gid, rd.entries)
                if rd.hard_state is not None:
                    w.set_hard_state(gid, rd.hard_state)
            for gid, rd, cfg in jobs:
                if rd.committed_entries:
                    out[gid] = self._apply(w, gid, rd, cfg)
        except BaseException:
            w.abort()
            raise
        w.commit()
        return w, out

    def _apply(self, w: WriteBatch, gid: int, rd: Ready, cfg: TrackerConfig) -> list[_Applied]:
        results: list[_Applied] = []
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                cc = _decode_cc(e.data)
                new = apply_conf_change(cfg, cc) if cc is not None else None
                if new is not None:
                    cfg = new
                    w.set_conf_state(gid, cfg.to_conf_state())
                results.append((e.index, e.term, [], cc))
            else:
                results.append((e.index, e.term, self.sm.apply_entry(w.txn, gid, e), None))
        applied = rd.committed_entries[-1].index
        w.set_applied(gid, applied)
        self._maybe_compact(w, gid, applied)
        return results

    def _install_snapshot(self, w: WriteBatch, gid: int, rd: Ready) -> None:
        snap = rd.snapshot
        assert snap is not None
        path = staged_path(snap)
        if path is None:
            self.sm.restore_snapshot(w, gid, snap)
            return
        self.sm.restore(w.txn, gid, read_staged(path))
        w.apply_snapshot(gid, snap.meta)
        w.set_applied(gid, snap.meta.index)

    def _maybe_compact(self, w: WriteBatch, gid: int, applied: int) -> None:
        """Record a snapshot at `applied` and drop the log before the retained tail."""
        gs = self.store.group(gid)
        if applied - gs.snapshot_index < self.cfg.snapshot_entries:
            return
        w.create_snapshot(gid, applied)
        upto = applied - self.cfg.log_retain_entries
        if upto > gs.first_index() - 1:
            w.compact(gid, upto)
        self.compactions += 1

    def _send_messages(self, batches: list[tuple[Group, list[Message]]]) -> None:
        per_peer: dict[int, list[tuple[int, Message]]] = {}
        for g, msgs in batches:
            for m in msgs:
                if m.type == MessageType.SNAPSHOT:
                    # Streamed out of band (kvstore/server/snapshots.py), never inline.
                    if self._send_snapshot is not None:
                        self._send_snapshot(g.gid, m)
                    else:
                        g.core.report_snapshot(m.to, False)
                    continue
                per_peer.setdefault(m.to, []).append((g.gid, m))
        for to, items in per_peer.items():
            self._send(to, items)

    def report_snapshot(self, gid: int, peer: int, ok: bool) -> None:
        g = self.groups.get(gid)
        if g is not None:
            g.core.report_snapshot(peer, ok)
            self._wake.set()

    def report_unreachable(self, peer: int, gids: list[int]) -> None:
        for gid in gids:
            g = self.groups.get(gid)
            if g is not None:
                g.core.report_unreachable(peer)
