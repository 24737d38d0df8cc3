"""msgpack encoding of Raft messages, entries and states (wire and disk form).

Each type encodes as a compact positional list. Decoding validates shapes and
raises `DecodeError` on malformed input, so a transport can drop garbage
without crashing (the core never sees it).
"""

from __future__ import annotations

from typing import Any, cast

import msgpack

from kvstore.raft.types import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMeta,
)


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected type."""


def entry_to_list(e: Entry) -> list[Any]:
    return [e.term, e.index, int(e.type), e.data]


def entry_from_list(v: Any) -> Entry:
    term, index, typ, data = v
    return Entry(_int(term), _int(index), EntryType(typ), _bytes(data))


def conf_state_to_list(cs: ConfState) -> list[Any]:
    return [cs.voters, cs.learners, cs.voters_outgoing, cs.learners_next, cs.auto_leave]


def conf_state_from_list(v: Any) -> ConfState:
    voters, learners, outgoing, learners_next, auto_leave = v
    return ConfState(
        [_int(x) for x in voters], [_int(x) for x in learners],
        [_int(x) for x in outgoing], [_int(x) for x in learners_next], bool(auto_leave),
    )


def _snapshot_to_list(s: Snapshot | None) -> list[Any] | None:
    if s is None:
        return None
    return [s.meta.index, s.meta.term, conf_state_to_list(s.meta.conf_state), s.data]


def _snapshot_from_list(v: Any) -> Snapshot | None:
    if v is None:
        return None
    index, term, cs, data = v
    return Snapshot(SnapshotMeta(_int(index), _int(term), conf_state_from_list(cs)), _bytes(data))


def message_to_list(m: Message) -> list[Any]:
    return [
        int(m.type), m.to, m.frm, m.term, m.log_term, m.index,
        [entry_to_list(e) for e in m.entries], m.commit, m.reject, m.reject_hint,
        m.context, _snapshot_to_list(m.snapshot), m.quiesce,
    ]


def message_from_list(v: Any) -> Message:
    try:
        (typ, to, frm, term, log_term, index, ents, commit, reject, hint, ctx, snap,
         quiesce) = v
        return Message(
            MessageType(typ), _int(to), _int(frm), _int(term), _int(log_term), _int(index),
            [entry_from_list(e) for e in ents], _int(commit), bool(reject), _int(hint),
            _bytes(ctx), _snapshot_from_list(snap), bool(quiesce),
        )
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed raft message: {exc}") from exc


def encode_message(m: Message) -> bytes:
    return _pack(message_to_list(m), use_bin_type=True)


def decode_message(b: bytes) -> Message:
    return message_from_list(_unpack(b))


def encode_entry(e: Entry) -> bytes:
    return _pack(entry_to_list(e), use_bin_type=True)


def decode_entry(b: bytes) -> Entry:
    try:
        return entry_from_list(_unpack(b))
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed entry: {exc}") from exc


def encode_hard_state(hs: HardState) -> bytes:
    return _pack([hs.term, hs.vote, hs.commit])


def decode_hard_state(b: bytes) -> HardState:
    try:
        term, vote, commit = _unpack(b)
        return HardState(_int(term), _int(vote), _int(commit))
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed hard state: {exc}") from exc


def encode_conf_state(cs: ConfState) -> bytes:
    return _pack(conf_state_to_list(cs))


def decode_conf_state(b: bytes) -> ConfState:
    try:
        return conf_state_from_list(_unpack(b))
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed conf state: {exc}") from exc


def encode_conf_change(cc: ConfChange) -> bytes:
    return _pack([[[int(c.type), c.node_id] for c in cc.changes], cc.context],
                         use_bin_type=True)


def decode_conf_change(b: bytes) -> ConfChange:
    try:
        changes, ctx = _unpack(b)
        return ConfChange(
            [ConfChangeSingle(ConfChangeType(t), _int(n)) for t, n in changes], _bytes(ctx)
        )
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed conf change: {exc}") from exc


def _pack(v: Any, use_bin_type: bool = True) -> bytes:
    return cast(bytes, msgpack.packb(v, use_bin_type=use_bin_type))


def _unpack(b: bytes) -> Any:
    try:
        return msgpack.unpackb(b, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise DecodeError(f"not msgpack: {exc}") from exc


def _int(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise DecodeError(f"expected a non-negative int, got {type(v).__name__}")
    return v


def _bytes(v: Any) -> bytes:
    if not isinstance(v, bytes):
        raise DecodeError(f"expected bytes, got {type(v).__name__}")
    return v
