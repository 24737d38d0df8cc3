"""A write loop to be killed with SIGKILL by test_storage_crash.py (not a test itself).

Usage: python -m tests.storage.crash_writer DATA_DIR GROUPS

Every turn is one group-commit batch with fsync: each group appends 1-3
entries, sets its hard state, "applies" the new entries (kv key per index plus
`last`), sets the applied index, and every 40 turns compacts its log. After
each commit it prints `turn T` so the parent knows what must be durable.
"""

from __future__ import annotations

import sys

from kvstore.logging import configure
from kvstore.raft.types import ConfState, Entry, HardState
from kvstore.storage import NodeStore
from kvstore.storage.kvdata import kv_put
from kvstore.storage.layout import group_prefix


def main(path: str, groups: int) -> None:
    configure(level="warning")
    store = NodeStore(path, map_size=1 << 30, sync=True)
    gids = list(range(1, groups + 1))
    for gid in gids:
        if not store.has_group(gid):
            store.bootstrap_group(gid, ConfState(voters=[1]))
    turn = 0
    while True:
        turn += 1
        with store.write() as w:
            for gid in gids:
                g = store.group(gid)
                last = g.last_index()
                new = [Entry(1, i, data=b"e%d" % i) for i in range(last + 1, last + 2 + turn % 3)]
                w.append(gid, new)
                top = new[-1].index
                w.set_hard_state(gid, HardState(1, 1, top))
                for e in new:
                    kv_put(w.txn, store.kv_db, group_prefix(gid), b"k%08d" % e.index, e.data)
                kv_put(w.txn, store.kv_db, group_prefix(gid), b"last", b"%d" % top)
                w.set_applied(gid, top)
                if turn % 40 == 0:
                    w.compact(gid, top - 5)
        print(f"turn {turn} {' '.join(str(store.applied_index(g)) for g in gids)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
