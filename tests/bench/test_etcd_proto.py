"""The etcd v3 subset: generated code is current, and field numbers match etcd's wire form."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kvstore.bench.etcd import etcd_rpc_pb2 as pb

ETCD_DIR = Path(__file__).resolve().parents[2] / "kvstore" / "bench" / "etcd"
GENERATED = ("etcd_rpc_pb2.py", "etcd_rpc_pb2.pyi", "etcd_rpc_pb2_grpc.py")


def test_checked_in_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    proc = subprocess.run([str(ETCD_DIR / "gen-proto"), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(GENERATED)
    stale = [n for n in GENERATED if (tmp_path / n).read_bytes() != (ETCD_DIR / n).read_bytes()]
    assert not stale, f"run kvstore/bench/etcd/gen-proto: {stale} are out of date"


def _numbers(message: str) -> dict[str, int]:
    return {f.name: f.number for f in pb.DESCRIPTOR.message_types_by_name[message].fields}


def test_service_paths_and_field_numbers_are_etcds() -> None:
    # gRPC routes by "/etcdserverpb.KV/Put": the package and service names must be etcd's.
    assert pb.DESCRIPTOR.package == "etcdserverpb"
    assert [m.full_name for m in pb.DESCRIPTOR.services_by_name["KV"].methods] == [
        "etcdserverpb.KV.Range", "etcdserverpb.KV.Put"]
    assert _numbers("PutRequest") == {"key": 1, "value": 2, "lease": 3, "prev_kv": 4}
    assert _numbers("RangeRequest") == {"key": 1, "range_end": 2, "limit": 3, "revision": 4,
                                        "serializable": 7}
    assert _numbers("RangeResponse") == {"header": 1, "kvs": 2, "more": 3, "count": 4}
    assert _numbers("KeyValue") == {"key": 1, "create_revision": 2, "mod_revision": 3,
                                    "version": 4, "value": 5, "lease": 6}
    assert _numbers("StatusResponse")["leader"] == 4


def test_a_range_response_decodes_from_hand_encoded_wire_bytes() -> None:
    # RangeResponse{kvs: [KeyValue{key: "k", value: "v"}], count: 1}, encoded by hand
    # from the proto3 wire rules, so this checks our numbers against the format itself.
    kv = b"\x0a\x01k" + b"\x2a\x01v"
    wire = b"\x12" + bytes([len(kv)]) + kv + b"\x20\x01"
    resp = pb.RangeResponse.FromString(wire)
    assert resp.count == 1 and resp.kvs[0].key == b"k" and resp.kvs[0].value == b"v"
