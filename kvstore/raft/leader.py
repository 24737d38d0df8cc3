"""Leader behaviour: replication, commitment, heartbeats, ReadIndex, lease, transfer.

Functions take the `RaftCore` as their first argument (etcd's stepLeader and
its helpers). Invariants kept here:
- commit advances only to an index whose entry has the current term (§5.4.2,
  via `core._may_commit_at`);
- a follower in REPLICATE has at most `max_inflight_msgs` appends in flight;
- a ReadIndex is answered only after the leader has committed an entry of its
  term and a quorum has acknowledged a heartbeat sent after the request (§6.4);
- lease reads are refused once a TimeoutNow was sent in this term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft import quiesce
from kvstore.raft.codec import encode_conf_change
from kvstore.raft.errors import CompactedError, RaftError
from kvstore.raft.progress import ProgressState
from kvstore.raft.quorum import VoteResult
from kvstore.raft.tracker import apply_conf_change
from kvstore.raft.types import (
    NONE,
    ConfChange,
    Entry,
    EntryType,
    Message,
    MessageType,
    ReadState,
    StateRole,
)

if TYPE_CHECKING:
    from kvstore.raft.core import RaftCore

_MT = MessageType
MAX_PENDING_READS = 4096


def tick(core: RaftCore) -> None:
    core.heartbeat_elapsed += 1
    core.election_elapsed += 1
    if core.election_elapsed >= core.cfg.election_ticks:
        core.election_elapsed = 0
        if core.cfg.check_quorum and not check_quorum(core):
            return
        if core.lead_transferee != NONE:
            core.lead_transferee = NONE  # the transfer did not finish in time
    if core.cfg.quiesce_ticks and quiesce.maybe_quiesce(core):
        return
    if core.heartbeat_elapsed >= core.cfg.heartbeat_ticks:
        core.heartbeat_elapsed = 0
        bcast_heartbeat(core, core.read_only.last_pending_ctx())


def removed_by_log(core: RaftCore) -> bool:
    """Whether the applied configuration, with the conf changes still unapplied in
    the log, leaves this node out of the incoming voters (a new leader's `leaving`)."""
    cfg = core.trk.config
    try:
        tail = core.log.slice(core.log.applied + 1, core.log.last_index() + 1, None)
    except RaftError:  # no tail to read (a snapshot is pending): the applied config
        tail = []
    for e in tail:
        cc = core.decode_conf_change(e) if e.type == EntryType.CONF_CHANGE else None
        new = apply_conf_change(cfg, cc) if cc is not None else None
        cfg = new or cfg
    return core.id not in cfg.incoming


def check_quorum(core: RaftCore) -> bool:
    """Step down unless a quorum was active in the last election timeout (§6.2)."""
    if not core.trk.quorum_active(core.id):
        core.become_follower(core.term, NONE)
        return False
    core.quorum_unconfirmed = False
    for nid, pr in core.trk.progress.items():
        if nid != core.id:
            pr.recent_active = False
    return True


def step(core: RaftCore, m: Message) -> None:
    t = m.type
    if t == _MT.APPEND_RESP:
        _on_append_resp(core, m)
    elif t == _MT.HEARTBEAT_RESP:
        _on_heartbeat_resp(core, m)
    elif t == _MT.READ_INDEX:
        if m.frm in core.trk.progress:
            handle_read_index(core, m)
    elif t == _MT.TRANSFER_LEADER:
        handle_transfer(core, m)
    # Anything else in our own term at the leader is stale or malformed: drop.


def append_entries(core: RaftCore, ents: list[Entry]) -> None:
    li = core.log.last_index()
    for i, e in enumerate(ents):
        e.term = core.term
        e.index = li + 1 + i
    core.log.append(ents)
    core.trk.progress[core.id].maybe_update(core.log.last_index())
    maybe_commit(core)


def maybe_commit(core: RaftCore) -> bool:
    mci = core.trk.committed()
    if mci > core.log.committed and core._may_commit_at(mci):
        core.log.commit_to(mci)
        return True
    return False


def bcast_append(core: RaftCore) -> None:
    for nid in sorted(core.trk.progress):
        if nid != core.id:
            send_append(core, nid, True)


def notify_commit(core: RaftCore) -> None:
    """Tell followers the new commit index (merge_commit_notices).

    A follower that already gets an append in this ready learns it from that
    append (appends carry the commit index as of their sending, so only one
    sent after the commit moved counts); the others get an empty append."""
    told = _told_commit(core)
    for nid in sorted(core.trk.progress):
        if nid != core.id and nid not in told:
            send_append(core, nid, True)


def commit_told_to_all(core: RaftCore) -> bool:
    """Do appends about to go out carry the commit index to every follower?"""
    told = _told_commit(core)
    return all(nid == core.id or nid in told for nid in core.trk.progress)


def _told_commit(core: RaftCore) -> set[int]:
    committed = core.log.committed
    return {m.to for m in core.msgs if m.type == _MT.APPEND and m.commit >= committed}


def send_append(core: RaftCore, to: int, send_if_empty: bool = True) -> bool:
    """Send the next append (or a snapshot) to `to`. Returns whether a message went out."""
    pr = core.trk.progress.get(to)
    if pr is None or pr.is_paused():
        return False
    prev_index = pr.next - 1
    prev_term = core.log.term_or_none(prev_index)
    try:
        ents = core.log.entries(pr.next, core.cfg.max_size_per_msg)
    except CompactedError:
        ents = None
    if ents is not None and not ents and not send_if_empty:
        return False
    if prev_term is None or ents is None:
        return _send_snapshot(core, to)
    core.send(Message(_MT.APPEND, to=to, index=prev_index, log_term=prev_term, entries=ents,
                      commit=core.log.committed))
    pr.sent_entries(len(ents))
    return True


def _send_snapshot(core: RaftCore, to: int) -> bool:
    pr = core.trk.progress[to]
    if not pr.recent_active:
        return False
    try:
        snap = core.log.snapshot()
    except RaftError:
        return False
    if snap.is_empty():
        return False
    core.send(Message(_MT.SNAPSHOT, to=to, snapshot=snap))
    pr.become_snapshot(snap.meta.index)
    return True


def bcast_heartbeat(core: RaftCore, ctx: bytes) -> None:
    for nid in sorted(core.trk.progress):
        if nid != core.id:
            pr = core.trk.progress[nid]
            # Never tell a follower to commit past what it is known to hold.
            commit = min(pr.match, core.log.committed)
            core.send(Message(_MT.HEARTBEAT, to=nid, commit=commit, context=ctx,
                              index=core.ticks))


def _on_append_resp(core: RaftCore, m: Message) -> None:
    pr = core.trk.progress.get(m.frm)
    if pr is None:
        return
    pr.recent_active = True
    if m.reject:
        hint = m.reject_hint
        if m.log_term > 0:
            hint, _ = core.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, hint):
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
            send_append(core, m.frm)
        return
    was_paused = pr.is_paused()
    updated = pr.maybe_update(m.index)
    # An ack at exactly `match` still tells a probing leader where the logs agree.
    if not updated and not (pr.state == ProgressState.PROBE and pr.match == m.index):
        return
    if pr.state == ProgressState.PROBE:
        pr.become_replicate()
    elif pr.state == ProgressState.SNAPSHOT and pr.match + 1 >= core.log.first_index():
        pr.become_probe()
        pr.become_replicate()
    elif pr.state == ProgressState.REPLICATE:
        pr.inflights.free_le(m.index)
    if maybe_commit(core):
        _release_pending_reads(core)
        if core.cfg.merge_commit_notices:
            core.commit_notice_pending = True
        else:
            bcast_append(core)
    elif was_paused:
        send_append(core, m.frm)
    # Pipelining: keep sending while the in-flight window has room. A follower
    # already sent everything (the common case) needs no look at the log.
    while pr.next <= core.log.last_index() and send_append(core, m.frm, False):
        pass
    if m.frm == core.lead_transferee and pr.match == core.log.last_index():
        send_timeout_now(core, m.frm)


def _on_heartbeat_resp(core: RaftCore, m: Message) -> None:
    pr = core.trk.progress.get(m.frm)
    if pr is None:
        return
    pr.recent_active = True
    pr.msg_app_flow_paused = False
    if pr.state == ProgressState.REPLICATE and pr.inflights.full():
        # Appends in the window may have been lost: let one more through, so a
        # rejection (and repair) can happen without waiting for the transport.
        pr.inflights.free_first_one()
    if m.index > pr.lease_tick:
        pr.lease_tick = m.index
    if pr.match < core.log.last_index() or pr.state == ProgressState.PROBE:
        send_append(core, m.frm)
    if not m.context:
        return
    acks = core.read_only.recv_ack(m.frm, m.context)
    if acks is None or core.trk.vote_result(acks) != VoteResult.WON:
        return
    for rs in core.read_only.advance(m.context):
        _respond_read_index(core, rs.req, rs.index)


# --- ReadIndex and lease ---------------------------------------------------

def committed_in_current_term(core: RaftCore) -> bool:
    return core.log.term_or_none(core.log.committed) == core.term


def handle_read_index(core: RaftCore, m: Message) -> None:
    if core.trk.is_singleton():
        _respond_read_index(core, m, core.log.committed)
        return
    if not committed_in_current_term(core):
        # The commit index may lag the true one until we commit in our term (§6.4).
        if len(core.pending_read_index) < MAX_PENDING_READS:
            core.pending_read_index.append(m)
        return
    _send_read_index(core, m)


def _send_read_index(core: RaftCore, m: Message) -> None:
    if core.is_lease_option():
        idx = lease_read_index(core)
        if idx is not None:
            _respond_read_index(core, m, idx)
            return
    if not core.read_only.add_request(core.log.committed, m):
        return
    core.read_only.recv_ack(core.id, m.context)
    bcast_heartbeat(core, m.context)


def _release_pending_reads(core: RaftCore) -> None:
    if core.pending_read_index and committed_in_current_term(core):
        pending, core.pending_read_index = core.pending_read_index, []
        for m in pending:
            _send_read_index(core, m)


def _respond_read_index(core: RaftCore, req: Message, index: int) -> None:
    if req.frm in (NONE, core.id):
        core.read_states.append(ReadState(index, req.context))
    else:
        core.send(Message(_MT.READ_INDEX_RESP, to=req.frm, index=index, context=req.context))


def lease_read_index(core: RaftCore) -> int | None:
    """The commit index if the leader lease holds now (see config.py for the assumption)."""
    if (core.role != StateRole.LEADER or not core.cfg.check_quorum or core.lease_revoked
            or core.lead_transferee != NONE or not committed_in_current_term(core)):
        return None
    if core.trk.is_singleton():
        return core.log.committed
    horizon = core.ticks - core.lease_ticks()
    fresh = {nid: nid == core.id or (pr.lease_tick > 0 and pr.lease_tick > horizon)
             for nid, pr in core.trk.progress.items() if not pr.is_learner}
    if core.trk.vote_result(fresh) != VoteResult.WON:
        return None
    return core.log.committed


# --- leadership transfer, transport feedback, membership --------------------

def handle_transfer(core: RaftCore, m: Message) -> None:
    to = m.index
    pr = core.trk.progress.get(to)
    if pr is None or pr.is_learner or to == core.id:
        return
    if core.lead_transferee != NONE:
        if core.lead_transferee == to:
            return
        core.lead_transferee = NONE
    core.election_elapsed = 0  # the transfer must finish within one election timeout
    core.lead_transferee = to
    if pr.match == core.log.last_index():
        send_timeout_now(core, to)
    else:
        send_append(core, to)


def send_timeout_now(core: RaftCore, to: int) -> None:
    # The target campaigns with a forced vote that bypasses followers' leases,
    # so our lease cannot be trusted again in this term.
    core.lease_revoked = True
    core.send(Message(_MT.TIMEOUT_NOW, to=to))


def on_unreachable(core: RaftCore, nid: int) -> None:
    pr = core.trk.progress.get(nid)
    if pr is not None and pr.state == ProgressState.REPLICATE:
        pr.become_probe()


def on_snapshot_status(core: RaftCore, nid: int, ok: bool) -> None:
    pr = core.trk.progress.get(nid)
    if pr is None or pr.state != ProgressState.SNAPSHOT:
        return
    if not ok:
        pr.pending_snapshot = 0
    pr.become_probe()
    # Wait for the follower's reply (or the next heartbeat) before probing again.
    pr.msg_app_flow_paused = True


def on_config_changed(core: RaftCore) -> None:
    cfg = core.trk.config
    if core.id not in cfg.incoming and core.id not in cfg.outgoing:
        # Removed (or demoted): step down cleanly; the remaining voters elect a leader.
        core.become_follower(core.term, NONE)
        return
    if maybe_commit(core):
        bcast_append(core)
    else:
        for nid in sorted(core.trk.progress):
            if nid != core.id:
                send_append(core, nid, False)
    if core.lead_transferee != NONE and core.lead_transferee not in cfg.voter_ids():
        core.lead_transferee = NONE


def maybe_auto_leave_joint(core: RaftCore) -> None:
    cfg = core.trk.config
    if cfg.joint() and cfg.auto_leave and core.log.applied >= core.pending_conf_index:
        e = Entry(core.term, 0, EntryType.CONF_CHANGE, encode_conf_change(ConfChange()))
        append_entries(core, [e])
        core.pending_conf_index = e.index
        bcast_append(core)
