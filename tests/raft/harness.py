"""An in-memory network of real RaftCores for unit and interaction tests.

Each node has a MemoryStorage that the harness writes exactly as a host
would (persist, then send, then apply, then advance), so tests exercise the
real Ready contract. Messages are queued, not delivered, until a test says so;
`cut`/`isolate` drop traffic between nodes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kvstore.raft import (
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    RaftCore,
    ReadState,
    StateRole,
)


@dataclass
class Node:
    core: RaftCore
    storage: MemoryStorage
    applied: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)


class Network:
    def __init__(self, ids: list[int], seed: int = 0, aged: bool = True,
                 core_cls: type[RaftCore] = RaftCore, **cfg: object) -> None:
        """`aged`: start nodes past their boot vote fence, as if up for a while."""
        self.ids = ids
        self.core_cls = core_cls
        self.aged = aged
        self.seed = seed
        self.cfg = cfg
        self.nodes: dict[int, Node] = {}
        self.queue: list[Message] = []
        self.cut_links: set[tuple[int, int]] = set()
        for nid in ids:
            self.nodes[nid] = self._new_node(nid, MemoryStorage(ConfState(voters=list(ids))))

    def _new_node(self, nid: int, storage: MemoryStorage, applied: int = 0) -> Node:
        cfg = Config(id=nid, applied=applied, **self.cfg)  # type: ignore[arg-type]
        core = self.core_cls(cfg, storage, random.Random(self.seed * 1000 + nid))
        if self.aged:
            core.ticks = cfg.election_ticks + 1
        return Node(core, storage)

    def core(self, nid: int) -> RaftCore:
        return self.nodes[nid].core

    # --- driving -------------------------------------------------------------
    def process_ready(self, nid: int) -> list[Message]:
        n = self.nodes[nid]
        out: list[Message] = []
        while n.core.has_ready():
            rd = n.core.ready()
            if rd.snapshot is not None:
                n.storage.apply_snapshot(rd.snapshot)
            n.storage.append(rd.entries)
            if rd.hard_state is not None:
                n.storage.set_hard_state(rd.hard_state)
            out.extend(rd.messages)
            for e in rd.committed_entries:
                n.applied.append(e)
                if e.type == EntryType.CONF_CHANGE:
                    cc = n.core.decode_conf_change(e)
                    if cc is not None:
                        n.core.apply_conf_change(cc)
            n.read_states.extend(rd.read_states)
            n.core.advance(rd)
        return out

    def flush(self) -> None:
        for nid in sorted(self.nodes):
            self.queue.extend(self.process_ready(nid))

    def deliver(self, limit: int | None = None) -> int:
        """Deliver queued messages (all, or the first `limit`)."""
        batch = self.queue if limit is None else self.queue[:limit]
        self.queue = [] if limit is None else self.queue[limit:]
        for m in batch:
            if (m.frm, m.to) not in self.cut_links and m.to in self.nodes:
                self.nodes[m.to].core.step(m)
        return len(batch)

    def stabilize(self, max_rounds: int = 1000) -> None:
        for _ in range(max_rounds):
            self.flush()
            if not self.queue:
                return
            self.deliver()
        raise AssertionError("network did not stabilize")

    def tick(self, nid: int, n: int = 1) -> None:
        for _ in range(n):
            self.nodes[nid].core.tick()

    def tick_all(self, n: int = 1) -> None:
        for _ in range(n):
            for nid in sorted(self.nodes):
                self.nodes[nid].core.tick()
            self.stabilize()

    def elect(self, nid: int) -> None:
        self.core(nid).campaign()
        self.stabilize()
        assert self.core(nid).role == StateRole.LEADER, self.core(nid).status()

    # --- faults --------------------------------------------------------------
    def cut(self, a: int, b: int) -> None:
        self.cut_links |= {(a, b), (b, a)}

    def isolate(self, nid: int) -> None:
        for other in self.ids:
            if other != nid:
                self.cut(nid, other)

    def heal(self) -> None:
        self.cut_links.clear()

    def crash_restart(self, nid: int) -> None:
        """Lose everything not persisted and restart from storage."""
        n = self.nodes[nid]
        applied = len(n.applied) and n.applied[-1].index
        self.queue = [m for m in self.queue if m.to != nid and m.frm != nid]
        self.nodes[nid] = Node(
            self.core_cls(Config(id=nid, applied=applied, **self.cfg),  # type: ignore[arg-type]
                     n.storage, random.Random(self.seed * 1000 + nid + 7)),
            n.storage, n.applied,
        )

    def load(self, nid: int, terms: list[int], term: int) -> None:
        """Replace nid's persisted log with entries of `terms` and restart it at `term`."""
        from kvstore.raft import HardState

        st = self.nodes[nid].storage
        st.append([Entry(t, i + 1, data=b"e%d@t%d" % (i + 1, t)) for i, t in enumerate(terms)])
        st.set_hard_state(HardState(term=term))
        self.nodes[nid].applied = []
        self.crash_restart(nid)
        self.nodes[nid].core.ticks = self.nodes[nid].core.cfg.election_ticks + 1

    def leader(self) -> int:
        leaders = [nid for nid, n in self.nodes.items() if n.core.role == StateRole.LEADER]
        return max(leaders, key=lambda i: self.core(i).term) if leaders else 0

    def data_applied(self, nid: int) -> list[bytes]:
        return [e.data for e in self.nodes[nid].applied if e.data and e.type == EntryType.NORMAL]
