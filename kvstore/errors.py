"""The one exception tree of kvstore.

Every error a user can see is a subclass of `KVError`. Each class names the
gRPC status code it maps to (`grpc_code`, a name from `grpc.StatusCode`), and
the server and client translate in one place, `kvstore/rpc_status.py`,
using this attribute. This module imports nothing of ours so
that any layer may raise these errors.
"""

from __future__ import annotations


class KVError(Exception):
    """Base of all kvstore errors."""

    grpc_code = "UNKNOWN"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        self.details = details


class InvalidArgument(KVError):
    """The request is malformed: bad key, oversized value, unknown option."""

    grpc_code = "INVALID_ARGUMENT"


class ConfigError(InvalidArgument):
    """A configuration file or flag is invalid."""


class NotFound(KVError):
    grpc_code = "NOT_FOUND"


class NotLeader(KVError):
    """This replica is not the leader of the shard; `leader_hint` may name it."""

    grpc_code = "FAILED_PRECONDITION"

    def __init__(self, message: str = "", *, shard: int = -1, leader_hint: int = 0,
                 leader_addr: str = "") -> None:
        super().__init__(message or f"not leader for shard {shard}", shard=shard)
        self.shard = shard
        self.leader_hint = leader_hint
        self.leader_addr = leader_addr


class WrongShard(KVError):
    """The key does not belong to the addressed shard under the current epoch."""

    grpc_code = "FAILED_PRECONDITION"

    def __init__(self, message: str = "", *, epoch: int = 0) -> None:
        super().__init__(message or "wrong shard", epoch=epoch)
        self.epoch = epoch


class WrongCluster(KVError):
    """A peer or client speaks for another cluster id."""

    grpc_code = "PERMISSION_DENIED"


class PermissionDenied(KVError):
    """The operation is disabled on this node (e.g. fault injection)."""

    grpc_code = "PERMISSION_DENIED"


class Unavailable(KVError):
    """No quorum, node shutting down, or a peer is unreachable: retry later."""

    grpc_code = "UNAVAILABLE"


class Timeout(KVError):
    """The deadline passed; the operation may or may not have been applied."""

    grpc_code = "DEADLINE_EXCEEDED"


class SessionExpired(KVError):
    """The client's session on a shard expired: the request's outcome is unknown.

    Not retryable as is: the client starts a new session for that shard."""

    grpc_code = "FAILED_PRECONDITION"


class StaleRequest(InvalidArgument):
    """The request's sequence number was already acknowledged: it was not applied again."""


class CircuitOpen(Unavailable):
    """The client's circuit breaker for a node is open."""


class Overloaded(KVError):
    """A bounded queue is full; the request was not accepted."""

    grpc_code = "RESOURCE_EXHAUSTED"


class CheckError(KVError):
    """A history file cannot be parsed or checked (linearizability checker)."""

    grpc_code = "INVALID_ARGUMENT"


class InternalError(KVError):
    grpc_code = "INTERNAL"
