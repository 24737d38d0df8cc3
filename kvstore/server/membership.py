"""Node-level membership: change the cluster metadata record through group 0.

`change_meta` is a read-modify-write of the single metadata record on the
metadata group's leader: a linearizable read (ReadIndex) of the current
record, the pure change from `ClusterMeta` (which validates it), and a
compare-and-swap through Raft, retried if another change won the race.
Every node applies the new record from group 0 and its shard leaders start
moving replicas (`kvstore.server.rebalance`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kvstore.errors import InvalidArgument, NotLeader, Timeout, Unavailable
from kvstore.raft import StateRole
from kvstore.server.host import MultiRaftHost
from kvstore.sharding.errors import ShardingError
from kvstore.sharding.meta import META_GROUP, META_KEY, ClusterMeta
from kvstore.statemachine import Code, cas

MAX_ATTEMPTS = 5
Change = Callable[[ClusterMeta], ClusterMeta]


async def _wait(host: MultiRaftHost, fut: asyncio.Future[Any]) -> Any:
    host.wake()
    try:
        return await asyncio.wait_for(fut, host.cfg.request_timeout_s)
    except TimeoutError:
        raise Timeout("metadata change timed out; it may or may not apply") from None


async def change_meta(host: MultiRaftHost, change: Change) -> ClusterMeta:
    """Apply `change` to the current record; the record now in force."""
    g = host.group(META_GROUP)
    if g is None:
        raise Unavailable(f"node {host.node_id} has no replica of the metadata group yet")
    for _ in range(MAX_ATTEMPTS):
        await _wait(host, g.submit_linearizable_read())
        with host.store.read() as txn:
            raw = host.sm.get(txn, META_GROUP, META_KEY)
        if raw is None:
            raise Unavailable("the metadata group holds no cluster record")
        current = ClusterMeta.decode(raw)
        try:
            new = change(current)
        except ShardingError as exc:
            raise InvalidArgument(str(exc)) from None
        if new is current:
            return current
        res = await _wait(host, g.submit_write(cas(META_KEY, raw, new.encode(),
                                                   limits=host.sm.limits)))
        if res[0] == Code.OK and res[3]:
            return new
    raise Unavailable("the cluster metadata kept changing concurrently; try again")


def meta_leader_error(host: MultiRaftHost, addresses: dict[int, str]) -> NotLeader | None:
    """NotLeader (with the metadata leader's address) unless this node leads group 0."""
    g = host.group(META_GROUP)
    if g is not None and g.core.role == StateRole.LEADER:
        return None
    lead = g.core.leader_id if g is not None else 0
    return NotLeader(f"node {host.node_id} does not lead the metadata group", shard=META_GROUP,
                     leader_hint=lead, leader_addr=addresses.get(lead, ""))
