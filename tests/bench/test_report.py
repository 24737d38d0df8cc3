"""Report assembly: medians over repeats, the kvstore/etcd comparison and the top-level ratio."""

from __future__ import annotations

import math
from array import array
from typing import Any

from kvstore.bench.config import BenchConfig, Case
from kvstore.bench.report import build_report, case_result


def raw(ops: int, latency_ms: float, cpu: float | None = 1.0, rpcs: int = 0) -> dict[str, Any]:
    return {"read_ns": array("q"), "write_ns": array("q", [int(latency_ms * 1e6)] * ops),
            "errors": 0, "error_samples": [], "misses": 0, "rpcs": rpcs, "rpc_ops": ops,
            "server_cpu_s": cpu, "client_cpu_s": 0.5}


def test_case_result_figures_come_from_the_measurements() -> None:
    cfg = BenchConfig(duration_s=2.0)
    r = case_result("kvstore", Case("put", None, 64), cfg, raw(1000, 3.0, cpu=0.8, rpcs=100), 0)
    assert r["ops"] == 1000 and r["ops_per_s"] == 500.0
    assert r["latency"]["p50_ms"] == 3.0 and r["latency"]["p999_ms"] == 3.0
    assert r["server_cpu_s_per_1k_ops"] == 0.8 and r["client_cpu_s_per_1k_ops"] == 0.5
    assert r["ops_per_rpc"] == 10.0
    unknown = case_result("kvstore", Case("put", None, 64), cfg, raw(0, 1.0, cpu=None), 0)
    assert unknown["server_cpu_s_per_1k_ops"] is None and unknown["ops_per_rpc"] is None
    assert unknown["latency"]["p99_ms"] is None


def test_mixed_reports_reads_and_writes_apart() -> None:
    cfg = BenchConfig(duration_s=1.0)
    data = raw(10, 2.0)
    data["read_ns"] = array("q", [int(1e6)] * 30)
    r = case_result("etcd", Case("mixed", "stale", 8), cfg, data, 0)
    assert r["ops"] == 40 and r["read_latency"]["count"] == 30
    assert r["write_latency"]["p50_ms"] == 2.0 and r["etcd_read"] == "serializable"


def test_medians_comparison_and_geometric_mean_ratio() -> None:
    cfg = BenchConfig(duration_s=1.0, repeat=3)
    put, get = Case("put", None, 64), Case("get", "linearizable", 64)
    runs = []
    for rep, (kv_put, etcd_put) in enumerate([(900, 300), (1200, 400), (600, 500)]):
        runs.append(case_result("kvstore", put, cfg, raw(kv_put, 1.0), rep))
        runs.append(case_result("etcd", put, cfg, raw(etcd_put, 2.0), rep))
    runs.append(case_result("kvstore", get, cfg, raw(800, 1.0), 0))
    runs.append(case_result("etcd", get, cfg, raw(200, 4.0), 0))
    report = build_report(cfg, runs, {"kvstore": {}, "etcd": {}})
    summary = {(s["system"], s["workload"]): s for s in report["summary"]}
    assert summary[("kvstore", "put")]["ops_per_s"] == 900.0  # median of 900, 1200, 600
    assert summary[("kvstore", "put")]["ops_per_s_runs"] == [900.0, 1200.0, 600.0]
    assert summary[("etcd", "put")]["ops_per_s"] == 400.0 and summary[("etcd", "put")]["repeats"] == 3
    rows = {c["workload"]: c for c in report["comparison"]}
    assert rows["put"]["ratio"] == 2.25 and rows["get"]["ratio"] == 4.0
    assert rows["get"]["etcd_p50_ms"] == 4.0 and rows["get"]["kvstore_p50_ms"] == 1.0
    assert math.isclose(report["ratio"], math.sqrt(2.25 * 4.0), rel_tol=1e-3)
    assert report["ratio_min"] == 2.25


def test_no_etcd_means_no_ratio() -> None:
    cfg = BenchConfig(duration_s=1.0)
    runs = [case_result("kvstore", Case("put", None, 4), cfg, raw(10, 1.0), 0)]
    report = build_report(cfg, runs, {"kvstore": {}}, etcd_skipped="not installed")
    assert report["comparison"] == [] and report["ratio"] is None
    assert report["etcd_skipped"] == "not installed"
