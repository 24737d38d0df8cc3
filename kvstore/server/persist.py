"""The host's write transaction: persist every group's Ready and apply committed entries.

`Persister.run` executes on the storage writer thread (writer.py) once per
host turn. In ONE LMDB write transaction, committed with one fsync (group
commit across all shards), it:
1. installs staged snapshots, appends entries and saves hard states;
2. applies each group's committed entries to the state machine together with
   its applied index (so a crash never applies an entry twice or loses one);
3. records snapshots and compacts logs past `snapshot_entries`.
Conf changes are computed here with the pure `apply_conf_change` on a copy of
each group's configuration (the Raft cores are not touched on this thread;
the host applies the changes to them after the commit).

Before the fsync, `early` receives the write results (the host answers
clients from it: see host.py's module docstring for why that is safe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvstore.raft import ConfChange, EntryType, Ready
from kvstore.raft.codec import DecodeError, decode_conf_change
from kvstore.raft.tracker import TrackerConfig, apply_conf_change
from kvstore.server.config import NodeConfig
from kvstore.server.snapshots import read_staged, staged_path
from kvstore.statemachine import StateMachine
from kvstore.storage import NodeStore, WriteBatch

# (index, term, state machine results, conf change applied at this index)
Applied = tuple[int, int, list[Any], ConfChange | None]
Job = tuple[int, Ready, TrackerConfig]  # (group, its Ready, a copy of its configuration)
EarlyFn = Callable[[dict[int, list[Applied]]], None]


def decode_cc(data: bytes) -> ConfChange | None:
    try:
        return decode_conf_change(data)
    except DecodeError:
        return None


class Persister:
    def __init__(self, cfg: NodeConfig, store: NodeStore, sm: StateMachine) -> None:
        self.cfg = cfg
        self.store = store
        self.sm = sm
        self.compactions = 0

    def run(self, jobs: list[Job], floors: dict[int, int], early: EarlyFn | None
            ) -> tuple[WriteBatch, dict[int, list[Applied]]]:
        """Writer thread: one write transaction for every group, committed with one fsync.

        `floors`: per group, the highest index the log may be compacted to
        (compaction.py); the caller publishes the returned batch."""
        out: dict[int, list[Applied]] = {}
        w = self.store.write()
        try:
            for gid, rd, _ in jobs:
                if rd.snapshot is not None:
                    self._install_snapshot(w, gid, rd)
                if rd.entries:
                    w.append(gid, rd.entries)
                if rd.hard_state is not None:
                    w.set_hard_state(gid, rd.hard_state)
            for gid, rd, conf in jobs:
                if rd.committed_entries:
                    out[gid] = self._apply(w, gid, rd, conf, floors)
        except BaseException:
            w.abort()
            raise
        if out and early is not None:
            early(out)
        w.commit()
        return w, out

    def _apply(self, w: WriteBatch, gid: int, rd: Ready, conf: TrackerConfig,
               floors: dict[int, int]) -> list[Applied]:
        results: list[Applied] = []
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                cc = decode_cc(e.data)
                new = apply_conf_change(conf, cc) if cc is not None else None
                if new is not None:
                    conf = new
                    w.set_conf_state(gid, conf.to_conf_state())
                results.append((e.index, e.term, [], cc))
            else:
                results.append((e.index, e.term, self.sm.apply_entry(w.txn, gid, e), None))
        applied = rd.committed_entries[-1].index
        w.set_applied(gid, applied)
        self._maybe_compact(w, gid, applied, floors.get(gid, applied))
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

    def _maybe_compact(self, w: WriteBatch, gid: int, applied: int, floor: int) -> None:
        """Record a snapshot at `applied` and drop the log before the retained tail."""
        gs = self.store.group(gid)
        if applied - gs.snapshot_index < self.cfg.snapshot_entries:
            return
        w.create_snapshot(gid, applied)
        upto = min(applied - self.cfg.log_retain_entries, floor)
        if upto > gs.first_index() - 1:
            w.compact(gid, upto)
        self.compactions += 1
