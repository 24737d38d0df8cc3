"""LMDB storage of a node: Raft logs and state of every group, KV data, sessions.

Public API: `NodeStore` (the environment, group registry, group-commit
`write()` batches and `read()` transactions), `GroupStorage` (the Raft
`Storage` protocol for one group), `WriteBatch`, and the `kvdata` helpers the
state machine uses for the `kv` database. Nothing here imports asyncio or grpc;
the node host drives it from one thread.
"""

from __future__ import annotations

from kvstore.storage.batch import WriteBatch
from kvstore.storage.env import DEFAULT_MAP_SIZE, NodeStore
from kvstore.storage.group import GroupStorage
from kvstore.storage.layout import FORMAT_VERSION

__all__ = ["DEFAULT_MAP_SIZE", "FORMAT_VERSION", "GroupStorage", "NodeStore", "WriteBatch"]
