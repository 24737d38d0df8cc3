"""Raw TCP peer links (kvstore/transport/tcp.py) between real node processes.

Peers find each other's listener with Raft.Hello and send their Raft batches
over it; whatever a buggy or hostile client writes to that port closes only
its own connection, with a log line, and the node keeps serving.
"""

from __future__ import annotations

import socket
import struct
import time

import grpc
import msgpack
import pytest

from kvstore.client import SyncKVClient
from kvstore.cluster.local import LocalCluster
from kvstore.proto import raft_pb2, raft_pb2_grpc
from kvstore.raft import Message, MessageType
from kvstore.transport.tcp import MAGIC
from kvstore.transport.wire import encode_batch


def _hello(c: LocalCluster, nid: int, cluster_id: str = "local",
           frm: int = 0) -> raft_pb2.HelloResponse:
    frm = frm or (2 if nid == 1 else 1)
    with grpc.insecure_channel(c.nodes[nid].addr) as ch:
        return raft_pb2_grpc.RaftStub(ch).Hello(raft_pb2.HelloRequest(
            cluster_id=cluster_id, from_node=frm, to_node=nid), timeout=5)


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _closed_by_node(port: int, data: bytes) -> bool:
    """Send `data` on a fresh connection; True if the node then closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        try:
            return s.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            return False


def test_peers_link_over_tcp_and_replicate(cluster3: LocalCluster) -> None:
    ports = {nid: _hello(cluster3, nid).tcp_port for nid in cluster3.nodes}
    assert all(p > 0 for p in ports.values()) and len(set(ports.values())) == 3
    with SyncKVClient(cluster3.endpoints) as kv:
        for i in range(50):
            kv.put(b"tcp%d" % i, b"v%d" % i)
        assert [kv.get(b"tcp%d" % i) for i in range(50)] == [b"v%d" % i for i in range(50)]
    text = cluster3.nodes[1].log_path.read_text()
    assert "transport=tcp" in text and "transport=grpc" not in text


def test_hello_from_another_cluster_is_refused(cluster3: LocalCluster) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        _hello(cluster3, 1, cluster_id="other")
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as ei:
        _hello(cluster3, 1, frm=42)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_bad_frames_close_only_their_link_and_the_node_keeps_serving(
        cluster3: LocalCluster) -> None:
    port = _hello(cluster3, 1).tcp_port
    good_hello = _frame(msgpack.packb([MAGIC, "local", 2, 1]))
    cases = {
        "garbage hello": _frame(b"\xc1\xc1 not msgpack"),
        "wrong magic": _frame(msgpack.packb(["http/1.1", "local", 2, 1])),
        "other cluster": _frame(msgpack.packb([MAGIC, "other", 2, 1])),
        "not for this node": _frame(msgpack.packb([MAGIC, "local", 2, 3])),
        "unknown peer": _frame(msgpack.packb([MAGIC, "local", 42, 1])),
        "huge hello": struct.pack(">I", 1 << 20),
        "garbage batch": good_hello + _frame(b"\x93garbage"),
        "forged sender": good_hello + _frame(encode_batch(
            [(1, Message(MessageType.HEARTBEAT, to=1, frm=3, term=1))])),
        "huge batch": good_hello + struct.pack(">I", (64 << 20) + 1),
    }
    for name, data in cases.items():
        assert _closed_by_node(port, data), name
    # Node 1 still answers and its groups still replicate with the others.
    with SyncKVClient(cluster3.endpoints) as kv:
        kv.put(b"after", b"bad frames")
        assert kv.get(b"after") == b"bad frames"
    deadline = time.monotonic() + 5
    while cluster3.nodes[1].log_path.read_text().count("raft.tcp_rejected") < len(cases):
        assert time.monotonic() < deadline, "every rejection is logged"
        time.sleep(0.1)
