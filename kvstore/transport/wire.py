"""Wire form of one coalesced peer batch: every group's messages for one peer in one turn.

payload = msgpack([[group_id, [message_list, ...]], ...]) where each
message_list is `kvstore.raft.codec.message_to_list`. One `packb` for the
whole batch (not one per message) keeps the per-message cost low.
`decode_batch` validates everything and raises `DecodeError` on garbage, and
rejects messages not addressed from `frm` to `to`, so a confused or hostile
peer cannot inject messages in another node's name.
"""

from __future__ import annotations

from typing import Any, cast

import msgpack

from kvstore.raft.codec import DecodeError, message_from_list, message_to_list
from kvstore.raft.types import LOCAL_MESSAGES, Message, MessageType

MAX_BATCH_BYTES = 64 << 20


def encode_batch(items: list[tuple[int, Message]]) -> bytes:
    grouped: dict[int, list[Any]] = {}
    for gid, m in items:
        grouped.setdefault(gid, []).append(message_to_list(m))
    return cast(bytes, msgpack.packb([[gid, ms] for gid, ms in grouped.items()],
                                     use_bin_type=True))


def decode_batch(payload: bytes, frm: int, to: int) -> list[tuple[int, Message]]:
    if len(payload) > MAX_BATCH_BYTES:
        raise DecodeError(f"batch of {len(payload)} bytes exceeds {MAX_BATCH_BYTES}")
    try:
        raw = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise DecodeError(f"not msgpack: {exc}") from exc
    if not isinstance(raw, list):
        raise DecodeError("batch is not a list")
    out: list[tuple[int, Message]] = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 2:
            raise DecodeError("batch item is not [group, messages]")
        gid, msgs = item
        if type(gid) is not int or gid < 0 or not isinstance(msgs, list):
            raise DecodeError("bad group id or message list")
        for v in msgs:
            m = message_from_list(v)
            if m.frm != frm or m.to != to or m.type in LOCAL_MESSAGES:
                raise DecodeError(f"message {m.type.name} {m.frm}->{m.to} on link {frm}->{to}")
            if m.type == MessageType.SNAPSHOT or m.snapshot is not None:
                # Images only arrive through InstallSnapshot (checked, staged on disk).
                raise DecodeError("snapshots are not accepted on the message stream")
            out.append((gid, m))
    return out
