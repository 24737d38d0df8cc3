"""kvstore/proto/ is exactly what scripts/gen-proto produces from proto/.

A fresh generation into a temp dir must be byte-identical to the checked-in
modules (same file set too), so editing a .proto without regenerating, or
hand-editing generated code, fails CI. The generated modules must also import
as package-relative modules without warnings and name the expected services.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from kvstore.proto import admin_pb2, admin_pb2_grpc, kv_pb2, kv_pb2_grpc, raft_pb2, raft_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "kvstore" / "proto"


def _tree(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_checked_in_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    proc = subprocess.run(
        [str(ROOT / "scripts" / "gen-proto"), str(out)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    fresh, current = _tree(out), _tree(CHECKED_IN)
    assert sorted(fresh) == sorted(current), "run scripts/gen-proto: the file set differs"
    stale = [name for name in fresh if fresh[name] != current[name]]
    assert not stale, f"run scripts/gen-proto: {stale} are out of date"


def test_generated_modules_are_package_relative() -> None:
    for mod in (kv_pb2, raft_pb2, admin_pb2):
        assert mod.__name__.startswith("kvstore.proto.")
    for name, data in _tree(CHECKED_IN).items():
        assert b"from kvstore.v1 " not in data, name
        assert not re.search(rb"'kvstore\.v1\.\w+_pb2'", data), name
    assert kv_pb2.BatchRequest.__module__ == "kvstore.proto.kv_pb2"
    assert kv_pb2.DESCRIPTOR.package == admin_pb2.DESCRIPTOR.package == "kvstore.v1"


def _methods(module: object, service: str) -> dict[str, tuple[bool, bool]]:
    desc = module.DESCRIPTOR.services_by_name[service]  # type: ignore[attr-defined]
    return {m.name: (m.client_streaming, m.server_streaming) for m in desc.methods}


def test_services_have_the_designed_methods() -> None:
    unary = (False, False)
    assert _methods(kv_pb2, "KV") == {**dict.fromkeys(
        ["Get", "Put", "Delete", "CompareAndSwap", "Batch", "MultiBatch", "Scan", "LinkInfo"],
        unary
    ), "MultiBatchStream": (True, True)}
    assert _methods(raft_pb2, "Raft") == {"Stream": (True, False), "Hello": (False, False),
                                          "InstallSnapshot": (True, False)}
    assert _methods(admin_pb2, "Admin") == dict.fromkeys(
        ["Status", "ClusterInfo", "TransferLeader", "ChangeMembership", "SetClockRate",
         "AddNode", "RemoveNode", "SetLeaderPolicy"], unary
    )
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        for grpc_mod, service, pb in ((kv_pb2_grpc, "KV", kv_pb2),
                                      (raft_pb2_grpc, "Raft", raft_pb2),
                                      (admin_pb2_grpc, "Admin", admin_pb2)):
            stub = getattr(grpc_mod, f"{service}Stub")(channel)
            assert all(callable(getattr(stub, m)) for m in _methods(pb, service))


def test_batch_round_trips_through_the_wire_form() -> None:
    req = kv_pb2.BatchRequest(
        header=kv_pb2.RequestHeader(
            cluster_id="c1", shard_id=3, epoch=7, consistency=kv_pb2.CONSISTENCY_SEQUENTIAL,
            min_applied_index=41, client_id=b"\x01\x02", ack_seq=9,
        ),
        ops=[
            kv_pb2.Op(type=kv_pb2.OP_TYPE_PUT, key=b"k", value=b"v", seq=10),
            kv_pb2.Op(type=kv_pb2.OP_TYPE_CAS, key=b"k", expect_absent=True, value=b"w", seq=11),
        ],
    )
    back = kv_pb2.BatchRequest.FromString(req.SerializeToString())
    assert back == req and back.ops[1].expect_absent and back.header.min_applied_index == 41
    res = kv_pb2.OpResult(error=kv_pb2.Error(code=3, type="InvalidArgument", message="bad"))
    assert res.HasField("error") and not kv_pb2.OpResult().HasField("error")


def test_no_servicer_base_classes_and_a_missing_method_fails_registration() -> None:
    """scripts/strip-servicers.py drops the UNIMPLEMENTED defaults: a service that
    lacks a method cannot be registered (a start-up error, not a run-time one)."""
    for mod, service in ((kv_pb2_grpc, "KV"), (raft_pb2_grpc, "Raft"),
                         (admin_pb2_grpc, "Admin")):
        assert not hasattr(mod, f"{service}Servicer")

    class OnlyGet:
        async def Get(self, request: object, context: object) -> None: ...

    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    try:
        with pytest.raises(AttributeError, match="Put"):
            kv_pb2_grpc.add_KVServicer_to_server(OnlyGet(), server)
    finally:
        server.stop(None)
