from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_UNSPECIFIED: _ClassVar[Consistency]
    CONSISTENCY_LINEARIZABLE: _ClassVar[Consistency]
    CONSISTENCY_LEASE: _ClassVar[Consistency]
    CONSISTENCY_SEQUENTIAL: _ClassVar[Consistency]
    CONSISTENCY_STALE: _ClassVar[Consistency]

class OpType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OP_TYPE_UNSPECIFIED: _ClassVar[OpType]
    OP_TYPE_GET: _ClassVar[OpType]
    OP_TYPE_PUT: _ClassVar[OpType]
    OP_TYPE_DELETE: _ClassVar[OpType]
    OP_TYPE_CAS: _ClassVar[OpType]
CONSISTENCY_UNSPECIFIED: Consistency
CONSISTENCY_LINEARIZABLE: Consistency
CONSISTENCY_LEASE: Consistency
CONSISTENCY_SEQUENTIAL: Consistency
CONSISTENCY_STALE: Consistency
OP_TYPE_UNSPECIFIED: OpType
OP_TYPE_GET: OpType
OP_TYPE_PUT: OpType
OP_TYPE_DELETE: OpType
OP_TYPE_CAS: OpType

class RequestHeader(_message.Message):
    __slots__ = ("cluster_id", "shard_id", "epoch", "consistency", "min_applied_index", "client_id", "ack_seq")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    MIN_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACK_SEQ_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    shard_id: int
    epoch: int
    consistency: Consistency
    min_applied_index: int
    client_id: bytes
    ack_seq: int
    def __init__(self, cluster_id: _Optional[str] = ..., shard_id: _Optional[int] = ..., epoch: _Optional[int] = ..., consistency: _Optional[_Union[Consistency, str]] = ..., min_applied_index: _Optional[int] = ..., client_id: _Optional[bytes] = ..., ack_seq: _Optional[int] = ...) -> None: ...

class ResponseHeader(_message.Message):
    __slots__ = ("node_id", "leader_id", "applied_index", "commit_index", "epoch")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    leader_id: int
    applied_index: int
    commit_index: int
    epoch: int
    def __init__(self, node_id: _Optional[int] = ..., leader_id: _Optional[int] = ..., applied_index: _Optional[int] = ..., commit_index: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "type", "message", "leader_id", "leader_addr", "shard", "epoch")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDR_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    code: int
    type: str
    message: str
    leader_id: int
    leader_addr: str
    shard: int
    epoch: int
    def __init__(self, code: _Optional[int] = ..., type: _Optional[str] = ..., message: _Optional[str] = ..., leader_id: _Optional[int] = ..., leader_addr: _Optional[str] = ..., shard: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class Op(_message.Message):
    __slots__ = ("type", "key", "value", "expected", "expect_absent", "seq")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    EXPECT_ABSENT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    type: OpType
    key: bytes
    value: bytes
    expected: bytes
    expect_absent: bool
    seq: int
    def __init__(self, type: _Optional[_Union[OpType, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., expected: _Optional[bytes] = ..., expect_absent: _Optional[bool] = ..., seq: _Optional[int] = ...) -> None: ...

class OpResult(_message.Message):
    __slots__ = ("error", "found", "value", "cas_succeeded")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CAS_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    error: Error
    found: bool
    value: bytes
    cas_succeeded: bool
    def __init__(self, error: _Optional[_Union[Error, _Mapping]] = ..., found: _Optional[bool] = ..., value: _Optional[bytes] = ..., cas_succeeded: _Optional[bool] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("header", "ops")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    ops: _containers.RepeatedCompositeFieldContainer[Op]
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., ops: _Optional[_Iterable[_Union[Op, _Mapping]]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("header", "results", "error")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    results: _containers.RepeatedCompositeFieldContainer[OpResult]
    error: Error
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., results: _Optional[_Iterable[_Union[OpResult, _Mapping]]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class MultiBatchRequest(_message.Message):
    __slots__ = ("batches", "request_id")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[BatchRequest]
    request_id: int
    def __init__(self, batches: _Optional[_Iterable[_Union[BatchRequest, _Mapping]]] = ..., request_id: _Optional[int] = ...) -> None: ...

class MultiBatchResponse(_message.Message):
    __slots__ = ("responses", "request_id", "error")
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[BatchResponse]
    request_id: int
    error: Error
    def __init__(self, responses: _Optional[_Iterable[_Union[BatchResponse, _Mapping]]] = ..., request_id: _Optional[int] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("header", "key")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    key: bytes
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., key: _Optional[bytes] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("header", "found", "value")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    found: bool
    value: bytes
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., found: _Optional[bool] = ..., value: _Optional[bytes] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("header", "key", "value", "seq")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    key: bytes
    value: bytes
    seq: int
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., seq: _Optional[int] = ...) -> None: ...

class PutResponse(_message.Message):
    __slots__ = ("header",)
    HEADER_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("header", "key", "seq")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    key: bytes
    seq: int
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., key: _Optional[bytes] = ..., seq: _Optional[int] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("header", "found")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    found: bool
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., found: _Optional[bool] = ...) -> None: ...

class CompareAndSwapRequest(_message.Message):
    __slots__ = ("header", "key", "expected", "expect_absent", "value", "seq")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    EXPECT_ABSENT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    key: bytes
    expected: bytes
    expect_absent: bool
    value: bytes
    seq: int
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., key: _Optional[bytes] = ..., expected: _Optional[bytes] = ..., expect_absent: _Optional[bool] = ..., value: _Optional[bytes] = ..., seq: _Optional[int] = ...) -> None: ...

class CompareAndSwapResponse(_message.Message):
    __slots__ = ("header", "succeeded", "found", "current")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    succeeded: bool
    found: bool
    current: bytes
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., succeeded: _Optional[bool] = ..., found: _Optional[bool] = ..., current: _Optional[bytes] = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("header", "start_key", "end_key", "limit", "keys_only")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    START_KEY_FIELD_NUMBER: _ClassVar[int]
    END_KEY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    KEYS_ONLY_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    start_key: bytes
    end_key: bytes
    limit: int
    keys_only: bool
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., start_key: _Optional[bytes] = ..., end_key: _Optional[bytes] = ..., limit: _Optional[int] = ..., keys_only: _Optional[bool] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ("header", "items", "more", "next_start_key")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    NEXT_START_KEY_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    items: _containers.RepeatedCompositeFieldContainer[KeyValue]
    more: bool
    next_start_key: bytes
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., items: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., more: _Optional[bool] = ..., next_start_key: _Optional[bytes] = ...) -> None: ...

class LinkInfoRequest(_message.Message):
    __slots__ = ("cluster_id",)
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    def __init__(self, cluster_id: _Optional[str] = ...) -> None: ...

class LinkInfoResponse(_message.Message):
    __slots__ = ("node_id", "tcp_port")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TCP_PORT_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    tcp_port: int
    def __init__(self, node_id: _Optional[int] = ..., tcp_port: _Optional[int] = ...) -> None: ...
