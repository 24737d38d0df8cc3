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
   client futures (a client hears "ok" only for committed writes: see below);
6. `advance()` every group.
Persist-before-send and apply-with-applied-index in one transaction are the
two durability invariants (see ARCHITECTURE.md).

Step 4 is `Persister.run` (kvstore/server/persist.py), on the storage writer
thread (kvstore/server/writer.py; LMDB ties a write transaction to its
thread), so the event loop keeps accepting requests and peer messages during
the fsync; they all join the next turn. That is what makes a turn carry many
writes under load. While the worker runs, nothing mutates a Raft core: the
worker only reads the Ready and computes conf changes with the pure
`apply_conf_change`; the cores are updated after it returns.

Write results are posted to the loop as soon as the worker has computed them,
before that transaction's fsync (`_resolve_early`): the entries are committed,
i.e. already durable in a majority of Raft logs, and their results are a
deterministic function of the log, so a crash before this commit re-applies
them with the same results. Reads still see them only after the commit
(linearizable and lease reads wait for the core's applied index, which moves
in `advance`), and the reply's applied index covers the write
(`Group.resolved_index`), so read-your-writes holds on every replica.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

from kvstore.errors import Unavailable
from kvstore.logging import get_logger
from kvstore.raft import (
    Config,
    Message,
    MessageType,
    RaftCore,
    Ready,
    StateRole,
)
from kvstore.server.apply_delay import DelayedApplies
from kvstore.server.cluster_view import ClusterView, load_meta
from kvstore.server.compaction import compact_floor
from kvstore.server.config import NodeConfig
from kvstore.server.group import Group
from kvstore.server.liveness import PeerLiveness, wake_for_silent
from kvstore.server.notices import DeferredNotices
from kvstore.server.persist import Applied, Persister
from kvstore.server.placement_driver import (
    balance_leaders,
    bootstrap_initial,
    rebalance_all,
)
from kvstore.server.raft_clock import RaftClock
from kvstore.server.rebalance import decode_epoch
from kvstore.server.replica_gc import GC_PROBE_TICKS, gc_probes
from kvstore.server.replicas import ReplicaLifecycle
from kvstore.server.snapshots import staged_path
from kvstore.server.writer import StorageWriter
from kvstore.sharding.meta import META_GROUP, ClusterMeta
from kvstore.statemachine import StateMachine
from kvstore.storage import NodeStore

log = get_logger("kvstore.host")

BALANCE_EVERY_TICKS = 40
REBALANCE_EVERY_TICKS = 5
MAX_CATCHUP_TICKS = 64
SendFn = Callable[[int, list[tuple[int, Message]]], None]
SnapshotFn = Callable[[int, Message], None]


_EARLY = (MessageType.APPEND, MessageType.HEARTBEAT)


def _take_leader_messages(g: Group, rd: Ready) -> list[Message]:
    """Remove and return a leader's appends and heartbeats from `rd.messages`."""
    if g.core.role != StateRole.LEADER or not rd.messages:
        return []
    early = [m for m in rd.messages if m.type in _EARLY]
    if early:
        rd.messages = [m for m in rd.messages if m.type not in _EARLY]
    return early


class MultiRaftHost:
    def __init__(self, cfg: NodeConfig, store: NodeStore, sm: StateMachine,
                 view: ClusterView, send: SendFn,
                 send_snapshot: SnapshotFn | None = None) -> None:
        self.cfg = cfg
        self.node_id = cfg.node_id
        self.store = store
        self.sm = sm
        self.view = view
        self._send = send
        # Node beats and peer silence, for quiesced groups (liveness.py); None when off.
        self.liveness: PeerLiveness | None = None
        if cfg.quiesce_ticks:
            self.liveness = PeerLiveness(
                sorted(p for p in view.addresses if p != cfg.node_id),
                beat_ticks=max(1, cfg.election_ticks // 4), dead_after_ticks=cfg.election_ticks)
            self._send = self.liveness.wrap_send(send, lambda: self.ticks)
            view.subscribe(self._on_meta)
        self._send_snapshot = send_snapshot
        self.snapshots_installed = 0
        self.groups: dict[int, Group] = {}
        self._inbox: deque[tuple[int, Message]] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self.turns = 0
        self.clock = RaftClock(cfg.tick_ms)
        self._notices = DeferredNotices(cfg.commit_notice_delay_ms / 1000, self.wake)
        self._applies = DelayedApplies(cfg.follower_apply_delay_ms / 1000, self.wake)
        self.balance_leaders = True
        self.transfers_started = 0
        self.rebalance_steps = 0
        # Per group, computed on the loop thread before each persist (compaction.py).
        self._floors: dict[int, int] = {}
        self._replicas = ReplicaLifecycle(self.node_id, cfg.shards, store)
        self._max_lag = max(cfg.log_retain_entries, 10 * cfg.snapshot_entries)
        self._writer = StorageWriter(f"storage-writer-{self.node_id}")
        self._persister = Persister(cfg, store, sm)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open_groups()

    def _open_groups(self) -> None:
        self._rng = random.Random(self.node_id * 7919 + int(time.time_ns() % 1_000_003))
        bootstrap_initial(self.cfg, self.store, self.view)
        for gid in self.store.group_ids():  # includes replicas added by conf changes
            self._open_group(gid)
        log.info("host.groups_opened", node=self.node_id, groups=sorted(self.groups))

    def _open_group(self, gid: int) -> Group:
        rc = Config(id=self.node_id, election_ticks=self.cfg.election_ticks,
                    heartbeat_ticks=self.cfg.heartbeat_ticks,
                    applied=self.store.applied_index(gid), quiesce_ticks=self.cfg.quiesce_ticks,
                    defer_commit_notices=self.cfg.commit_notice_delay_ms > 0)
        core = RaftCore(rc, self.store.group(gid), random.Random(self._rng.getrandbits(64)))
        g = self.groups[gid] = Group(gid, core, self.cfg.max_pending_proposals)
        return g

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
            else:
                self._replicas.offer(gid, m)
        self._wake.set()

    @property
    def ticks(self) -> int:
        return self.clock.ticks

    def group(self, gid: int) -> Group | None:
        return self.groups.get(gid)

    # --- the loop ----------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
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
            self._notices.close()
            self._applies.close()
            self._writer.close()
            for g in self.groups.values():
                g.fail_everything(Unavailable("node shutting down"))

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.clock.period)
            self._wake.set()

    async def turn(self) -> None:
        self.turns += 1
        self._deliver_due_ticks()
        if self._replicas.pending():
            self._replicas.destroy(self.groups, self.ticks)
            self._inbox.extend(self._replicas.create(self.groups, self.ticks, self._open_group))
        self._step_inbox()
        now_ms = int(time.time() * 1000)
        for g in self.groups.values():
            if g.batch_cmds or g.read_batch:
                g.flush(lambda cmds: self.sm.encode_batch(cmds, now_ms))
        self._notices.flush_due(self.groups)  # after the proposals' appends
        readies = [(g, g.core.ready()) for g in self.groups.values() if g.core.has_ready()]
        if not readies:
            return
        held = self._applies.hold(readies)  # followers' applies that may wait (apply_delay.py)
        self._floors = {g.gid: compact_floor(g.core, g.core.applied_index, self._max_lag)
                        for g, _ in readies}
        jobs = [(g.gid, rd, g.core.trk.config.copy()) for g, rd in readies
                if rd.entries or rd.hard_state or rd.snapshot or rd.committed_entries]
        applied: dict[int, list[Applied]] = {}
        if jobs:  # turns with only messages (heartbeats, read acks) need no transaction
            # A leader's appends and heartbeats go out before its own fsync (Raft thesis
            # §10.2.1): the fsyncs of leader and followers overlap. Safe because
            # acknowledgements are only stepped next turn, after this fsync, so commit
            # never counts an entry the leader has not persisted; votes and append
            # responses still wait (they promise durable state).
            self._send_messages([(g, _take_leader_messages(g, rd)) for g, rd in readies])
            # Early answers need a wake-up of this loop: only when a client waits.
            early = self._post_early if any(
                g.proposals for g, rd in readies if rd.committed_entries) else None
            batch, applied = await self._writer.run(self._persister.run, jobs, self._floors,
                                                    early)
            batch.publish()
        for _, rd, _ in jobs:
            if rd.snapshot is not None:
                self.snapshots_installed += 1
                path = staged_path(rd.snapshot)
                if path is not None:
                    path.unlink(missing_ok=True)
        self._send_messages([(g, rd.messages) for g, rd in readies])
        for g, rd in readies:
            self._advance(g, rd, applied.get(g.gid, ()))
        self._notices.watch(g for g, _ in readies)
        if META_GROUP in applied or any(rd.snapshot and g.gid == META_GROUP for g, rd in readies):
            self._reload_meta()
        # A held group stays ready until it applies; its timer wakes the loop for that.
        if any(g.core.has_ready() for g, _ in readies if g.gid not in held) or self._inbox:
            self._wake.set()

    def _advance(self, g: Group, rd: Ready, applied: Iterable[Applied]) -> None:
        """After the persist: results to clients, conf changes to the core, then advance."""
        for index, term, results, cc in applied:
            if cc is not None:
                g.core.apply_conf_change(cc)
                g.conf_epoch = max(g.conf_epoch, decode_epoch(cc.context))
                if self.node_id not in g.core.trk.config.all_ids():
                    self._replicas.removed.add(g.gid)
            g.on_applied(index, term, results)
        for rs in rd.read_states:
            g.on_read_state(rs.index, rs.request_ctx)
        g.core.advance(rd)
        g.release_apply_waiters()
        if rd.soft_state is not None:
            g.on_role_change()

    def _reload_meta(self) -> None:
        meta = load_meta(self.store, self.sm)
        if meta is not None:
            self.view.update(meta)

    def _deliver_due_ticks(self) -> None:
        delivered = False
        for tick in self.clock.advance(MAX_CATCHUP_TICKS):
            delivered = True
            # Placement decisions read each follower's recent_active before the tick:
            # a tick that runs CheckQuorum clears them all, and a leader whose
            # CheckQuorum falls on every balance tick would otherwise never move.
            if tick % REBALANCE_EVERY_TICKS == 0 and self.cfg.rebalance:
                self.rebalance_steps += rebalance_all(self.groups, self.view)
            if self.balance_leaders and tick % BALANCE_EVERY_TICKS == 0:
                self.transfers_started += balance_leaders(self.groups, self.view, self.node_id)
            for g in self.groups.values():
                g.core.tick()
            if tick % GC_PROBE_TICKS == 0:
                self._send_messages([(g, gc_probes(g.core)) for g in self.groups.values()])
        if delivered and self.liveness is not None:
            self._check_peers(self.liveness)

    def _on_meta(self, meta: ClusterMeta) -> None:
        if self.liveness is not None:
            for nid in meta.nodes:
                if nid != self.node_id:
                    self.liveness.add_peer(nid, self.ticks)

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
            wake_for_silent(self.groups.values(), silent)

    def set_clock_rate(self, rate: float) -> None:
        """Run this node's Raft clock at `rate` x real time (clock-skew fault injection)."""
        self.clock.set_rate(rate)
        self._wake.set()

    def lease_clock_ok(self) -> bool:
        """May leases be trusted right now? Not while ticks are overdue (raft_clock.py)."""
        return self.clock.lease_ok()

    def _step_inbox(self) -> None:
        inbox = self._inbox
        groups = self.groups
        while inbox:
            gid, m = inbox.popleft()
            g = groups.get(gid)
            if g is None:
                continue
            if m.frm not in g.core.trk.progress or m.type == MessageType.REPLICA_GC:
                self._replicas.stranger(g, m, self._send)  # rare: stale, new or removed
            g.core.step(m)

    def _post_early(self, applied: dict[int, list[Applied]]) -> None:
        """Writer thread: hand write results to the loop before the fsync."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._resolve_early, applied)

    def _resolve_early(self, applied: dict[int, list[Applied]]) -> None:
        """Loop thread: answer committed writes while their apply transaction syncs.

        Only client futures change; the cores advance after the commit (turn)."""
        for gid, entries in applied.items():
            g = self.groups.get(gid)
            if g is not None:
                for index, term, results, _ in entries:
                    g.on_applied(index, term, results)

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
