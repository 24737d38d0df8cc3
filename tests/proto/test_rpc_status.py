"""kvstore.errors <-> gRPC status through a REAL grpc.aio server on 127.0.0.1.

The handler raises the error named by the request; the client turns the
failed call back into an exception with `from_rpc_error` and we compare class,
message and fields. Also covered: statuses made by gRPC itself (deadline,
unreachable server, unimplemented method), a sync client, and per-op errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from kvstore import errors
from kvstore.proto import kv_pb2, kv_pb2_grpc
from kvstore.rpc_status import (
    INTERNAL_MESSAGE,
    MD_ERROR,
    abort_with,
    error_from_proto,
    error_to_proto,
    from_rpc_error,
    map_errors,
    to_status,
)
from tests.partial_servicer import unimplemented


class MyUnavailable(errors.Unavailable):
    """A subclass outside kvstore.errors: travels as its nearest known ancestor."""


CASES: dict[str, Callable[[], BaseException]] = {
    "invalid": lambda: errors.InvalidArgument("key too long"),
    "config": lambda: errors.ConfigError("bad flag"),
    "notfound": lambda: errors.NotFound("no such shard"),
    "notleader": lambda: errors.NotLeader("ask 2", shard=3, leader_hint=2,
                                          leader_addr="127.0.0.1:7002"),
    "notleader-default": lambda: errors.NotLeader(),
    "wrongshard": lambda: errors.WrongShard("moved", epoch=9),
    "wrongcluster": lambda: errors.WrongCluster("cluster b"),
    "unavailable": lambda: errors.Unavailable("no quorum"),
    "timeout": lambda: errors.Timeout("apply too slow"),
    "circuit": lambda: errors.CircuitOpen("node 3 open"),
    "overloaded": lambda: errors.Overloaded("queue full"),
    "check": lambda: errors.CheckError("bad history"),
    "internal": lambda: errors.InternalError("boom"),
    "base": lambda: errors.KVError("generic"),
    "unicode": lambda: errors.InvalidArgument("clé ✓ with\nnewline"),
}


def _fields(e: BaseException) -> dict[str, Any]:
    keys = ("message", "details", "shard", "leader_hint", "leader_addr", "epoch")
    return {"type": type(e)} | {k: getattr(e, k) for k in keys if hasattr(e, k)}


class Servicer(unimplemented(kv_pb2.DESCRIPTOR, "KV")):  # type: ignore[misc]
    @map_errors
    async def Get(self, request: kv_pb2.GetRequest, context: Any) -> kv_pb2.GetResponse:
        name = request.key.decode()
        if name in CASES:
            raise CASES[name]()
        if name == "subclass":
            raise MyUnavailable("draining")
        if name == "runtime":
            raise RuntimeError("secret /etc/passwd detail")
        if name == "builtin-timeout":
            raise TimeoutError
        if name == "sleep":
            await asyncio.sleep(5)
        if name == "bare-abort":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "proxy says no")
        if name == "lying-metadata":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "odd",
                                trailing_metadata=((MD_ERROR, "NotLeader"),))
        return kv_pb2.GetResponse(found=True, value=request.key)

    async def Put(self, request: kv_pb2.PutRequest, context: Any) -> kv_pb2.PutResponse:
        # The plain helper, without the decorator.
        await abort_with(context, errors.WrongShard("put moved", epoch=4))


@pytest.fixture
async def stub() -> AsyncIterator[tuple[kv_pb2_grpc.KVStub, int]]:
    server = grpc.aio.server()
    kv_pb2_grpc.add_KVServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield kv_pb2_grpc.KVStub(channel), port
    finally:
        await server.stop(None)


async def _call_error(stub: kv_pb2_grpc.KVStub, key: str, timeout: float = 5) -> errors.KVError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Get(kv_pb2.GetRequest(key=key.encode()), timeout=timeout)
    return from_rpc_error(info.value)


async def test_the_handler_answers_normally_without_an_error(stub: Any) -> None:
    resp = await stub[0].Get(kv_pb2.GetRequest(key=b"fine"))
    assert resp.found and resp.value == b"fine"


@pytest.mark.parametrize("name", sorted(CASES))
async def test_each_error_crosses_the_wire_intact(stub: Any, name: str) -> None:
    sent = CASES[name]()
    got = await _call_error(stub[0], name)
    assert _fields(got) == _fields(sent)


async def test_not_leader_carries_the_leader_hint_in_trailing_metadata(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub[0].Get(kv_pb2.GetRequest(key=b"notleader"))
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    md = dict(info.value.trailing_metadata())
    assert md["kvstore-error"] == "NotLeader"
    assert (md["kvstore-leader-id"], md["kvstore-leader-addr"], md["kvstore-shard"]) == (
        "2", "127.0.0.1:7002", "3")


async def test_abort_with_outside_the_decorator(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub[0].Put(kv_pb2.PutRequest(key=b"k"))
    got = from_rpc_error(info.value)
    assert isinstance(got, errors.WrongShard) and (got.epoch, got.message) == (4, "put moved")


async def test_a_subclass_outside_the_tree_arrives_as_its_known_ancestor(stub: Any) -> None:
    got = await _call_error(stub[0], "subclass")
    assert type(got) is errors.Unavailable and got.message == "draining"


async def test_unknown_exceptions_become_internal_without_leaking_details(stub: Any) -> None:
    got = await _call_error(stub[0], "runtime")
    assert type(got) is errors.InternalError and got.message == INTERNAL_MESSAGE


async def test_builtin_timeout_error_becomes_timeout(stub: Any) -> None:
    assert type(await _call_error(stub[0], "builtin-timeout")) is errors.Timeout


async def test_statuses_made_by_grpc_itself_map_by_code(stub: Any) -> None:
    assert type(await _call_error(stub[0], "sleep", timeout=0.05)) is errors.Timeout
    bare = await _call_error(stub[0], "bare-abort")
    assert type(bare) is errors.Unavailable and bare.message == "proxy says no"
    # A class name that contradicts the code is not trusted.
    assert type(await _call_error(stub[0], "lying-metadata")) is errors.InvalidArgument


async def test_unimplemented_method_is_an_internal_error_naming_the_code(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub[0].Scan(kv_pb2.ScanRequest())
    got = from_rpc_error(info.value)
    assert type(got) is errors.InternalError and got.message.startswith("UNIMPLEMENTED")


async def test_unreachable_server_is_unavailable() -> None:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await server.stop(None)  # the port is now closed
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await kv_pb2_grpc.KVStub(channel).Get(kv_pb2.GetRequest(key=b"k"), timeout=5)
    assert type(from_rpc_error(info.value)) is errors.Unavailable


async def test_sync_client_errors_map_the_same_way(stub: Any) -> None:
    def call() -> errors.KVError:
        with grpc.insecure_channel(f"127.0.0.1:{stub[1]}") as channel:
            try:
                kv_pb2_grpc.KVStub(channel).Get(kv_pb2.GetRequest(key=b"notleader"), timeout=5)
            except grpc.RpcError as e:
                return from_rpc_error(e)
        raise AssertionError("the call succeeded")

    got = await asyncio.to_thread(call)
    assert _fields(got) == _fields(CASES["notleader"]())


def test_a_bare_rpc_error_is_internal() -> None:
    assert type(from_rpc_error(grpc.RpcError())) is errors.InternalError


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_op_errors_round_trip_through_bytes(name: str) -> None:
    sent = CASES[name]()
    wire = kv_pb2.Error.FromString(error_to_proto(sent).SerializeToString())
    assert wire.code == to_status(sent)[0].value[0]
    assert _fields(error_from_proto(wire)) == _fields(sent)


def test_per_op_error_with_unknown_code_and_type_is_internal() -> None:
    got = error_from_proto(kv_pb2.Error(code=999, type="Nope", message="m"))
    assert type(got) is errors.InternalError and "m" in got.message
