"""Quick measurements of the storage and apply paths (a script, not a timed test).

Usage: .venv/bin/python -m tests.storage.bench_group_commit [--seconds S] [--groups G]

Prints, for G groups per group-commit batch (one LMDB transaction per turn):
- raft-only turns (1-entry append + hard state per group), with and without fsync;
- host-like turns (append, hard state, apply a 1-put session batch, applied index);
- state machine apply throughput (100-command session batches, no fsync);
- raw LMDB commit cost with writemap off vs on (the NodeStore choice).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import lmdb

from kvstore.logging import configure
from kvstore.raft.types import ConfState, Entry, HardState
from kvstore.statemachine import StateMachine, encode_batch, put
from kvstore.storage import NodeStore

CPU: list[float] = [0.0]  # CPU seconds of the last timed() run (the machine is shared)


def timed(seconds: float, turn: Callable[[], None]) -> tuple[int, float]:
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        turn()
        n += 1
    CPU[0] = time.process_time() - cpu
    return n, time.perf_counter() - start


def raft_turns(groups: int, seconds: float, sync: bool, apply: bool) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as d, NodeStore(d, sync=sync) as store:
        sm = StateMachine(store)
        gids = list(range(1, groups + 1))
        for gid in gids:
            store.bootstrap_group(gid, ConfState(voters=[1, 2, 3]))
        seq = [0]

        def turn() -> None:
            seq[0] += 1
            s = seq[0]
            data = encode_batch([put(b"key-%d" % s, b"v" * 100, client_id=b"client-1", seq=s,
                                     ack_seq=s - 1)], 1_000 + s)
            with store.write() as w:
                for gid in gids:
                    e = Entry(2, s, data=data)
                    w.append(gid, [e])
                    w.set_hard_state(gid, HardState(2, 1, s))
                    if apply:
                        sm.apply_entry(w.txn, gid, e)
                        w.set_applied(gid, s)
        return timed(seconds, turn)


def apply_throughput(seconds: float) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as d, NodeStore(d, sync=False) as store:
        sm = StateMachine(store)
        store.bootstrap_group(1, ConfState(voters=[1]))
        n = [0]

        def turn() -> None:
            base = n[0] * 100
            cmds = [put(b"user/%08d" % (base + i), b"v" * 100, client_id=b"c%d" % (i % 8),
                        seq=base + i + 1, ack_seq=base) for i in range(100)]
            with store.write() as w:
                sm.apply_entry(w.txn, 1, Entry(1, n[0] + 1, data=encode_batch(cmds, 1_000)))
            n[0] += 1
        return timed(seconds, turn)


def raw_commit(groups: int, seconds: float, writemap: bool) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as d:
        env = lmdb.open(d, map_size=64 << 30, writemap=writemap, max_dbs=2)
        db = env.open_db(b"log")
        i = [0]

        def turn() -> None:
            i[0] += 1
            with env.begin(write=True, db=db) as txn:
                for g in range(groups):
                    txn.put(g.to_bytes(8, "big") + i[0].to_bytes(8, "big"), b"x" * 130)
        out = timed(seconds, turn)
        env.close()
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--groups", type=int, default=64)
    args = ap.parse_args()
    configure(level="warning")
    g, s = args.groups, args.seconds
    for label, sync, apply in (("raft append+hs, fsync", True, False),
                               ("raft append+hs, no fsync", False, False),
                               ("host turn (append+hs+apply+applied), fsync", True, True)):
        turns, dt = raft_turns(g, s, sync, apply)
        print(f"{label:48s} {turns / dt:8.0f} turns/s  {turns * g / dt:9.0f} appends/s"
              f"  {dt / turns * 1000:6.2f} ms/turn, CPU {CPU[0] / turns * 1000:5.2f} ms/turn"
              f"  ({g} groups)")
    n, dt = apply_throughput(s)
    print(f"{'state machine apply, 100-put session batches':48s} {n * 100 / dt:9.0f} ops/s"
          f"  {dt / (n * 100) * 1e6:6.1f} us/op, CPU {CPU[0] / (n * 100) * 1e6:5.1f} us/op")
    for wm in (False, True):
        n, dt = raw_commit(g, s, wm)
        print(f"{'raw lmdb ' + str(g) + '-put txn + fsync, writemap=' + str(wm):48s}"
              f" {n / dt:8.0f} txn/s  {dt / n * 1000:6.2f} ms/txn, CPU "
              f"{CPU[0] / n * 1000:5.2f} ms/txn")


if __name__ == "__main__":
    main()
