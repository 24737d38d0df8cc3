"""Translation between protobuf ops/results and state machine commands/results.

The state machine knows nothing of protobuf; the KV service knows nothing of
the command encoding. This module is the seam, kept small and allocation-lean
because it runs once per op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvstore.errors import InvalidArgument, KVError, SessionExpired, StaleRequest
from kvstore.proto import kv_pb2
from kvstore.rpc_status import error_to_proto
from kvstore.statemachine import Code, Op, StateMachine, make_command
from kvstore.statemachine import check_key as _check_key

if TYPE_CHECKING:
    import lmdb

_OPS = {kv_pb2.OP_TYPE_PUT: Op.PUT, kv_pb2.OP_TYPE_DELETE: Op.DELETE,
        kv_pb2.OP_TYPE_CAS: Op.CAS}


_CODE_ERRORS: dict[int, type[KVError]] = {
    Code.SESSION_EXPIRED: SessionExpired,
    Code.STALE_REQUEST: StaleRequest,
    Code.BAD_COMMAND: InvalidArgument,
}


def command(sm: StateMachine, op: kv_pb2.Op, client_id: bytes, ack_seq: int) -> list[Any]:
    return make_command(_OPS[op.type], op.key, op.value, op.expected, op.expect_absent,
                        client_id, op.seq, ack_seq, sm.limits)


def check_key(sm: StateMachine, key: bytes) -> None:
    _check_key(key, sm.limits)


def write_result(res: list[Any]) -> kv_pb2.OpResult:
    code, found, value, cas_ok = res
    if code != Code.OK:
        err = _CODE_ERRORS.get(code, InvalidArgument)(f"request not applied: {Code(code).name}")
        return kv_pb2.OpResult(error=error_to_proto(err))
    return kv_pb2.OpResult(found=found, value=value, cas_succeeded=cas_ok)


def get_result(sm: StateMachine, txn: lmdb.Transaction[bytes], gid: int,
               key: bytes) -> kv_pb2.OpResult:
    v = sm.get(txn, gid, key)
    return kv_pb2.OpResult(found=v is not None, value=v or b"")
