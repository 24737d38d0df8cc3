"""The `reshape` nemesis: grow and shrink the cluster while clients run.

Each step is a real operator action on real processes: first `grow` new
nodes join (`LocalCluster.add_node`, started with join seeds, then added to
the metadata through the metadata group's leader), then `shrink` random
nodes are removed, original nodes included. Replicas move online to the
placement the metadata gives. A removed node keeps running until no active
node's group lists it as a member any more; only then is it stopped
("retired"), as an operator would after `kvctl node remove --wait`.
"""

from __future__ import annotations

import asyncio
import random
import time

from kvstore.cluster.admin import add_node, remove_node, wait_placement
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import node_status
from kvstore.errors import KVError
from kvstore.logging import get_logger

log = get_logger("kvstore.chaos.reshape")

JOIN_READY_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 90.0


class Reshaper:
    def __init__(self, cluster: LocalCluster, rng: random.Random, grow: int = 2,
                 shrink: int = 2) -> None:
        self.cluster = cluster
        self.rng = rng
        self.grow, self.shrink = grow, shrink
        self.added: list[int] = []
        self.removed: list[int] = []
        self.retired: set[int] = set()

    def active(self) -> list[int]:
        return sorted(set(self.cluster.nodes) - set(self.removed) - self.retired)

    def endpoints(self) -> list[str]:
        return [self.cluster.nodes[n].addr for n in self.active()]

    async def step(self) -> tuple[str, int]:
        """The next action: (description, node id); node id 0 when there is nothing to do."""
        await self.retire_idle()
        if len(self.added) < self.grow:
            nid = await self._add()
            return f"node {nid} joined", nid
        if len(self.removed) < self.shrink:
            nid = self.rng.choice(self.active())
            await asyncio.to_thread(remove_node, self.endpoints(), nid)
            self.removed.append(nid)
            log.info("reshape.removed", node=nid, active=self.active())
            return f"node {nid} removed", nid
        return "reshape complete", 0

    async def _add(self) -> int:
        node = self.cluster.add_node()
        self.added.append(node.node_id)
        await asyncio.to_thread(self.cluster.start, node.node_id)
        deadline = time.monotonic() + JOIN_READY_TIMEOUT_S
        while await asyncio.to_thread(node_status, node.addr, 1.0) is None:
            if time.monotonic() > deadline:
                raise KVError(f"joining node {node.node_id} never answered; see "
                              f"{node.log_path}")
            await asyncio.sleep(0.2)
        await asyncio.to_thread(add_node, self.endpoints(), node.addr)
        log.info("reshape.added", node=node.node_id, active=self.active())
        return node.node_id

    async def retire_idle(self) -> None:
        """Stop removed nodes that no group led by an active node lists any more."""
        pending = [n for n in self.removed if n not in self.retired]
        if not pending:
            return
        statuses = await asyncio.gather(*(asyncio.to_thread(node_status, a, 1.0)
                                          for a in self.endpoints()))
        members: set[int] = set()
        for st in statuses:
            if st is None:
                return  # cannot tell: retire later
            for g in st.groups:
                if g.leader_id == st.node_id:
                    members.update(g.voters, g.learners)
        for nid in pending:
            if nid not in members:
                await asyncio.to_thread(self.cluster.stop, nid)
                self.retired.add(nid)
                log.info("reshape.retired", node=nid)

    async def settle(self) -> None:
        """Wait until every move is done, then retire the removed nodes."""
        if not self.added and not self.removed:
            return
        try:
            await asyncio.to_thread(wait_placement, self.endpoints(), SETTLE_TIMEOUT_S)
        except KVError as exc:
            log.warning("reshape.not_settled", error=exc.message)
        await self.retire_idle()
