"""RaftCore: the sans-IO Raft state machine of one group member.

No clock, no sockets, no disk, no asyncio: inputs are `tick()`, `step(msg)`
and local requests (propose, read_index, transfer_leader, conf changes);
output is `ready()`. Randomness comes only from the injected `random.Random`,
so the same seed and inputs give the same outputs.

This module holds what is common to every role: `step`'s dispatch, role
transitions, timers, sending, local requests (proposals and configuration
changes in proposals.py) and the Ready/advance hand-shake. Elections are
started and counted in candidate.py; the term rules and vote answers are in
votes.py; the per-role step functions live in
leader.py, candidate.py and follower.py (as etcd-io/raft's
stepLeader/stepCandidate/stepFollower).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kvstore.raft import candidate, follower, leader, proposals, quiesce, votes
from kvstore.raft.codec import DecodeError, decode_conf_change
from kvstore.raft.config import Config, ReadOnlyOption
from kvstore.raft.errors import ProposalDropped
from kvstore.raft.log import RaftLog
from kvstore.raft.progress import Progress
from kvstore.raft.read_only import ReadOnly
from kvstore.raft.storage import Storage
from kvstore.raft.tracker import ProgressTracker, TrackerConfig
from kvstore.raft.types import (
    LOCAL_MESSAGES,
    NONE,
    ConfChange,
    ConfState,
    Entry,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    SoftState,
    StateRole,
    Status,
)

_MT = MessageType


class RaftCore:
    def __init__(self, config: Config, storage: Storage, rng: random.Random) -> None:
        config.validate()
        self.id = config.id
        self.cfg = config
        self.rng = rng
        self.log = RaftLog(storage, config.max_committed_size_per_ready)
        self.trk = ProgressTracker(config.max_inflight_msgs)
        self.term = 0
        self.vote = NONE
        self.leader_id = NONE
        self.role = StateRole.FOLLOWER
        self.msgs: list[Message] = []
        # The leader's commit index moved since the last ready (merge_commit_notices).
        self.commit_notice_pending = False
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_read_index: list[Message] = []
        self.pending_conf_index = 0
        # A leader that a conf change in its log takes out of the incoming voters.
        self.leaving = False
        self.uncommitted_size = 0
        self.lead_transferee = NONE
        self.lease_revoked = False
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_ticks
        # Total ticks since this core was created: the leader's lease clock, and
        # the boot fence that keeps a restarted node from voting inside a lease.
        self.ticks = 1
        # Quiescence (quiesce.py): an idle group's replicas stop their timers.
        self.quiesced = False
        self.quiet_ticks = 0
        # A woken leader quiesces again only after CheckQuorum saw its quorum answer.
        self.quorum_unconfirmed = False
        self._step_role: Callable[[RaftCore, Message], None] = follower.step

        hs, cs = storage.initial_state()
        self.trk.set_config(TrackerConfig.from_conf_state(cs), self.log.last_index() + 1)
        if hs.term or hs.vote or hs.commit:
            self._load_hard_state(hs)
        if config.applied > 0:
            self.log.applied_to(config.applied)
        self.become_follower(self.term, NONE)
        self._prev_soft = self.soft_state()
        self._prev_hard = self.hard_state()

    def _load_hard_state(self, hs: HardState) -> None:
        if not self.log.committed <= hs.commit <= self.log.last_index():
            hs.commit = min(max(hs.commit, self.log.committed), self.log.last_index())
        self.log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    # --- observers ---------------------------------------------------------
    @property
    def commit_index(self) -> int:
        return self.log.committed

    @property
    def applied_index(self) -> int:
        return self.log.applied

    @property
    def last_index(self) -> int:
        return self.log.last_index()

    def soft_state(self) -> SoftState:
        return SoftState(self.leader_id, self.role)

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def conf_state(self) -> ConfState:
        return self.trk.config.to_conf_state()

    def promotable(self) -> bool:
        pr = self.trk.progress.get(self.id)
        return pr is not None and not pr.is_learner and not self.log.unstable.snapshot

    def status(self) -> Status:
        prog = ({nid: pr.describe() for nid, pr in sorted(self.trk.progress.items())}
                if self.role == StateRole.LEADER else {})
        return Status(self.id, self.term, self.vote, self.log.committed, self.log.applied,
                      self.log.last_index(), self.role, self.leader_id, prog)

    # --- role transitions --------------------------------------------------
    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.leader_id = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = (
            self.cfg.election_ticks + self.rng.randrange(self.cfg.election_ticks))
        self.lead_transferee = NONE
        self.lease_revoked = False
        self.quiesced = False
        self.quiet_ticks = 0
        self.trk.reset_votes()
        last = self.log.last_index()
        for nid, pr in self.trk.progress.items():
            fresh = Progress(last + 1, self.cfg.max_inflight_msgs, pr.is_learner)
            if nid == self.id:
                fresh.match = last
            self.trk.progress[nid] = fresh
        self.pending_conf_index = 0
        self.leaving = False
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.pending_read_index = []

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self._step_role = follower.step
        self.leader_id = lead
        self.role = StateRole.FOLLOWER

    def become_candidate(self) -> None:
        self._reset(self.term + 1)
        self._step_role = candidate.step
        self.vote = self.id
        self.role = StateRole.CANDIDATE

    def become_pre_candidate(self) -> None:
        # A pre-candidate changes neither term nor vote (Raft thesis §9.6).
        self._step_role = candidate.step
        self.trk.reset_votes()
        self.leader_id = NONE
        self.quiesced = False
        self.role = StateRole.PRE_CANDIDATE

    def become_leader(self) -> None:
        self._reset(self.term)
        self._step_role = leader.step
        self.leader_id = self.id
        self.role = StateRole.LEADER
        self.trk.progress[self.id].become_replicate()
        # Conf changes in the uncommitted tail are unknown; be conservative.
        self.pending_conf_index = self.log.last_index()
        self.leaving = leader.removed_by_log(self)
        # An empty entry of the new term lets earlier entries commit (§5.4.2, §8).
        leader.append_entries(self, [Entry(self.term, 0)])

    # --- elections (candidate.py starts them; votes.py answers them) ---------
    def hup(self, transfer: bool = False) -> None:
        candidate.hup(self, transfer)

    # --- inputs ------------------------------------------------------------
    def tick(self) -> None:
        self.ticks += 1
        if self.quiesced:
            quiesce.tick_quiesced(self)
        elif self.role == StateRole.LEADER:
            leader.tick(self)
        else:
            self.election_elapsed += 1
            if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
                self.election_elapsed = 0
                self.hup()

    def campaign(self) -> None:
        """Start an election now, unless this node promised a leader its lease.

        A follower that acknowledged a heartbeat must not vote (itself
        included) before the lease it granted ends; a forced campaign after
        TimeoutNow is the one exception (the old leader revoked its lease)."""
        self._touch()
        if self.role != StateRole.LEADER and votes.in_lease(self):
            return
        self.hup()

    def step(self, m: Message) -> None:
        """Feed a message from a peer. Never raises; invalid or stale input is dropped."""
        if (m.type in LOCAL_MESSAGES or m.type == _MT.REPLICA_GC or m.frm == NONE
                or m.frm == self.id):
            return
        if quiesce.wakes(m):
            self._touch()
        if m.term > self.term:
            if not votes.accept_higher_term(self, m):
                return
        elif m.term < self.term:
            self._on_lower_term(m)
            return
        if m.type in votes.VOTE_TYPES:
            votes.handle_vote_request(self, m)
        else:
            self._step_role(self, m)

    def _touch(self) -> None:
        """Activity: wake if quiesced, and restart the leader's count of idle ticks."""
        if self.quiesced:
            quiesce.wake(self)
        self.quiet_ticks = 0

    def wake(self) -> None:
        """Leave quiescence now (host: e.g. an operator asked for it)."""
        self._touch()

    def report_leader_down(self) -> None:
        """Host: this follower's leader's node stopped answering (node-level liveness).

        A quiesced follower hears nothing from a live leader either, so only
        the host can tell the two apart; this resumes its election timer."""
        quiesce.report_leader_down(self)

    def report_peers_silent(self, silent: set[int]) -> bool:
        """Host: these nodes stopped answering. Wakes a quiesced leader left without a quorum."""
        return quiesce.report_peers_silent(self, silent)

    def _on_lower_term(self, m: Message) -> None:
        votes.on_lower_term(self, m)  # a method so that test-only subclasses can break it

    def send(self, m: Message) -> None:
        m.frm = self.id
        if m.type not in (_MT.VOTE, _MT.PRE_VOTE, _MT.VOTE_RESP, _MT.PRE_VOTE_RESP):
            m.term = self.term
        self.msgs.append(m)

    # --- local requests ----------------------------------------------------
    def propose(self, data: bytes) -> int:
        return proposals.propose(self, data)

    def propose_conf_change(self, cc: ConfChange) -> int:
        return proposals.propose_conf_change(self, cc)

    def _propose(self, e: Entry) -> int:
        return proposals.propose_entry(self, e)

    def read_index(self, ctx: bytes) -> None:
        self._touch()
        m = Message(_MT.READ_INDEX, frm=self.id, term=self.term, context=ctx)
        if self.role == StateRole.LEADER:
            leader.handle_read_index(self, m)
        elif self.leader_id == NONE:
            raise ProposalDropped("no leader to serve a read index")
        else:
            m.to = self.leader_id
            self.send(m)

    def lease_read_index(self) -> int | None:
        return leader.lease_read_index(self)

    def transfer_leader(self, to: int) -> None:
        self._touch()
        m = Message(_MT.TRANSFER_LEADER, frm=self.id, term=self.term, index=to)
        if self.role == StateRole.LEADER:
            leader.handle_transfer(self, m)
        elif self.leader_id != NONE:
            m.to = self.leader_id
            self.send(m)

    def report_unreachable(self, nid: int) -> None:
        if self.role == StateRole.LEADER:
            leader.on_unreachable(self, nid)

    def report_snapshot(self, nid: int, ok: bool) -> None:
        if self.role == StateRole.LEADER:
            leader.on_snapshot_status(self, nid, ok)

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Called by the host after applying a committed CONF_CHANGE entry."""
        return proposals.apply_conf_change(self, cc)

    # --- Ready -------------------------------------------------------------
    def has_ready(self) -> bool:
        # Called for every group on every host turn: compare fields, build nothing.
        log, ps, ph = self.log, self._prev_soft, self._prev_hard
        return bool(
            self.msgs or self.read_states or log.unstable.entries
            or (self.commit_notice_pending and not self.cfg.defer_commit_notices)
            or log.unstable.snapshot is not None
            or ps.leader_id != self.leader_id or ps.role != self.role
            or ph.term != self.term or ph.vote != self.vote or ph.commit != log.committed
            or log.has_next_committed_entries()
        )

    def ready(self) -> Ready:
        if self.commit_notice_pending:
            if self.role != StateRole.LEADER or leader.commit_told_to_all(self):
                self.commit_notice_pending = False
            elif not self.cfg.defer_commit_notices or (
                    self._prev_hard.commit < self.pending_conf_index <= self.log.committed):
                # A conf change just committed: tell everyone now, while a member it
                # removes is still in the progress table (later it would never learn).
                self.flush_commit_notice()
        rd = Ready(
            entries=self.log.unstable_entries(),
            snapshot=self.log.unstable.snapshot,
            committed_entries=self.log.next_committed_entries(),
            messages=self.msgs,
            read_states=self.read_states,
        )
        ss = self.soft_state()
        if ss != self._prev_soft:
            rd.soft_state = ss
        hs = self.hard_state()
        if hs != self._prev_hard:
            rd.hard_state = hs
        self.msgs = []
        self.read_states = []
        return rd

    def flush_commit_notice(self) -> None:
        """Send the leader's pending commit notices now (see defer_commit_notices)."""
        if self.commit_notice_pending:
            self.commit_notice_pending = False
            if self.role == StateRole.LEADER:
                leader.notify_commit(self)

    def advance(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.snapshot is not None:
            self.log.stable_snap_to(rd.snapshot.meta.index)
            self.log.applied = max(self.log.applied, rd.snapshot.meta.index)
        if rd.entries:
            last = rd.entries[-1]
            self.log.stable_to(last.index, last.term)
        if rd.committed_entries:
            self.log.applied_to(rd.committed_entries[-1].index)
            if self.role == StateRole.LEADER:
                done = sum(len(e.data) for e in rd.committed_entries)
                self.uncommitted_size = max(0, self.uncommitted_size - done)
                leader.maybe_auto_leave_joint(self)

    def decode_conf_change(self, e: Entry) -> ConfChange | None:
        """Helper for hosts: the ConfChange in a CONF_CHANGE entry, or None if malformed."""
        try:
            return decode_conf_change(e.data)
        except DecodeError:
            return None

    def _may_commit_at(self, index: int) -> bool:
        """Raft §5.4.2: a leader commits by counting replicas only entries of its own term.

        Test-only subclasses override this to break the rule on purpose."""
        return self.log.term_or_none(index) == self.term

    def lease_ticks(self) -> int:
        return self.cfg.election_ticks - self.cfg.max_clock_drift_ticks

    def is_lease_option(self) -> bool:
        return self.cfg.read_only_option == ReadOnlyOption.LEASE_BASED
