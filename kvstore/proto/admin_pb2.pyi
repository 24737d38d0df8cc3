from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaftRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RAFT_ROLE_UNSPECIFIED: _ClassVar[RaftRole]
    RAFT_ROLE_FOLLOWER: _ClassVar[RaftRole]
    RAFT_ROLE_PRE_CANDIDATE: _ClassVar[RaftRole]
    RAFT_ROLE_CANDIDATE: _ClassVar[RaftRole]
    RAFT_ROLE_LEADER: _ClassVar[RaftRole]

class MembershipAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBERSHIP_ACTION_UNSPECIFIED: _ClassVar[MembershipAction]
    MEMBERSHIP_ACTION_ADD_LEARNER: _ClassVar[MembershipAction]
    MEMBERSHIP_ACTION_PROMOTE: _ClassVar[MembershipAction]
    MEMBERSHIP_ACTION_REMOVE: _ClassVar[MembershipAction]
RAFT_ROLE_UNSPECIFIED: RaftRole
RAFT_ROLE_FOLLOWER: RaftRole
RAFT_ROLE_PRE_CANDIDATE: RaftRole
RAFT_ROLE_CANDIDATE: RaftRole
RAFT_ROLE_LEADER: RaftRole
MEMBERSHIP_ACTION_UNSPECIFIED: MembershipAction
MEMBERSHIP_ACTION_ADD_LEARNER: MembershipAction
MEMBERSHIP_ACTION_PROMOTE: MembershipAction
MEMBERSHIP_ACTION_REMOVE: MembershipAction

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GroupStatus(_message.Message):
    __slots__ = ("group_id", "role", "term", "leader_id", "commit_index", "applied_index", "last_index", "snapshot_index", "voters", "learners", "target_voters", "target_learners", "quiesced")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    LEARNERS_FIELD_NUMBER: _ClassVar[int]
    TARGET_VOTERS_FIELD_NUMBER: _ClassVar[int]
    TARGET_LEARNERS_FIELD_NUMBER: _ClassVar[int]
    QUIESCED_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    role: RaftRole
    term: int
    leader_id: int
    commit_index: int
    applied_index: int
    last_index: int
    snapshot_index: int
    voters: _containers.RepeatedScalarFieldContainer[int]
    learners: _containers.RepeatedScalarFieldContainer[int]
    target_voters: _containers.RepeatedScalarFieldContainer[int]
    target_learners: _containers.RepeatedScalarFieldContainer[int]
    quiesced: bool
    def __init__(self, group_id: _Optional[int] = ..., role: _Optional[_Union[RaftRole, str]] = ..., term: _Optional[int] = ..., leader_id: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., last_index: _Optional[int] = ..., snapshot_index: _Optional[int] = ..., voters: _Optional[_Iterable[int]] = ..., learners: _Optional[_Iterable[int]] = ..., target_voters: _Optional[_Iterable[int]] = ..., target_learners: _Optional[_Iterable[int]] = ..., quiesced: _Optional[bool] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("node_id", "address", "cluster_id", "groups", "epoch", "removed_nodes", "leader_policy", "leader_node")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REMOVED_NODES_FIELD_NUMBER: _ClassVar[int]
    LEADER_POLICY_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    address: str
    cluster_id: str
    groups: _containers.RepeatedCompositeFieldContainer[GroupStatus]
    epoch: int
    removed_nodes: _containers.RepeatedScalarFieldContainer[int]
    leader_policy: str
    leader_node: int
    def __init__(self, node_id: _Optional[int] = ..., address: _Optional[str] = ..., cluster_id: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[GroupStatus, _Mapping]]] = ..., epoch: _Optional[int] = ..., removed_nodes: _Optional[_Iterable[int]] = ..., leader_policy: _Optional[str] = ..., leader_node: _Optional[int] = ...) -> None: ...

class ClusterInfoRequest(_message.Message):
    __slots__ = ("cluster_id",)
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    def __init__(self, cluster_id: _Optional[str] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("id", "address")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    id: int
    address: str
    def __init__(self, id: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class ShardInfo(_message.Message):
    __slots__ = ("id", "replicas", "leader_hint")
    ID_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    LEADER_HINT_FIELD_NUMBER: _ClassVar[int]
    id: int
    replicas: _containers.RepeatedScalarFieldContainer[int]
    leader_hint: int
    def __init__(self, id: _Optional[int] = ..., replicas: _Optional[_Iterable[int]] = ..., leader_hint: _Optional[int] = ...) -> None: ...

class ClusterInfo(_message.Message):
    __slots__ = ("cluster_id", "epoch", "shard_count", "vnodes", "hash_version", "nodes", "shards")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    VNODES_FIELD_NUMBER: _ClassVar[int]
    HASH_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    epoch: int
    shard_count: int
    vnodes: int
    hash_version: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    shards: _containers.RepeatedCompositeFieldContainer[ShardInfo]
    def __init__(self, cluster_id: _Optional[str] = ..., epoch: _Optional[int] = ..., shard_count: _Optional[int] = ..., vnodes: _Optional[int] = ..., hash_version: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., shards: _Optional[_Iterable[_Union[ShardInfo, _Mapping]]] = ...) -> None: ...

class TransferLeaderRequest(_message.Message):
    __slots__ = ("cluster_id", "shard_id", "to_node")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    shard_id: int
    to_node: int
    def __init__(self, cluster_id: _Optional[str] = ..., shard_id: _Optional[int] = ..., to_node: _Optional[int] = ...) -> None: ...

class TransferLeaderResponse(_message.Message):
    __slots__ = ("leader_id", "term")
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    leader_id: int
    term: int
    def __init__(self, leader_id: _Optional[int] = ..., term: _Optional[int] = ...) -> None: ...

class ChangeMembershipRequest(_message.Message):
    __slots__ = ("cluster_id", "shard_id", "action", "node_id")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    shard_id: int
    action: MembershipAction
    node_id: int
    def __init__(self, cluster_id: _Optional[str] = ..., shard_id: _Optional[int] = ..., action: _Optional[_Union[MembershipAction, str]] = ..., node_id: _Optional[int] = ...) -> None: ...

class ChangeMembershipResponse(_message.Message):
    __slots__ = ("index", "voters", "learners")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    LEARNERS_FIELD_NUMBER: _ClassVar[int]
    index: int
    voters: _containers.RepeatedScalarFieldContainer[int]
    learners: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, index: _Optional[int] = ..., voters: _Optional[_Iterable[int]] = ..., learners: _Optional[_Iterable[int]] = ...) -> None: ...

class SetClockRateRequest(_message.Message):
    __slots__ = ("cluster_id", "rate")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    rate: float
    def __init__(self, cluster_id: _Optional[str] = ..., rate: _Optional[float] = ...) -> None: ...

class SetClockRateResponse(_message.Message):
    __slots__ = ("rate",)
    RATE_FIELD_NUMBER: _ClassVar[int]
    rate: float
    def __init__(self, rate: _Optional[float] = ...) -> None: ...

class AddNodeRequest(_message.Message):
    __slots__ = ("cluster_id", "node_id", "address")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    node_id: int
    address: str
    def __init__(self, cluster_id: _Optional[str] = ..., node_id: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("cluster_id", "node_id")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    node_id: int
    def __init__(self, cluster_id: _Optional[str] = ..., node_id: _Optional[int] = ...) -> None: ...

class SetLeaderPolicyRequest(_message.Message):
    __slots__ = ("cluster_id", "policy", "leader_node")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    policy: str
    leader_node: int
    def __init__(self, cluster_id: _Optional[str] = ..., policy: _Optional[str] = ..., leader_node: _Optional[int] = ...) -> None: ...

class SetLeaderPolicyResponse(_message.Message):
    __slots__ = ("epoch", "policy", "leader_node")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    policy: str
    leader_node: int
    def __init__(self, epoch: _Optional[int] = ..., policy: _Optional[str] = ..., leader_node: _Optional[int] = ...) -> None: ...

class NodeChangeResponse(_message.Message):
    __slots__ = ("epoch", "nodes", "removed_nodes")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_NODES_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    removed_nodes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, epoch: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., removed_nodes: _Optional[_Iterable[int]] = ...) -> None: ...
