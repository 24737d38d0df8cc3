"""The host's leader balancing on a real MultiRaftHost (LMDB, writer thread), one tick.

Regression: the host used to tick the groups before balancing. A tick that runs
CheckQuorum clears every follower's `recent_active`, so a leader whose
CheckQuorum fell on the balance tick (as it does forever after a transfer
started on a balance tick aborts) never saw a live follower to hand over to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.raft import Message, StateRole
from kvstore.server.cluster_view import ClusterView, map_from_meta
from kvstore.server.config import NodeConfig
from kvstore.server.host import BALANCE_EVERY_TICKS, MultiRaftHost
from kvstore.sharding.meta import ClusterMeta, LeaderPolicy
from kvstore.statemachine import StateMachine
from kvstore.storage import NodeStore

PEERS = {i: f"127.0.0.1:{7100 + i}" for i in (1, 2, 3)}
GROUP = 1


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MultiRaftHost]:
    meta = ClusterMeta.initial(PEERS, 2, 3).with_leader_policy(LeaderPolicy.PACK, 2)
    cfg = NodeConfig(node_id=1, listen=PEERS[1], peers=PEERS, shards=2,
                     data_dir=str(tmp_path / "n1"))
    cfg.validate()
    store = NodeStore(cfg.data_dir, sync=False, cluster_id=cfg.cluster_id.encode(), node_id=1)
    view = ClusterView(cfg.cluster_id, 1, dict(PEERS), map_from_meta(cfg.cluster_id, meta), meta)
    sent: list[tuple[int, list[tuple[int, Message]]]] = []
    h = MultiRaftHost(cfg, store, StateMachine(store), view, lambda to, items: sent.append(
        (to, items)))
    try:
        yield h
    finally:
        h._writer.close()
        store.close()


def _lead_with_check_quorum_due(h: MultiRaftHost) -> None:
    """Node 1 leads GROUP; node 2 (the preferred leader) is live and caught up, node 3
    silent; the next tick runs CheckQuorum and is a balance tick."""
    core = h.groups[GROUP].core
    core.become_candidate()
    core.become_leader()
    assert core.role == StateRole.LEADER
    pr2, pr3 = core.trk.progress[2], core.trk.progress[3]
    pr2.recent_active, pr2.match = True, core.last_index
    pr3.recent_active = False
    core.election_elapsed = core.cfg.election_ticks - 1
    h.clock.ticks = BALANCE_EVERY_TICKS - 1
    h.clock._t0 = time.monotonic() - (BALANCE_EVERY_TICKS + 0.5) * h.clock.period


def test_balancing_sees_followers_as_they_were_before_check_quorum(
        host: MultiRaftHost) -> None:
    _lead_with_check_quorum_due(host)
    core = host.groups[GROUP].core
    host._deliver_due_ticks()
    assert host.clock.ticks == BALANCE_EVERY_TICKS  # exactly the one balance tick ran
    assert core.role == StateRole.LEADER  # CheckQuorum passed (node 2 answered)
    assert host.transfers_started == 1 and core.lead_transferee == 2
