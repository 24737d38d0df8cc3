"""Storage-protocol parity: GroupStorage answers exactly like MemoryStorage.

A hypothesis state machine drives the same random writes (append with
conflicts, compact, hard state, create/apply snapshot; alone, several in one
group-commit batch, or in a batch that aborts) into a MemoryStorage model and
a real LMDB store with two groups and a tiny tail cache (so both the cache and
the LMDB read path answer), reopens the environment at random, and after every
step compares every observable answer, errors included.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from kvstore.storage import NodeStore
from kvstore.storage.batch import WriteBatch

GROUPS = (1, 2**40 + 7)
Op = tuple[str, Any]


def run_mem(m: MemoryStorage, op: Op) -> None:
    kind, arg = op
    if kind == "append":
        m.append(copy.deepcopy(arg))
    elif kind == "compact":
        m.compact(arg)
    elif kind == "hs":
        m.set_hard_state(arg)
    elif kind == "create_snap":
        m.create_snapshot(arg, None, b"")
    else:
        m.apply_snapshot(Snapshot(copy.deepcopy(arg)))


def run_lmdb(w: WriteBatch, gid: int, op: Op) -> None:
    kind, arg = op
    if kind == "append":
        w.append(gid, copy.deepcopy(arg))
    elif kind == "compact":
        w.compact(gid, arg)
    elif kind == "hs":
        w.set_hard_state(gid, arg)
    elif kind == "create_snap":
        w.create_snapshot(gid, arg)
    else:
        w.apply_snapshot(gid, copy.deepcopy(arg))


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        return ("raised", type(exc).__name__)


class Abort(Exception):
    """Raised inside a batch on purpose."""


class StorageParity(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="kv-parity-")
        self.store = self._open()
        self.mem: dict[int, MemoryStorage] = {}
        for gid in GROUPS:
            cs = ConfState(voters=[1, 2, 3])
            self.mem[gid] = MemoryStorage(copy.deepcopy(cs))
            self.store.bootstrap_group(gid, cs)

    def _open(self) -> NodeStore:
        return NodeStore(self.dir, map_size=64 << 20, sync=False, max_tail_entries=4,
                         max_tail_bytes=120)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- op generation (needs the current model state) ----------------------
    def _op(self, data: st.DataObject, gid: int) -> Op:
        m = self.mem[gid]
        first, last = m.first_index(), m.last_index()
        kind = data.draw(st.sampled_from(
            ["append", "append", "append", "compact", "hs", "create_snap", "apply_snap"]))
        near = st.integers(max(0, first - 2), last + 2)
        if kind == "append":
            start = data.draw(near)
            term = data.draw(st.integers(1, 5))
            sizes = data.draw(st.lists(st.integers(0, 40), min_size=0, max_size=6))
            return kind, [Entry(term, start + i, data=b"d" * n) for i, n in enumerate(sizes)]
        if kind == "hs":
            return kind, HardState(*data.draw(st.tuples(*[st.integers(0, 9)] * 3)))
        if kind == "apply_snap":
            lo = max(0, m.snapshot().meta.index - 1)
            index = data.draw(st.integers(lo, max(lo, last) + 5))
            voters = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True))
            return kind, SnapshotMeta(index, data.draw(st.integers(1, 6)), ConfState(voters))
        return kind, data.draw(near)

    def _batch(self, ops: list[tuple[int, Op]], abort: bool) -> None:
        """Apply ops in one batch to LMDB and to the model; roll the model back on abort."""
        saved = copy.deepcopy(self.mem)
        expect: Any = None
        try:
            with self.store.write() as w:
                for gid, op in ops:
                    expect = outcome(lambda: run_mem(self.mem[gid], op))  # noqa: B023
                    got = outcome(lambda: run_lmdb(w, gid, op))  # noqa: B023
                    assert got == expect, (op, got, expect)
                    if expect is not None:
                        raise Abort
                if abort:
                    raise Abort
        except Abort:
            self.mem = saved

    @rule(data=st.data(), gid=st.sampled_from(GROUPS))
    def single_op(self, data: st.DataObject, gid: int) -> None:
        self._batch([(gid, self._op(data, gid))], abort=False)

    @rule(data=st.data(), gids=st.lists(st.sampled_from(GROUPS), min_size=2, max_size=5),
          abort=st.booleans())
    def many_ops_one_batch(self, data: st.DataObject, gids: list[int], abort: bool) -> None:
        ops: list[tuple[int, Op]] = []
        saved = copy.deepcopy(self.mem)
        for gid in gids:  # generate against the evolving model, then replay for real
            op = self._op(data, gid)
            if outcome(lambda: run_mem(self.mem[gid], op)) is not None:  # noqa: B023
                break
            ops.append((gid, op))
        self.mem = saved
        self._batch(ops, abort)

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()

    @invariant()
    def same_answers(self) -> None:
        for gid, m in self.mem.items():
            g = self.store.group(gid)
            first, last = m.first_index(), m.last_index()
            assert (g.first_index(), g.last_index()) == (first, last)
            assert g.initial_state() == m.initial_state()
            assert g.snapshot().meta == m.snapshot().meta
            assert self.store.applied_index(gid) == 0
            for i in range(max(0, first - 2), last + 3):
                assert outcome(lambda: g.term(i)) == outcome(lambda: m.term(i)), i  # noqa: B023
            for lo in range(max(0, first - 2), last + 2):
                for hi, max_size in ((last + 1, None), (last + 2, None), (lo + 3, 60), (lo, 0)):
                    got = outcome(lambda: g.entries(lo, hi, max_size))  # noqa: B023
                    assert got == outcome(lambda: m.entries(lo, hi, max_size)), (lo, hi)  # noqa: B023


StorageParity.TestCase.settings = settings(max_examples=40, stateful_step_count=25,
                                           deadline=None)
test_storage_parity = StorageParity.TestCase
