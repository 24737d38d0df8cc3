"""CPU cost of one replication round, without the host: `scripts/bench-round`.

    python -m kvstore.bench.round_cost [--rounds 5000] [--ops 6] [--repeat 5] [--json F]

At 64 concurrent puts over 8 shards each Raft entry carries ~6 client writes,
and the cost per group round, not per write, decides throughput (README,
"Performance"). This measures, in one process and with no network, disk sync
or asyncio, what the Python layers below the host spend on one round of one
group of three members, so that work on that cost has a number to move:

- `core`: the three `RaftCore`s: propose, `ready`/`advance`, append, ack and
  commit notice, with the messages handed over as objects (MemoryStorage);
- `wire`: the same round with every message through the peer-link encoding
  (`kvstore.transport.wire`), as nodes exchange them;
- `apply`: the committed entry applied by all three replicas' state machines
  (`StateMachine.apply_entry` in an LMDB write transaction, sync off; with
  client sessions, as `KVClient` sends them).

Figures are CPU microseconds per round (process time), the median of
`--repeat` runs. They are deterministic work, not wall-clock latency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from kvstore.raft import Config, ConfState, Message, RaftCore, StateRole
from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import Entry, EntryType
from kvstore.statemachine import StateMachine
from kvstore.statemachine.commands import Op, make_command
from kvstore.storage import NodeStore
from kvstore.transport.wire import decode_batch, encode_batch

IDS = (1, 2, 3)
GROUP = 1


class Trio:
    """Three in-process members of one group, stepped until quiet."""

    def __init__(self, wire: bool) -> None:
        self.wire = wire
        self.cores = {i: RaftCore(Config(id=i, election_ticks=10, heartbeat_ticks=1),
                                  MemoryStorage(ConfState(voters=list(IDS))), random.Random(i))
                      for i in IDS}
        for _ in range(100):
            for c in self.cores.values():
                c.tick()
            self.settle()
            if any(c.role == StateRole.LEADER for c in self.cores.values()):
                break
        self.leader = next(c for c in self.cores.values() if c.role == StateRole.LEADER)
        self.settle()

    def settle(self) -> list[Entry]:
        """Run ready/persist/send/advance until no member has work; the leader's
        committed entries are returned."""
        committed: list[Entry] = []
        while True:
            out: list[Message] = []
            for c in self.cores.values():
                if not c.has_ready():
                    continue
                rd = c.ready()
                storage = c.log.storage
                assert isinstance(storage, MemoryStorage)
                if rd.entries:
                    storage.append(rd.entries)
                if rd.hard_state is not None:
                    storage.set_hard_state(rd.hard_state)
                if c is getattr(self, "leader", None):
                    committed.extend(rd.committed_entries)
                out.extend(rd.messages)
                c.advance(rd)
            if not out:
                return committed
            self._deliver(out)

    def _deliver(self, msgs: list[Message]) -> None:
        if not self.wire:
            for m in msgs:
                self.cores[m.to].step(m)
            return
        by_peer: dict[tuple[int, int], list[tuple[int, Message]]] = {}
        for m in msgs:
            by_peer.setdefault((m.frm, m.to), []).append((GROUP, m))
        for (frm, to), items in by_peer.items():
            for _, m in decode_batch(encode_batch(items), frm, to):
                self.cores[to].step(m)


def _entry_data(sm: StateMachine, rng: random.Random, ops: int, client: bytes,
                seq: int) -> bytes:
    value = rng.randbytes(100)
    cmds = [make_command(Op.PUT, b"key%06d" % rng.randrange(1000), value, b"", False,
                         client, seq + i + 1, max(0, seq + i + 1 - 64)) for i in range(ops)]
    return sm.encode_batch(cmds, int(time.time() * 1000))


def _cpu_us_per_round(rounds: int, body: Callable[[int], None]) -> float:
    start = time.process_time()
    for r in range(rounds):
        body(r)
    return (time.process_time() - start) / rounds * 1e6


def measure(rounds: int, ops: int) -> dict[str, float]:
    """One run: CPU µs per round for core, core+wire, and apply on three replicas."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        stores = [NodeStore(os.path.join(tmp, str(i)), sync=False) for i in IDS]
        try:
            for st in stores:
                st.bootstrap_group(GROUP, ConfState(voters=list(IDS)))
            sms = [StateMachine(st) for st in stores]
            client = rng.randbytes(16)
            datas = [_entry_data(sms[0], rng, ops, client, r * ops) for r in range(rounds)]
            out: dict[str, float] = {}
            for name, wire in (("core", False), ("core+wire", True)):
                trio = Trio(wire)
                before = trio.leader.log.committed

                def round_(r: int, trio: Trio = trio) -> None:
                    trio.leader.propose(datas[r])
                    trio.settle()
                out[name] = _cpu_us_per_round(rounds, round_)
                if trio.leader.log.committed != before + rounds:
                    raise RuntimeError(f"{name}: {trio.leader.log.committed - before} of "
                                       f"{rounds} proposals committed")

            def apply_(r: int) -> None:
                e = Entry(term=1, index=r + 2, type=EntryType.NORMAL, data=datas[r])
                for st, sm in zip(stores, sms, strict=True):
                    w = st.write()
                    results = sm.apply_entry(w.txn, GROUP, e)
                    w.set_applied(GROUP, e.index)
                    w.commit()
                    w.publish()
                    if len(results) != ops:
                        raise RuntimeError(f"apply gave {len(results)} results for {ops} ops")
            out["apply"] = _cpu_us_per_round(rounds, apply_)
            return out
        finally:
            for st in stores:
                st.close()


def run(rounds: int, ops: int, repeat: int) -> dict[str, Any]:
    runs = [measure(rounds, ops) for _ in range(repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {"rounds": rounds, "ops_per_entry": ops, "repeat": repeat,
            "cpu_us_per_round": med, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench-round", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5000)
    ap.add_argument("--ops", type=int, default=6, help="client writes per entry")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.ops < 1 or a.repeat < 1:
        ap.error("--rounds, --ops and --repeat must be at least 1")
    res = run(a.rounds, a.ops, a.repeat)
    print(f"CPU µs per replication round of one 3-member group, {a.ops} writes per entry "
          f"(median of {a.repeat} x {a.rounds} rounds):")
    for name, us in res["cpu_us_per_round"].items():
        print(f"  {name:<10} {us:8.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
