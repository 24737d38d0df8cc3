"""Test support: a real LMDB NodeStore with a StateMachine, and a helper that applies
batches the way the host does (one write batch: apply + applied index)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvstore.raft.types import ConfState, Entry
from kvstore.statemachine import Command, Result, SessionLimits, StateMachine, encode_batch
from kvstore.storage import NodeStore


class Node:
    """One store + state machine; `apply` commits one entry per call."""

    def __init__(self, path: Path, groups: tuple[int, ...] = (1,),
                 session_limits: SessionLimits | None = None) -> None:
        self.store = NodeStore(path, map_size=256 << 20, sync=False)
        self.sm = StateMachine(self.store, session_limits=session_limits)
        for gid in groups:
            if not self.store.has_group(gid):
                self.store.bootstrap_group(gid, ConfState(voters=[1]))

    def apply_data(self, data: bytes, gid: int = 1) -> list[Result]:
        index = self.store.applied_index(gid) + 1
        with self.store.write() as w:
            w.append(gid, [Entry(1, index, data=data)])
            out = self.sm.apply_entry(w.txn, gid, Entry(1, index, data=data))
            w.set_applied(gid, index)
        return out

    def apply(self, cmds: list[Command], at_ms: int = 1_000, gid: int = 1) -> list[Result]:
        return self.apply_data(encode_batch(cmds, at_ms), gid)

    def get(self, key: bytes, gid: int = 1) -> bytes | None:
        with self.store.read() as txn:
            return self.sm.get(txn, gid, key)

    def scan(self, gid: int = 1, start: bytes = b"", end: bytes | None = None,
             limit: int = 10**6) -> list[tuple[bytes, bytes]]:
        with self.store.read() as txn:
            return self.sm.scan(txn, gid, start, end, limit)

    def raw_sessions(self, gid: int = 1) -> list[tuple[bytes, bytes]]:
        """Every sessions-db record of the group, as stored."""
        prefix = gid.to_bytes(8, "big")
        with self.store.read() as txn:
            cur = txn.cursor(db=self.store.sessions_db)
            if not cur.set_range(prefix):
                return []
            return [(k, v) for k, v in cur if k.startswith(prefix)]

    def close(self) -> None:
        self.store.close()


def codes(results: list[Any]) -> list[int]:
    return [r[0] for r in results]
