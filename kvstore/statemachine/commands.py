"""Commands and results of the KV state machine, their validation, and the log encoding.

One Raft entry carries one *batch* of commands (the host proposes one entry per
group per loop turn): `msgpack([FORMAT, proposed_at_ms, [cmd, ...]])`.
`proposed_at_ms` is the leader's wall clock at proposal; it is the only notion
of time the state machine has, so session expiry is the same on every replica.

A command is the positional list
`[op, key, value, expected, expect_absent, client_id, seq, ack_seq]`:
- PUT: `value` is stored. DELETE: `value` and `expected` are b"".
- CAS: succeeds iff the key is absent (`expect_absent`) or holds `expected`;
  then the key is set to `value`, or deleted if `value` is nil.
- `client_id` b"" means "no session" (no dedup); otherwise `seq` >= 1 and
  `ack_seq` follow `sessions.py`.

A result is the tuple `(code, found, value, cas_succeeded)`, the shape of the
protobuf OpResult: `found` = the key existed before (DELETE, CAS); `value` = the
current value after a CAS that failed (b"" otherwise, so the session table
never stores big values for successful writes). Tuples are immutable, so the
common results are shared constants: no allocation per PUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

from kvstore.errors import InvalidArgument

FORMAT = 1
MAX_U64 = (1 << 64) - 1


class Op(IntEnum):
    PUT = 1
    DELETE = 2
    CAS = 3


class Code(IntEnum):
    OK = 0
    SESSION_EXPIRED = 1  # the client's session is gone: outcome unknown, nothing applied
    STALE_REQUEST = 2  # seq already acknowledged by the client (or evicted): not applied
    BAD_COMMAND = 3  # a malformed command inside a batch: not applied, on every replica alike
    BAD_ENTRY = 4  # the entry is not a batch at all: its only result
    KEY_CONFLICT = 5  # a 128-bit hash collision between two long keys: not applied


Command = list[Any]
Result = tuple[int, bool, bytes, bool]

R_OK: Result = (Code.OK, False, b"", False)
R_OK_FOUND: Result = (Code.OK, True, b"", False)
R_CAS_OK_ABSENT: Result = (Code.OK, False, b"", True)
R_CAS_OK_FOUND: Result = (Code.OK, True, b"", True)
R_EXPIRED: Result = (Code.SESSION_EXPIRED, False, b"", False)
R_STALE: Result = (Code.STALE_REQUEST, False, b"", False)
R_BAD_COMMAND: Result = (Code.BAD_COMMAND, False, b"", False)
R_BAD_ENTRY: Result = (Code.BAD_ENTRY, False, b"", False)
R_KEY_CONFLICT: Result = (Code.KEY_CONFLICT, False, b"", False)


@dataclass(slots=True, frozen=True)
class Limits:
    """Proposer-side bounds. Apply never looks at them, so replicas cannot diverge."""

    max_key_bytes: int = 4096
    max_value_bytes: int = 1 << 20
    max_client_id_bytes: int = 64


DEFAULT_LIMITS = Limits()


def check_key(key: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    if not isinstance(key, bytes) or not key:
        raise InvalidArgument("key must be non-empty bytes")
    if len(key) > limits.max_key_bytes:
        raise InvalidArgument(f"key of {len(key)} bytes exceeds the limit max_key_bytes="
                              f"{limits.max_key_bytes}")


def _check_value(what: str, v: Any, limits: Limits) -> None:
    if not isinstance(v, bytes):
        raise InvalidArgument(f"{what} must be bytes, got {type(v).__name__}")
    if len(v) > limits.max_value_bytes:
        raise InvalidArgument(f"{what} of {len(v)} bytes exceeds the limit max_value_bytes="
                              f"{limits.max_value_bytes}")


def _check_u64(what: str, v: Any) -> None:
    if type(v) is not int or not 0 <= v <= MAX_U64:
        raise InvalidArgument(f"{what} must be an int in [0, 2**64), got {v!r}")


def validate_command(cmd: Command, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise InvalidArgument, naming the violated limit, unless `cmd` may be proposed."""
    if not isinstance(cmd, list) or len(cmd) != 8:
        raise InvalidArgument("a command is an 8-field list (see kvstore.statemachine.commands)")
    op, key, value, expected, absent, client_id, seq, ack_seq = cmd
    if op not in (Op.PUT, Op.DELETE, Op.CAS):
        raise InvalidArgument(f"unknown op {op!r}")
    check_key(key, limits)
    if op == Op.CAS and value is None:
        pass  # cas that deletes on success
    else:
        _check_value("value", value, limits)
    _check_value("expected value", expected, limits)
    if not isinstance(absent, bool):
        raise InvalidArgument("expect_absent must be a bool")
    if op == Op.DELETE and (value or expected or absent):
        raise InvalidArgument("delete takes no value")
    if op == Op.PUT and (expected or absent):
        raise InvalidArgument("put takes no expected value")
    if not isinstance(client_id, bytes) or len(client_id) > limits.max_client_id_bytes:
        raise InvalidArgument(f"client_id must be bytes of at most max_client_id_bytes="
                              f"{limits.max_client_id_bytes}")
    _check_u64("seq", seq)
    _check_u64("ack_seq", ack_seq)
    if client_id and seq == 0:
        raise InvalidArgument("a write with a client_id needs seq >= 1")


def make_command(op: Op, key: bytes, value: bytes | None, expected: bytes, expect_absent: bool,
                 client_id: bytes, seq: int, ack_seq: int,
                 limits: Limits = DEFAULT_LIMITS) -> Command:
    """A validated command; raises InvalidArgument before anything reaches the log."""
    cmd = [int(op), key, value, expected, expect_absent, client_id, seq, ack_seq]
    validate_command(cmd, limits)
    return cmd


def put(key: bytes, value: bytes, *, client_id: bytes = b"", seq: int = 0, ack_seq: int = 0,
        limits: Limits = DEFAULT_LIMITS) -> Command:
    return make_command(Op.PUT, key, value, b"", False, client_id, seq, ack_seq, limits)


def delete(key: bytes, *, client_id: bytes = b"", seq: int = 0, ack_seq: int = 0,
           limits: Limits = DEFAULT_LIMITS) -> Command:
    return make_command(Op.DELETE, key, b"", b"", False, client_id, seq, ack_seq, limits)


def cas(key: bytes, expected: bytes | None, new: bytes | None, *, client_id: bytes = b"",
        seq: int = 0, ack_seq: int = 0, limits: Limits = DEFAULT_LIMITS) -> Command:
    """Compare-and-set: `expected` None = the key must be absent; `new` None = delete."""
    return make_command(Op.CAS, key, new, expected or b"", expected is None, client_id, seq,
                        ack_seq, limits)


def encode_batch(cmds: list[Command], proposed_at_ms: int) -> bytes:
    """One entry's data for already validated commands."""
    _check_u64("proposed_at_ms", proposed_at_ms)
    data: bytes = msgpack.packb([FORMAT, proposed_at_ms, cmds], use_bin_type=True)
    return data


def decode_batch(data: bytes) -> tuple[int, list[Any]] | None:
    """(proposed_at_ms, commands), or None if `data` is not a batch of this format."""
    try:
        fmt, at_ms, cmds = msgpack.unpackb(data, raw=False)
    except Exception:  # garbage in the log must not stop apply; msgpack raises many types
        return None
    if fmt != FORMAT or type(at_ms) is not int or at_ms < 0 or not isinstance(cmds, list):
        return None
    return at_ms, cmds


def well_formed(cmd: Any) -> bool:
    """The shape apply relies on (the limits are deliberately not re-checked)."""
    if type(cmd) is not list or len(cmd) != 8:
        return False
    op, key, value, expected, absent, client_id, seq, ack = cmd
    return (type(key) is bytes and len(key) > 0 and type(expected) is bytes
            and (type(value) is bytes or (value is None and op == 3))
            and op in (1, 2, 3) and type(absent) is bool and type(client_id) is bytes
            and type(seq) is int and type(ack) is int and seq >= 0 and ack >= 0)
