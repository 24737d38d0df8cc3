"""`NodeStore`: the node's one LMDB environment (all groups), opened once per process.

Environment choices (why):
- `map_size` defaults to 64 GiB. It is only an address-space reservation: without
  `writemap` the data file grows with the data, so a large map costs nothing.
- `writemap=False`. With writemap LMDB writes straight into the shared mapping,
  which saves a copy per dirty page, but it also extends the file to the full
  map size and turns a full disk into SIGBUS (a process crash) instead of an
  error from commit; a stray write through the map could also corrupt the
  file. The write path here is dominated by Python and the fsync, so the
  copy is not worth that risk (the bench script measures both).
- `sync=True` (production): `txn.commit()` fdatasyncs, once per group-commit
  batch. `sync=False` is for tests and benchmarks only: commits survive a
  process kill (the page cache keeps them) but not an OS crash.
- `readahead=False`: access is random point reads, so readahead only evicts
  useful pages.

Invariants: at most one `WriteBatch` is open at a time (LMDB serialises write
transactions; a second one in the same thread would deadlock, so it is refused);
every `GroupStorage` of this store is registered in `_groups` so a batch can
update its caches after commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import lmdb

from kvstore.errors import ConfigError, InternalError, InvalidArgument, WrongCluster
from kvstore.logging import get_logger
from kvstore.raft import codec
from kvstore.raft.types import ConfState, HardState, SnapshotMeta
from kvstore.storage import layout
from kvstore.storage.batch import WriteBatch
from kvstore.storage.group import GroupStorage
from kvstore.storage.kvdata import drop_prefix

if TYPE_CHECKING:
    Txn = lmdb.Transaction[bytes]

DEFAULT_MAP_SIZE = 64 << 30
log = get_logger("kvstore.storage")


class NodeStore:
    """One node's LMDB environment: Raft logs and state, KV data and sessions of all groups."""

    def __init__(self, path: str | os.PathLike[str], *, map_size: int = DEFAULT_MAP_SIZE,
                 sync: bool = True, cluster_id: bytes | None = None,
                 node_id: int | None = None, max_tail_entries: int = 256,
                 max_tail_bytes: int = 4 << 20) -> None:
        if max_tail_entries < 0 or max_tail_bytes < 0:
            raise InvalidArgument("tail cache bounds must be >= 0")
        self.path = Path(path)
        self.max_tail_entries = max_tail_entries
        self.max_tail_bytes = max_tail_bytes
        self._groups: dict[int, GroupStorage] = {}
        self._writing = False
        self._closed = True
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.env = lmdb.open(str(self.path), map_size=map_size, subdir=True, max_dbs=8,
                                 sync=sync, metasync=sync, writemap=False, readahead=False,
                                 max_readers=256, max_spare_txns=4)
        except (OSError, lmdb.Error) as err:
            raise ConfigError(f"cannot open data dir {self.path}: {err}") from err
        self._closed = False
        try:
            with self.env.begin(write=True) as txn:
                self.log_db = self.env.open_db(layout.DB_LOG, txn=txn)
                self.state_db = self.env.open_db(layout.DB_RAFT_STATE, txn=txn)
                self.kv_db = self.env.open_db(layout.DB_KV, txn=txn)
                self.sessions_db = self.env.open_db(layout.DB_SESSIONS, txn=txn)
                self.meta_db = self.env.open_db(layout.DB_META, txn=txn)
                self._check_meta(txn, cluster_id, node_id)
        except BaseException:
            self.env.close()
            self._closed = True
            raise

    def _check_meta(self, txn: Txn, cluster_id: bytes | None, node_id: int | None) -> None:
        """Refuse a data dir of another cluster/node or a newer format; stamp a new one."""
        db = self.meta_db
        fmt = txn.get(layout.META_FORMAT, db=db)
        if fmt is not None and layout.decode_u64(fmt) > layout.FORMAT_VERSION:
            raise ConfigError(f"data dir {self.path} has storage format "
                              f"{layout.decode_u64(fmt)}, this build reads up to "
                              f"{layout.FORMAT_VERSION}")
        if fmt is None:
            txn.put(layout.META_FORMAT, layout.encode_u64(layout.FORMAT_VERSION), db=db)
        stored_cluster = txn.get(layout.META_CLUSTER_ID, db=db)
        if cluster_id is not None:
            if stored_cluster is not None and stored_cluster != cluster_id:
                raise WrongCluster(f"data dir {self.path} belongs to cluster "
                                   f"{stored_cluster!r}, not {cluster_id!r}")
            txn.put(layout.META_CLUSTER_ID, cluster_id, db=db)
        stored_node = txn.get(layout.META_NODE_ID, db=db)
        if node_id is not None:
            if stored_node is not None and layout.decode_u64(stored_node) != node_id:
                raise ConfigError(f"data dir {self.path} belongs to node "
                                  f"{layout.decode_u64(stored_node)}, not {node_id}")
            txn.put(layout.META_NODE_ID, layout.encode_u64(node_id), db=db)

    # --- lifecycle ------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._groups.clear()
            self.env.close()

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InternalError(f"store {self.path} is closed")

    # --- groups ---------------------------------------------------------------
    def group_ids(self) -> list[int]:
        """Ids of every bootstrapped group, ascending."""
        self._check_open()
        out = []
        with self.env.begin(db=self.state_db) as txn:
            for key in txn.cursor().iternext(values=False):
                if key[8:] == layout.TAG_CONF_STATE:
                    out.append(layout.decode_u64(key[:8]))
        return out

    def has_group(self, group_id: int) -> bool:
        self._check_open()
        key = layout.state_key(layout.check_group_id(group_id), layout.TAG_CONF_STATE)
        with self.env.begin(db=self.state_db) as txn:
            return txn.get(key) is not None

    def bootstrap_group(self, group_id: int, conf_state: ConfState,
                        initial_index: int = 0) -> GroupStorage:
        """Create a new group with its initial membership (like MemoryStorage(conf_state)).

        With `initial_index` > 0 the group starts from a snapshot at that index
        (term 1) holding `conf_state`, as TiKV starts regions: a member added
        later starts empty (index 0), so the leader can only catch it up with a
        snapshot, which carries the full configuration. Replaying the log from
        index 1 would never tell it the initial voters.
        """
        self._check_open()
        layout.check_group_id(group_id)
        if self._writing:
            raise InternalError("bootstrap_group inside an open write batch")
        if self.has_group(group_id):
            raise InvalidArgument(f"raft group {group_id} already exists in {self.path}")
        term = 1 if initial_index else 0
        with self.env.begin(write=True, db=self.state_db) as txn:
            def put(tag: bytes, value: bytes) -> None:
                txn.put(layout.state_key(group_id, tag), value)
            hs = HardState(term=term, commit=initial_index)
            tomb = txn.pop(layout.state_key(group_id, layout.TAG_TOMBSTONE))
            if tomb is not None and not initial_index:
                old = layout.decode_stored("tombstone", codec.decode_hard_state, tomb)
                hs = HardState(term=old.term, vote=old.vote)
            put(layout.TAG_CONF_STATE, codec.encode_conf_state(conf_state))
            put(layout.TAG_HARD_STATE, codec.encode_hard_state(hs))
            put(layout.TAG_SNAPSHOT, layout.encode_snapshot_meta(SnapshotMeta(
                index=initial_index, term=term, conf_state=conf_state)))
            put(layout.TAG_OFFSET, layout.encode_offset(initial_index, term))
            put(layout.TAG_APPLIED, layout.encode_u64(initial_index))
        log.debug("storage.group_bootstrapped", group=group_id, voters=conf_state.voters)
        return self.group(group_id)

    def destroy_group(self, group_id: int) -> None:
        """Delete a replica this node no longer holds (log, state, data, sessions) in one
        transaction, keeping only a tombstone with its term and vote."""
        self._check_open()
        if self._writing:
            raise InternalError("destroy_group inside an open write batch")
        gs = self.group(group_id)
        hs = gs.hard_state
        prefix = layout.group_prefix(group_id)
        with self.env.begin(write=True) as txn:
            for db in (self.log_db, self.state_db, self.kv_db, self.sessions_db):
                drop_prefix(txn, db, prefix)
            txn.put(layout.state_key(group_id, layout.TAG_TOMBSTONE), codec.encode_hard_state(
                HardState(term=hs.term, vote=hs.vote)), db=self.state_db)
        self._groups.pop(group_id, None)
        log.info("storage.group_destroyed", group=group_id, term=hs.term)

    def group(self, group_id: int) -> GroupStorage:
        """The (cached) GroupStorage of a bootstrapped group; NotFound otherwise."""
        gs = self._groups.get(group_id)
        if gs is None:
            self._check_open()
            gs = GroupStorage(self, group_id)
        return gs

    def _register(self, gs: GroupStorage) -> None:
        if gs.group_id in self._groups:
            raise InternalError(f"a GroupStorage for group {gs.group_id} exists; "
                                "use NodeStore.group()")
        self._groups[gs.group_id] = gs

    def applied_index(self, group_id: int) -> int:
        """The committed applied index of a group."""
        return self.group(group_id).applied_index

    # --- transactions ---------------------------------------------------------
    def write(self) -> WriteBatch:
        """Open the group-commit batch: `with store.write() as w: ...` (one per loop turn)."""
        self._check_open()
        if self._writing:
            raise InternalError("a write batch is already open on this store")
        batch = WriteBatch(self)
        self._writing = True
        return batch

    def _batch_done(self) -> None:
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[Txn]:
        """A consistent read-only transaction (gets, scans, snapshot streaming)."""
        self._check_open()
        txn = self.env.begin()
        try:
            yield txn
        finally:
            txn.abort()
