"""Byte layout of the node's LMDB environment: database names and key encodings.

One environment per node holds these named databases:

- `log`:        u64 BE group id + u64 BE index -> `codec.encode_entry(entry)`
- `raft_state`: u64 BE group id + one tag byte  -> per-group record (see TAG_*)
- `kv`:         u64 BE group id + user key      -> value (see `kvdata.py` for long keys)
- `sessions`:   u64 BE group id + ...           -> client-session table (owned by
                `kvstore.statemachine.sessions`)
- `meta`:       ascii name                      -> node id, cluster id, format version

Invariants: every key of a group starts with `group_prefix(group_id)`, so a
group's records are one contiguous key range in each database and big-endian
integers sort numerically. A group exists iff its TAG_CONF_STATE record exists.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from kvstore.errors import InternalError, InvalidArgument
from kvstore.raft import codec
from kvstore.raft.types import SnapshotMeta

FORMAT_VERSION = 1

DB_LOG = b"log"
DB_RAFT_STATE = b"raft_state"
DB_KV = b"kv"
DB_SESSIONS = b"sessions"
DB_META = b"meta"
ALL_DBS = (DB_LOG, DB_RAFT_STATE, DB_KV, DB_SESSIONS, DB_META)

META_FORMAT = b"format_version"
META_CLUSTER_ID = b"cluster_id"
META_NODE_ID = b"node_id"

# raft_state tags (one byte after the group prefix).
TAG_HARD_STATE = b"h"
TAG_CONF_STATE = b"c"
TAG_SNAPSHOT = b"s"
TAG_OFFSET = b"o"  # index and term of the compaction point (MemoryStorage's dummy entry)
TAG_APPLIED = b"a"
# Left by destroy_group: the removed replica's last term and vote (never forgotten,
# or a re-created replica could vote twice in one term).
TAG_TOMBSTONE = b"t"

MAX_GROUP_ID = (1 << 63) - 1

_U64 = struct.Struct(">Q")
_U64X2 = struct.Struct(">QQ")
_log_key = _U64X2.pack


def check_group_id(group_id: int) -> int:
    if type(group_id) is not int or not 0 <= group_id <= MAX_GROUP_ID:
        raise InvalidArgument(f"group id must be an int in [0, 2**63), got {group_id!r}")
    return group_id


def group_prefix(group_id: int) -> bytes:
    return _U64.pack(group_id)


def log_key(group_id: int, index: int) -> bytes:
    return _log_key(group_id, index)


def split_log_key(key: bytes) -> tuple[int, int]:
    group_id, index = _U64X2.unpack(key)
    return group_id, index


def state_key(group_id: int, tag: bytes) -> bytes:
    return _U64.pack(group_id) + tag


def encode_u64(v: int) -> bytes:
    return _U64.pack(v)


def decode_u64(b: bytes) -> int:
    v: int = _U64.unpack(b)[0]
    return v


def encode_offset(index: int, term: int) -> bytes:
    return _U64X2.pack(index, term)


def decode_offset(b: bytes) -> tuple[int, int]:
    index, term = _U64X2.unpack(b)
    return index, term


def encode_snapshot_meta(meta: SnapshotMeta) -> bytes:
    b: bytes = msgpack.packb([meta.index, meta.term, codec.conf_state_to_list(meta.conf_state)])
    return b


def decode_snapshot_meta(b: bytes) -> SnapshotMeta:
    try:
        index, term, cs = msgpack.unpackb(b)
        return SnapshotMeta(int(index), int(term), codec.conf_state_from_list(cs))
    except (TypeError, ValueError) as exc:
        raise InternalError(f"corrupt snapshot meta record: {exc}") from exc


def decode_stored(kind: str, decoder: Any, b: bytes) -> Any:
    """Decode a record written by us; a failure means on-disk corruption."""
    try:
        return decoder(b)
    except (codec.DecodeError, ValueError, TypeError) as exc:
        raise InternalError(f"corrupt {kind} record in storage: {exc}") from exc
