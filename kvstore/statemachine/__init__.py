"""The KV state machine: commands (put, delete, cas) applied deterministically to LMDB,
client sessions for exactly-once writes, and snapshot encode/restore.

Public API: `StateMachine`, `Limits`, `SessionLimits`, `Op`, `Code`, `Result`,
`make_command`, `validate_command`, `check_key`, the `put`/`delete`/`cas`
command builders, and `encode_batch`/`decode_batch` (the entry format).
"""

from __future__ import annotations

from kvstore.statemachine.commands import (
    Code,
    Command,
    Limits,
    Op,
    Result,
    cas,
    check_key,
    decode_batch,
    delete,
    encode_batch,
    make_command,
    put,
    validate_command,
)
from kvstore.statemachine.machine import StateMachine
from kvstore.statemachine.sessions import SessionLimits

__all__ = ["Code", "Command", "Limits", "Op", "Result", "SessionLimits", "StateMachine", "cas",
           "check_key", "decode_batch", "delete", "encode_batch", "make_command", "put",
           "validate_command"]
