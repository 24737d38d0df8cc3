"""Local proposals of a RaftCore: normal entries and configuration changes.

`RaftCore.propose`, `propose_conf_change` and `apply_conf_change` delegate
here. Entries go through `core._propose`, which test-only cores (kvstore/sim/
broken.py) override to reproduce old bugs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft import leader
from kvstore.raft.codec import encode_conf_change
from kvstore.raft.errors import NotLeaderError, ProposalDropped
from kvstore.raft.tracker import apply_conf_change as next_config
from kvstore.raft.types import NONE, ConfChange, ConfState, Entry, EntryType, StateRole

if TYPE_CHECKING:
    from kvstore.raft.core import RaftCore


def propose(core: RaftCore, data: bytes) -> int:
    if core.leaving:
        # Raft §4.2.2 with apply-time configurations: once this leader applies
        # its removal it steps down, maybe before the others learn the change
        # committed. Members still in the older configuration may then need its
        # vote, which it only gives if its log is no longer than theirs: so it
        # must append nothing after the change that removes it.
        raise ProposalDropped("this leader is leaving the voters (a configuration "
                              "change removes it); propose to the next leader")
    return core._propose(Entry(core.term, 0, EntryType.NORMAL, data))


def propose_conf_change(core: RaftCore, cc: ConfChange) -> int:
    new = None
    if core.role == StateRole.LEADER:
        if core.pending_conf_index > core.log.applied:
            raise ProposalDropped("a configuration change is still pending")
        new = next_config(core.trk.config, cc)
        if new is None:
            raise ProposalDropped("invalid configuration change for the current config")
    index = core._propose(Entry(core.term, 0, EntryType.CONF_CHANGE, encode_conf_change(cc)))
    core.pending_conf_index = index
    if new is not None and core.id not in new.incoming:
        core.leaving = True
    return index


def propose_entry(core: RaftCore, e: Entry) -> int:
    """Append `e` to the leader's log and send it; returns its index."""
    core._touch()
    if core.role != StateRole.LEADER:
        raise NotLeaderError(core.leader_id)
    if core.lead_transferee != NONE:
        raise ProposalDropped("leadership transfer in progress")
    if core.id not in core.trk.progress:
        raise ProposalDropped("this node was removed from the group")
    limit = core.cfg.max_uncommitted_entries_size
    if limit and core.uncommitted_size and core.uncommitted_size + len(e.data) > limit:
        raise ProposalDropped("too many uncommitted entries")
    core.uncommitted_size += len(e.data)
    leader.append_entries(core, [e])
    leader.bcast_append(core)
    return e.index


def apply_conf_change(core: RaftCore, cc: ConfChange) -> ConfState:
    core._touch()
    new = next_config(core.trk.config, cc)
    if new is not None:
        core.trk.set_config(new, core.log.last_index() + 1)
        if core.role == StateRole.LEADER:
            leader.on_config_changed(core)
    return core.conf_state()
