"""Commands and results of the KV state machine, and their log encoding.

One Raft entry carries one *batch* (the host proposes one entry per group per
loop turn): `msgpack([FORMAT, proposed_at_ms, [cmd, ...]])`, where a command
is the positional list `[op, key, value, expected, expect_absent, client_id,
seq, ack_seq]`. `proposed_at_ms` is the leader's clock when it proposed the
batch; it is the only notion of time the state machine has, so session expiry
is the same on every replica.

A result is `[code, found, value, cas_succeeded]`; `code` is OK or an error
code that the server maps to a `kvstore.errors` class. Results are plain
lists because they are also stored in the session table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

import msgpack

from kvstore.errors import InvalidArgument

FORMAT = 1


class Op(IntEnum):
    PUT = 1
    DELETE = 2
    CAS = 3


class Code(IntEnum):
    OK = 0
    SESSION_EXPIRED = 1  # the client's session is gone: outcome of this request unknown
    STALE_REQUEST = 2  # seq already acknowledged by the client (or evicted): not applied
    BAD_COMMAND = 3  # malformed command in the log: ignored on every replica alike


Command = list[Any]
Result = list[Any]
RESULT_OK_EMPTY: Result = [Code.OK, False, b"", False]


@dataclass(slots=True, frozen=True)
class Limits:
    max_key_bytes: int = 4096
    max_value_bytes: int = 1 << 20
    max_client_id_bytes: int = 64


def check_key(key: bytes, limits: Limits) -> None:
    if not key:
        raise InvalidArgument("key must not be empty")
    if len(key) > limits.max_key_bytes:
        raise InvalidArgument(f"key of {len(key)} bytes exceeds the limit of "
                              f"{limits.max_key_bytes} bytes")


def make_command(op: Op, key: bytes, value: bytes, expected: bytes, expect_absent: bool,
                 client_id: bytes, seq: int, ack_seq: int, limits: Limits) -> Command:
    """A validated command; raises InvalidArgument before anything reaches the log."""
    check_key(key, limits)
    if len(value) > limits.max_value_bytes:
        raise InvalidArgument(f"value of {len(value)} bytes exceeds the limit of "
                              f"{limits.max_value_bytes} bytes")
    if len(expected) > limits.max_value_bytes:
        raise InvalidArgument("expected value exceeds the value size limit")
    if len(client_id) > limits.max_client_id_bytes:
        raise InvalidArgument(f"client_id longer than {limits.max_client_id_bytes} bytes")
    if client_id and seq <= 0:
        raise InvalidArgument("a write with a client_id needs a positive seq")
    if op == Op.DELETE and value:
        raise InvalidArgument("delete takes no value")
    return [int(op), key, value, expected, expect_absent, client_id, seq, ack_seq]


def encode_batch(cmds: list[Command], proposed_at_ms: int) -> bytes:
    return cast(bytes, msgpack.packb([FORMAT, proposed_at_ms, cmds], use_bin_type=True))


def decode_batch(data: bytes) -> tuple[int, list[Command]] | None:
    """(proposed_at_ms, commands), or None if `data` is not a batch of this format."""
    try:
        fmt, at_ms, cmds = msgpack.unpackb(data, raw=False)
    except Exception:  # garbage in the log must not stop apply
        return None
    if fmt != FORMAT or type(at_ms) is not int or not isinstance(cmds, list):
        return None
    return at_ms, cmds


def well_formed(cmd: Any) -> bool:
    if not isinstance(cmd, list) or len(cmd) != 8:
        return False
    op, key, value, expected, absent, client_id, seq, ack = cmd
    return (op in (1, 2, 3) and isinstance(key, bytes) and bool(key)
            and isinstance(value, bytes) and isinstance(expected, bytes)
            and isinstance(absent, bool) and isinstance(client_id, bytes)
            and type(seq) is int and type(ack) is int and seq >= 0 and ack >= 0)
