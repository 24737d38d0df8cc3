from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RaftBatch(_message.Message):
    __slots__ = ("cluster_id", "from_node", "to_node", "payload")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    from_node: int
    to_node: int
    payload: bytes
    def __init__(self, cluster_id: _Optional[str] = ..., from_node: _Optional[int] = ..., to_node: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("cluster_id", "from_node", "to_node")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    from_node: int
    to_node: int
    def __init__(self, cluster_id: _Optional[str] = ..., from_node: _Optional[int] = ..., to_node: _Optional[int] = ...) -> None: ...

class HelloResponse(_message.Message):
    __slots__ = ("node_id", "tcp_port")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TCP_PORT_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    tcp_port: int
    def __init__(self, node_id: _Optional[int] = ..., tcp_port: _Optional[int] = ...) -> None: ...

class RaftStreamSummary(_message.Message):
    __slots__ = ("batches",)
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    batches: int
    def __init__(self, batches: _Optional[int] = ...) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("cluster_id", "from_node", "to_node", "group_id", "meta", "seq", "offset", "data", "crc32", "last", "digest")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    from_node: int
    to_node: int
    group_id: int
    meta: bytes
    seq: int
    offset: int
    data: bytes
    crc32: int
    last: bool
    digest: bytes
    def __init__(self, cluster_id: _Optional[str] = ..., from_node: _Optional[int] = ..., to_node: _Optional[int] = ..., group_id: _Optional[int] = ..., meta: _Optional[bytes] = ..., seq: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32: _Optional[int] = ..., last: _Optional[bool] = ..., digest: _Optional[bytes] = ...) -> None: ...

class InstallSnapshotResponse(_message.Message):
    __slots__ = ("group_id", "received_bytes")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    received_bytes: int
    def __init__(self, group_id: _Optional[int] = ..., received_bytes: _Optional[int] = ...) -> None: ...
