"""The ONE mapping between `kvstore.errors` and gRPC status, both directions.

Server side: `to_status(exc)` gives (code, message, trailing metadata) and
`abort_with(context, exc)` ends a grpc.aio call with it; `map_errors` wraps a
servicer method so every exception leaves through this module. Client side:
`from_rpc_error(err)` rebuilds the same `KVError` subclass with its fields.
Inside a Batch, one op's failure is a `kv_pb2.Error` (`error_to_proto`,
`error_from_proto`), carrying the same information.

Wire contract (trailing metadata, ASCII values):
- `kvstore-error`: the kvstore.errors class name (the nearest one in the MRO);
- NotLeader: `kvstore-leader-id`, `kvstore-leader-addr`, `kvstore-shard`;
- WrongShard: `kvstore-epoch`.
The status code is always the class's `grpc_code`. A class name is trusted
only when it agrees with the status code; otherwise, or with no metadata (an
error made by gRPC itself or a proxy), the code alone picks the class.
Unknown exceptions become INTERNAL with a fixed message (details are logged,
never sent) and builtin TimeoutError becomes DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio

from kvstore import errors
from kvstore.errors import KVError
from kvstore.logging import get_logger
from kvstore.proto import kv_pb2

MD_ERROR = "kvstore-error"
MD_LEADER_ID = "kvstore-leader-id"
MD_LEADER_ADDR = "kvstore-leader-addr"
MD_SHARD = "kvstore-shard"
MD_EPOCH = "kvstore-epoch"
INTERNAL_MESSAGE = "internal error"
# grpc-message travels in a header; keep it well under the metadata size limit.
MAX_MESSAGE_CHARS = 1024

_log = get_logger("kvstore.rpc_status")


def _error_classes() -> dict[str, type[KVError]]:
    found: dict[str, type[KVError]] = {}
    todo: list[type[KVError]] = [KVError]
    while todo:
        cls = todo.pop()
        if cls.__module__ == errors.__name__:
            found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


_CLASSES = _error_classes()
_CODES = {c.value[0]: c for c in grpc.StatusCode}
# Used when no (trustworthy) class name came with the status.
_BY_CODE: dict[grpc.StatusCode, type[KVError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.NotLeader,  # re-route and refresh
    grpc.StatusCode.PERMISSION_DENIED: errors.WrongCluster,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.CANCELLED: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.Timeout,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.Overloaded,
    grpc.StatusCode.INTERNAL: errors.InternalError,
}


@dataclass(slots=True)
class _ErrorInfo:
    """The transport-neutral form of an error: metadata and kv_pb2.Error render it."""

    type_name: str
    code: grpc.StatusCode
    message: str
    leader_id: int = 0
    leader_addr: str = ""
    shard: int = -1
    epoch: int = 0


def _status_code(name: str) -> grpc.StatusCode:
    code = getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.INTERNAL if code is grpc.StatusCode.OK else code


def _ascii(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    # Metadata values must be printable ASCII; anything else would fail the call.
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def _info_from_exc(exc: BaseException) -> _ErrorInfo:
    if isinstance(exc, KVError):
        name = next(c.__name__ for c in type(exc).__mro__ if _CLASSES.get(c.__name__) is c)
        info = _ErrorInfo(name, _status_code(exc.grpc_code), exc.message[:MAX_MESSAGE_CHARS])
        if isinstance(exc, errors.NotLeader):
            info.leader_id, info.leader_addr = exc.leader_hint, exc.leader_addr
            info.shard = exc.shard
        elif isinstance(exc, errors.WrongShard):
            info.epoch = exc.epoch
        return info
    if isinstance(exc, TimeoutError):
        return _ErrorInfo("Timeout", grpc.StatusCode.DEADLINE_EXCEEDED, "timed out")
    _log.error("rpc.unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    return _ErrorInfo("InternalError", grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def _exc_from_info(info: _ErrorInfo) -> KVError:
    cls = _CLASSES.get(info.type_name)
    if cls is None or _status_code(cls.grpc_code) is not info.code:
        cls = _BY_CODE.get(info.code, errors.InternalError)
        if cls is errors.InternalError and info.code is not grpc.StatusCode.INTERNAL:
            return errors.InternalError(f"{info.code.name}: {info.message}")
    if issubclass(cls, errors.NotLeader):
        return cls(info.message, shard=info.shard, leader_hint=info.leader_id,
                   leader_addr=info.leader_addr)
    if issubclass(cls, errors.WrongShard):
        return cls(info.message, epoch=info.epoch)
    return cls(info.message)


# -- server side ---------------------------------------------------------------


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """(code, message, trailing metadata) for any exception a handler raised."""
    info = _info_from_exc(exc)
    md = [(MD_ERROR, info.type_name)]
    if info.type_name == "NotLeader" or info.leader_id or info.leader_addr:
        md += [(MD_LEADER_ID, str(info.leader_id)), (MD_LEADER_ADDR, _ascii(info.leader_addr)),
               (MD_SHARD, str(info.shard))]
    if info.type_name == "WrongShard" or info.epoch:
        md.append((MD_EPOCH, str(info.epoch)))
    return info.code, info.message, tuple(md)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> NoReturn:
    """End the current grpc.aio call with the status for `exc` (raises AbortError)."""
    code, message, md = to_status(exc)
    await context.abort(code, message, trailing_metadata=md)
    # grpc.aio's abort always raises; this line documents it for the type checker.
    raise AssertionError("grpc.aio ServicerContext.abort returned")


_R = TypeVar("_R")
_Handler = Callable[[Any, Any, "grpc.aio.ServicerContext[Any, Any]"], Awaitable[_R]]


def map_errors(handler: _Handler[_R]) -> _Handler[_R]:
    """Wrap an async unary-response servicer method: every exception becomes a status."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> _R:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise  # the handler already chose a status with context.abort()
        except Exception as exc:
            await abort_with(context, exc)

    return wrapper


# -- client side ---------------------------------------------------------------


def _metadata_dict(md: Iterable[Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in md or ():
        key, value = item[0], item[1]
        if isinstance(key, str) and isinstance(value, str):
            out[key] = value
    return out


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def from_rpc_error(err: grpc.RpcError) -> KVError:
    """The KVError a failed call (grpc.aio.AioRpcError or a sync grpc.RpcError) stands for."""
    try:
        code = err.code()
        message = err.details() or ""
        md = _metadata_dict(err.trailing_metadata())
    except AttributeError:  # a bare RpcError, not a grpc.Call
        return errors.InternalError(f"rpc failed: {err!r}")
    if not isinstance(code, grpc.StatusCode):
        return errors.InternalError(f"rpc failed without a status: {message}")
    return _exc_from_info(_ErrorInfo(
        md.get(MD_ERROR, ""), code, message,
        leader_id=_int(md.get(MD_LEADER_ID), 0), leader_addr=md.get(MD_LEADER_ADDR, ""),
        shard=_int(md.get(MD_SHARD), -1), epoch=_int(md.get(MD_EPOCH), 0),
    ))


# -- one op inside a Batch -----------------------------------------------------


def error_to_proto(exc: BaseException) -> kv_pb2.Error:
    """The per-op error message for `exc` (same mapping as `to_status`)."""
    info = _info_from_exc(exc)
    return kv_pb2.Error(
        code=info.code.value[0], type=info.type_name, message=info.message,
        leader_id=info.leader_id, leader_addr=info.leader_addr, shard=info.shard,
        epoch=info.epoch,
    )


def error_from_proto(err: kv_pb2.Error) -> KVError:
    """The KVError a per-op `kv_pb2.Error` stands for."""
    code = _CODES.get(err.code, grpc.StatusCode.UNKNOWN)
    return _exc_from_info(_ErrorInfo(
        err.type, code, err.message, leader_id=err.leader_id, leader_addr=err.leader_addr,
        shard=err.shard, epoch=err.epoch,
    ))
