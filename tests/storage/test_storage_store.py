"""NodeStore and WriteBatch against a real LMDB: restart recovery, group commit across
many groups, aborted and failed batches, data-dir identity checks, misuse errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kvstore.errors import ConfigError, InternalError, InvalidArgument, NotFound, WrongCluster
from kvstore.raft.errors import CompactedError, UnavailableError
from kvstore.raft.types import ConfState, Entry, HardState, SnapshotMeta
from kvstore.storage import NodeStore, WriteBatch, layout

CS = ConfState(voters=[1, 2, 3])


def ents(lo: int, hi: int, term: int = 1, size: int = 8) -> list[Entry]:
    return [Entry(term, i, data=bytes([i % 251]) * size) for i in range(lo, hi)]


def open_store(path: Path, **kw: object) -> NodeStore:
    return NodeStore(path, map_size=256 << 20, sync=False, **kw)  # type: ignore[arg-type]


def test_restart_recovers_log_states_snapshot_and_applied(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.bootstrap_group(7, CS)
        with s.write() as w:
            w.append(7, ents(1, 41))
            w.set_hard_state(7, HardState(term=3, vote=2, commit=30))
            w.set_conf_state(7, ConfState(voters=[1, 2], learners=[4]))
            w.set_applied(7, 25)
        with s.write() as w:
            meta = w.create_snapshot(7, 20)
            w.compact(7, 15)
            w.append(7, ents(38, 45, term=2))  # truncates 38..40, extends to 44
    with open_store(tmp_path) as s:
        assert s.group_ids() == [7]
        g = s.group(7)
        assert (g.first_index(), g.last_index()) == (16, 44)
        assert g.term(15) == 1 and g.term(37) == 1 and g.term(38) == 2
        with pytest.raises(CompactedError):
            g.term(14)
        with pytest.raises(UnavailableError):
            g.entries(40, 46)
        assert g.entries(16, 45) == ents(16, 38) + ents(38, 45, term=2)
        assert g.initial_state() == (HardState(3, 2, 30), ConfState(voters=[1, 2], learners=[4]))
        assert g.snapshot().meta == meta == SnapshotMeta(20, 1, ConfState(voters=[1, 2],
                                                                              learners=[4]))
        assert s.applied_index(7) == 25


def test_group_commit_writes_many_groups_in_one_transaction(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        gids = list(range(100, 164))
        for gid in gids:
            s.bootstrap_group(gid, CS)
        txn_id_before = s.env.info()["last_txnid"]
        for turn in range(1, 6):
            with s.write() as w:
                for gid in gids:
                    w.append(gid, [Entry(1, turn, data=b"g%d" % gid)])
                    w.set_hard_state(gid, HardState(1, 0, turn))
        # One LMDB transaction per turn, whatever the number of groups.
        assert s.env.info()["last_txnid"] - txn_id_before == 5
        for gid in gids:
            g = s.group(gid)
            assert g.last_index() == 5 and g.initial_state()[0].commit == 5
            assert [e.data for e in g.entries(1, 6)] == [b"g%d" % gid] * 5


def test_aborted_batch_changes_neither_lmdb_nor_caches(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.bootstrap_group(1, CS)
        s.bootstrap_group(2, CS)
        with s.write() as w:
            w.append(1, ents(1, 11))
            w.set_hard_state(1, HardState(1, 1, 5))
        with pytest.raises(RuntimeError), s.write() as w:
            w.append(1, ents(3, 20, term=9))
            w.compact(1, 8)
            w.set_hard_state(1, HardState(9, 3, 9))
            w.append(2, ents(1, 4))
            w.set_applied(1, 5)
            raise RuntimeError("host failed mid-turn")
        check_untouched(s)
    with open_store(tmp_path) as s:
        check_untouched(s)


def check_untouched(store: NodeStore) -> None:
    g1, g2 = store.group(1), store.group(2)
    assert (g1.first_index(), g1.last_index(), g2.last_index()) == (1, 10, 0)
    assert g1.entries(1, 11) == ents(1, 11)
    assert g1.initial_state()[0] == HardState(1, 1, 5)
    assert store.applied_index(1) == 0


def test_failed_commit_leaves_caches_untouched(tmp_path: Path) -> None:
    s = NodeStore(tmp_path, map_size=1 << 20, sync=False)
    s.bootstrap_group(1, CS)
    with s.write() as w:
        w.append(1, ents(1, 3))
    with pytest.raises(InternalError, match="store is full"), s.write() as w:
        w.append(1, ents(3, 400, size=8000))  # far more than the 1 MiB map
    g = s.group(1)
    assert g.last_index() == 2 and g.entries(1, 3) == ents(1, 3)
    with s.write() as w:  # the store is still usable
        w.append(1, ents(3, 5))
    assert g.last_index() == 4
    s.close()


def test_tail_cache_is_bounded_and_reads_fall_back_to_lmdb(tmp_path: Path) -> None:
    with open_store(tmp_path, max_tail_entries=8, max_tail_bytes=1 << 20) as s:
        g = s.bootstrap_group(1, CS)
        for lo in range(1, 201, 10):
            with s.write() as w:
                w.append(1, ents(lo, lo + 10))
        assert len(g._tail) == 8 and g._tail[-1].index == 200
        assert g.entries(1, 201) == ents(1, 201)
        assert [g.term(i) for i in (1, 150, 200)] == [1, 1, 1]
    with open_store(tmp_path, max_tail_entries=100, max_tail_bytes=160) as s:
        g = s.group(1)
        assert len(g._tail) == 160 // 24  # the byte bound wins (an entry counts 16 + 8 bytes)
        assert g.entries(150, 200, max_size=3 * 24) == ents(150, 153)


def test_data_dir_of_another_cluster_or_node_or_newer_format_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path, cluster_id=b"alpha", node_id=1).close()
    with pytest.raises(WrongCluster, match="alpha"):
        open_store(tmp_path, cluster_id=b"beta", node_id=1)
    with pytest.raises(ConfigError, match="node 1"):
        open_store(tmp_path, cluster_id=b"alpha", node_id=2)
    with open_store(tmp_path, cluster_id=b"alpha", node_id=1) as s, s.env.begin(write=True) as t:
        t.put(layout.META_FORMAT, layout.encode_u64(layout.FORMAT_VERSION + 1), db=s.meta_db)
    with pytest.raises(ConfigError, match="storage format"):
        open_store(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot open data dir"):
        open_store(tmp_path / "file")


def test_misuse_gets_clear_errors(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    s.bootstrap_group(1, CS)
    with pytest.raises(InvalidArgument, match="already exists"):
        s.bootstrap_group(1, CS)
    with pytest.raises(NotFound, match="group 5"):
        s.group(5)
    with pytest.raises(InvalidArgument, match="group id"):
        s.group(-1)
    with s.write() as w:
        with pytest.raises(InternalError, match="already open"):
            s.write()
        with pytest.raises(InternalError, match="going back"):
            w.set_applied(1, 3)
            w.set_applied(1, 2)
        with pytest.raises(UnavailableError):
            w.append(1, ents(5, 6))
    s.close()
    with pytest.raises(InternalError, match="closed"):
        s.write()


def test_commit_in_a_worker_thread_then_publish_on_the_owner_thread(tmp_path: Path) -> None:
    """The host's path: the batch runs and fsyncs in a worker thread; caches change
    only when the loop thread publishes, and readers meanwhile see the old state."""
    with open_store(tmp_path) as s:
        g = s.bootstrap_group(1, CS)
        with s.write() as w:
            w.append(1, ents(1, 4))

        def work() -> WriteBatch:
            w = s.write()
            w.append(1, ents(3, 9, term=2))
            w.set_hard_state(1, HardState(2, 1, 8))
            w.commit()
            return w

        with ThreadPoolExecutor(1) as pool:
            batch = pool.submit(work).result()
        assert g.last_index() == 3 and g.term(3) == 1  # not published yet
        batch.publish()
        assert g.last_index() == 8 and g.term(3) == 2
        assert g.entries(1, 9) == ents(1, 3) + ents(3, 9, term=2)
        w2 = s.write()
        w2.append(1, ents(9, 12))
        w2.abort()
        assert g.last_index() == 8
        with s.write() as w:  # the store accepts a new batch after abort()
            w.append(1, ents(9, 10))
        assert g.last_index() == 9


def test_destroyed_replica_leaves_only_its_term_and_vote(tmp_path: Path) -> None:
    from kvstore.storage.kvdata import kv_get, kv_put

    with open_store(tmp_path) as s:
        s.bootstrap_group(7, CS)
        s.bootstrap_group(8, CS)
        with s.write() as w:
            for gid in (7, 8):
                w.append(gid, ents(1, 11))
                w.set_hard_state(gid, HardState(term=5, vote=3, commit=10))
                kv_put(w.txn, s.kv_db, layout.group_prefix(gid), b"k", b"v%d" % gid)
                w.set_applied(gid, 10)
        s.destroy_group(7)
        assert s.group_ids() == [8] and not s.has_group(7)
    with open_store(tmp_path) as s:
        assert s.group_ids() == [8]
        with s.read() as txn:
            assert kv_get(txn, s.kv_db, layout.group_prefix(7), b"k") is None
            assert kv_get(txn, s.kv_db, layout.group_prefix(8), b"k") == b"v8"
        assert s.group(8).last_index() == 10  # the neighbour is untouched
        # Re-created later (a leader re-adds this node): empty, but it remembers
        # its term and vote, so it can never vote twice in term 5.
        g = s.bootstrap_group(7, ConfState())
        assert g.initial_state()[0] == HardState(term=5, vote=3, commit=0)
        assert (g.first_index(), g.last_index()) == (1, 0)
