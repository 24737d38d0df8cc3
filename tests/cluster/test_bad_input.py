"""Bad input gets a clear gRPC status with a message; the node keeps serving.

Covers issue 3's list: oversized or empty keys, oversized values, garbage
bytes on the Raft stream, unknown shard ids and a wrong cluster id — each
sent over a raw gRPC channel, as a buggy or hostile client would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest

from kvstore.client import KVClient
from kvstore.cluster.admin import call_meta_leader
from kvstore.cluster.local import LocalCluster
from kvstore.cluster.probe import node_status
from kvstore.errors import InvalidArgument, KVError
from kvstore.proto import admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc, raft_pb2, raft_pb2_grpc
from kvstore.server.node import MAX_CONCURRENT_STREAMS


@pytest.fixture
def stub(cluster3: LocalCluster) -> Iterator[kv_pb2_grpc.KVStub]:
    with grpc.insecure_channel(cluster3.endpoints[0], options=[
            ("grpc.max_send_message_length", 8 << 20)]) as ch:
        yield kv_pb2_grpc.KVStub(ch)


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as ei:
        call()  # type: ignore[operator]
    return ei.value.code(), ei.value.details()  # type: ignore[attr-defined]


def test_oversized_and_empty_keys_and_values(stub: kv_pb2_grpc.KVStub) -> None:
    code, msg = _code(lambda: stub.Put(kv_pb2.PutRequest(key=b"k" * 4097, value=b"v"),
                                       timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "4097 bytes exceeds" in msg
    code, msg = _code(lambda: stub.Put(kv_pb2.PutRequest(key=b"", value=b"v"), timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "empty" in msg
    code, msg = _code(lambda: stub.Put(
        kv_pb2.PutRequest(key=b"big", value=b"x" * ((1 << 20) + 1)), timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "value of 1048577 bytes" in msg
    code, msg = _code(lambda: stub.Get(kv_pb2.GetRequest(key=b""), timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_batch_reports_bad_ops_individually(stub: kv_pb2_grpc.KVStub) -> None:
    good = kv_pb2.Op(type=kv_pb2.OP_TYPE_GET, key=b"")
    r = None
    for shard in range(1, 9):
        try:
            r = stub.Batch(kv_pb2.BatchRequest(header=kv_pb2.RequestHeader(shard_id=shard),
                                               ops=[good]), timeout=5)
            break
        except grpc.RpcError as exc:  # not the leader of that shard: try another
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert r is not None
    assert r.results[0].HasField("error")
    assert r.results[0].error.type == "InvalidArgument"


def test_unknown_shard_and_wrong_cluster(stub: kv_pb2_grpc.KVStub) -> None:
    code, msg = _code(lambda: stub.Batch(kv_pb2.BatchRequest(
        header=kv_pb2.RequestHeader(shard_id=999)), timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "unknown shard 999" in msg
    code, msg = _code(lambda: stub.Get(kv_pb2.GetRequest(
        key=b"k", header=kv_pb2.RequestHeader(cluster_id="other")), timeout=5))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "other" in msg


def _raft_stream(addr: str, batches: list[raft_pb2.RaftBatch]) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(addr) as ch:
        stub = raft_pb2_grpc.RaftStub(ch)
        with pytest.raises(grpc.RpcError) as ei:
            stub.Stream(iter(batches), timeout=5)
        return ei.value.code(), ei.value.details()  # type: ignore[attr-defined]


def test_garbage_and_wrong_cluster_on_the_raft_stream(cluster3: LocalCluster) -> None:
    addr = cluster3.nodes[1].addr
    code, msg = _raft_stream(addr, [raft_pb2.RaftBatch(
        cluster_id="local", from_node=2, to_node=1, payload=b"\xc1\xff garbage")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "malformed raft batch" in msg
    code, msg = _raft_stream(addr, [raft_pb2.RaftBatch(
        cluster_id="evil", from_node=2, to_node=1, payload=b"")])
    assert code == grpc.StatusCode.PERMISSION_DENIED and "evil" in msg
    code, msg = _raft_stream(addr, [raft_pb2.RaftBatch(
        cluster_id="local", from_node=9, to_node=1, payload=b"\x90")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "unknown node 9" in msg
    # A well-formed batch that impersonates another node inside the payload.
    from kvstore.raft import Message, MessageType, Snapshot, SnapshotMeta
    from kvstore.transport.wire import encode_batch

    inline = encode_batch([(1, Message(MessageType.SNAPSHOT, to=1, frm=2, term=99,
                                       snapshot=Snapshot(SnapshotMeta(index=50, term=99))))])
    code, msg = _raft_stream(addr, [raft_pb2.RaftBatch(
        cluster_id="local", from_node=2, to_node=1, payload=inline)])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "snapshots are not accepted" in msg
    forged = encode_batch([(1, Message(MessageType.HEARTBEAT, to=1, frm=3, term=99))])
    code, msg = _raft_stream(addr, [raft_pb2.RaftBatch(
        cluster_id="local", from_node=2, to_node=1, payload=forged)])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "on link 2->1" in msg

    async def still_serving() -> bytes | None:
        async with KVClient(cluster3.endpoints) as kv:
            await kv.put(b"after-garbage", b"ok")
            return await kv.get(b"after-garbage")

    assert asyncio.run(still_serving()) == b"ok"
    assert cluster3.alive(1)


def test_client_rejects_bad_arguments_with_kvstore_errors(cluster3: LocalCluster) -> None:
    async def scenario() -> None:
        async with KVClient(cluster3.endpoints) as kv:
            with pytest.raises(InvalidArgument, match="keys must be bytes"):
                await kv.put("text", b"v")  # type: ignore[arg-type]
            with pytest.raises(InvalidArgument, match="unknown consistency level"):
                await kv.get(b"k", consistency="eventual")
            with pytest.raises(InvalidArgument, match="exceeds the limit"):
                await kv.put(b"k" * 5000, b"v")

    asyncio.run(scenario())
    with pytest.raises(InvalidArgument, match="no endpoints"):
        KVClient([])


def test_fault_injection_is_refused_unless_enabled(cluster3: LocalCluster) -> None:
    from kvstore.cluster.admin import set_clock_rate

    with pytest.raises(grpc.RpcError) as ei:
        set_clock_rate(cluster3.endpoints[0], 2.0)
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "fault injection is disabled" in ei.value.details()  # type: ignore[attr-defined]


def test_bad_node_membership_requests_get_clear_statuses(cluster3: LocalCluster) -> None:
    eps = cluster3.endpoints

    def on_leader(req: object, method: str) -> tuple[grpc.StatusCode, str]:
        def call() -> object:
            return call_meta_leader(eps, lambda s: getattr(s, method)(req, timeout=5), 10)
        with pytest.raises(KVError) as ei:
            call()
        return grpc.StatusCode[ei.value.grpc_code], ei.value.message

    code, msg = on_leader(admin_pb2.AddNodeRequest(node_id=0, address="127.0.0.1:1"), "AddNode")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "positive node_id" in msg
    code, msg = on_leader(admin_pb2.AddNodeRequest(node_id=9, address="nohostport"), "AddNode")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "HOST:PORT" in msg
    code, msg = on_leader(admin_pb2.AddNodeRequest(node_id=2, address="127.0.0.1:1"),
                          "AddNode")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "already a member" in msg
    code, msg = on_leader(admin_pb2.RemoveNodeRequest(node_id=99), "RemoveNode")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not a member" in msg
    code, msg = on_leader(admin_pb2.AddNodeRequest(cluster_id="other", node_id=9,
                                                   address="127.0.0.1:1"), "AddNode")
    assert code == grpc.StatusCode.PERMISSION_DENIED and "cluster" in msg
    # A node that does not lead group 0 names the one that does.
    for ep in eps:
        with grpc.insecure_channel(ep) as ch:
            try:
                admin_pb2_grpc.AdminStub(ch).RemoveNode(
                    admin_pb2.RemoveNodeRequest(node_id=99), timeout=5)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    assert "metadata group" in exc.details()
    # Nothing changed: still epoch 1 with three active nodes.
    assert all((st := node_status(ep)) is not None and st.epoch == 1 and not st.removed_nodes
               for ep in eps)


async def test_one_connection_cannot_hold_more_streams_than_the_limit(
        cluster3: LocalCluster) -> None:
    """Past MAX_CONCURRENT_STREAMS open calls, the next one waits for a free stream."""
    async with grpc.aio.insecure_channel(cluster3.endpoints[0]) as ch:
        kv = kv_pb2_grpc.KVStub(ch)
        admin = admin_pb2_grpc.AdminStub(ch)
        streams = [kv.MultiBatchStream() for _ in range(MAX_CONCURRENT_STREAMS)]
        try:
            await asyncio.gather(*(s.wait_for_connection() for s in streams))
            with pytest.raises(grpc.aio.AioRpcError) as ei:
                await admin.Status(admin_pb2.StatusRequest(), timeout=1.5)
            assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await streams.pop().done_writing()  # the node ends that call: a stream frees
            st = await admin.Status(admin_pb2.StatusRequest(), timeout=5)
            assert st.node_id == 1
        finally:
            for s in streams:
                s.cancel()
    # Other connections were never limited by this one.
    assert node_status(cluster3.endpoints[0]) is not None


def test_garbage_and_wrong_cluster_on_the_raw_client_link(
        cluster3: LocalCluster, stub: kv_pb2_grpc.KVStub) -> None:
    import socket

    import msgpack

    from kvstore.framing import frame_bytes
    from kvstore.server.kv_tcp import MAGIC

    code, msg = _code(lambda: stub.LinkInfo(kv_pb2.LinkInfoRequest(cluster_id="evil"),
                                            timeout=5))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "evil" in msg
    port = stub.LinkInfo(kv_pb2.LinkInfoRequest(cluster_id="local"), timeout=5).tcp_port
    assert port > 0
    hello = frame_bytes(msgpack.packb([MAGIC, "local"]))
    for data in [b"\x00\x00\x00\x05hello", b"\xff" * 64,
                 frame_bytes(msgpack.packb([MAGIC, "evil"])),
                 hello + frame_bytes(b"\xff\xfe not protobuf"), hello + b"\x7f\xff\xff\xff"]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(data)
            sock.settimeout(5)
            got = b""
            while chunk := sock.recv(4096):  # the node closes the link: recv returns b""
                got += chunk
            # At most the node's own hello (it is node 1) came back before it closed.
            assert got in (b"", frame_bytes(msgpack.packb([MAGIC, 1])))
    assert cluster3.alive(1)

    async def still_serving() -> bytes | None:
        async with KVClient(cluster3.endpoints) as kv:
            await kv.put(b"after-link-garbage", b"ok")
            assert all(link is not None for link in kv._links.values())
            return await kv.get(b"after-link-garbage")

    assert asyncio.run(still_serving()) == b"ok"
