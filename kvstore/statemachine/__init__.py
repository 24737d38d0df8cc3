"""The KV state machine: commands (put, delete, cas) applied deterministically to LMDB,
client sessions for exactly-once writes, and snapshot encode/restore.

Public API: `StateMachine`, `Limits`, `SessionLimits`, `Op`, `Code`, `make_command`.
"""

from kvstore.statemachine.commands import Code, Limits, Op, check_key, make_command
from kvstore.statemachine.machine import StateMachine
from kvstore.statemachine.sessions import SessionLimits

__all__ = ["Code", "Limits", "Op", "SessionLimits", "StateMachine", "check_key", "make_command"]
