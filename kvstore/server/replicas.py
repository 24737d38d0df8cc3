"""Replica lifecycle on one node: create the replicas leaders start sending to,
destroy the ones removed from their group or proven stale (replica_gc.py).

The host runs both at the start of a turn, when no write batch is open: they
write to the store outside the group-commit batch (NodeStore.bootstrap_group,
NodeStore.destroy_group).
"""

from __future__ import annotations

from collections.abc import Callable

from kvstore.errors import NotLeader
from kvstore.logging import get_logger
from kvstore.raft import ConfState, Message, MessageType
from kvstore.server.group import Group
from kvstore.server.replica_gc import gc_hint, is_hint, obeys_gc_hint
from kvstore.storage import NodeStore

log = get_logger("kvstore.host")

MAX_NEW_REPLICAS_PER_TURN = 64
# After destroying a removed replica, ignore leader messages for it this long.
GC_QUIET_TICKS = 40
_LEADER_MESSAGES = (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT)
Item = tuple[int, Message]


class ReplicaLifecycle:
    def __init__(self, node_id: int, shards: int, store: NodeStore) -> None:
        self.node_id = node_id
        self.shards = shards
        self.store = store
        self.removed: set[int] = set()  # applied their own removal (host._advance)
        self.stale: set[int] = set()  # told by a member that they were removed
        self._new: dict[int, list[Message]] = {}
        self._quiet_until: dict[int, int] = {}

    def pending(self) -> bool:
        return bool(self.removed or self.stale or self._new)

    def offer(self, gid: int, m: Message) -> None:
        """A peer's message for a group this node holds no replica of."""
        if (0 <= gid <= self.shards and m.type in _LEADER_MESSAGES
                and len(self._new) < MAX_NEW_REPLICAS_PER_TURN):
            self._new.setdefault(gid, []).append(m)

    def destroy(self, groups: dict[int, Group], ticks: int) -> None:
        """Delete replicas this node applied its own removal from (TiKV's replica GC),
        and replicas a member proved stale (replica_gc.py).

        The term and vote survive in a tombstone (NodeStore.destroy_group). Leader
        messages already in flight would re-create an empty replica at once, so
        such messages are ignored for a while (GC_QUIET_TICKS)."""
        removed, self.removed = self.removed, set()
        stale, self.stale = self.stale, set()
        for gid in sorted(removed | stale):
            g = groups.get(gid)
            if g is None or (gid not in stale and self.node_id in g.core.trk.config.all_ids()):
                continue  # re-added meanwhile
            g.fail_everything(NotLeader(f"node {self.node_id} no longer holds shard {gid}",
                                        shard=gid, leader_hint=g.core.leader_id))
            del groups[gid]
            self.store.destroy_group(gid)
            self._quiet_until[gid] = ticks + GC_QUIET_TICKS
            log.info("host.replica_destroyed", group=gid)

    def create(self, groups: dict[int, Group], ticks: int,
               open_group: Callable[[int], Group]) -> list[Item]:
        """Create empty replicas for groups a leader started sending to (after a conf
        change); returns the messages that asked for them, to be stepped.

        The new replica knows no configuration; it learns it from the snapshot
        its leader must send (see INIT_INDEX)."""
        pending, self._new = self._new, {}
        out: list[Item] = []
        for gid, msgs in pending.items():
            if self._quiet_until.get(gid, 0) > ticks:
                continue
            if gid not in groups:
                self.store.bootstrap_group(gid, ConfState())
                open_group(gid)
                log.info("host.replica_created", group=gid, leader=msgs[0].frm)
            out.extend((gid, m) for m in msgs)
        return out

    def stranger(self, g: Group, m: Message, send: Callable[[int, list[Item]], None]) -> None:
        """A message from outside this replica's configuration, or a GC hint."""
        if is_hint(m):
            if obeys_gc_hint(g.core, m):
                log.info("host.replica_stale", group=g.gid, hint_from=m.frm, index=m.index)
                self.stale.add(g.gid)
            return
        hint = gc_hint(g.core, m)
        if hint is not None:
            send(m.frm, [(g.gid, hint)])
