"""Benchmark results as plain data (what `--json FILE` writes and the CLI renders).

- `case_result` turns one case's raw measurements into figures: ops/s over the
  measured window, latency percentiles (all ops; reads and writes separately),
  errors, misses, server and client CPU seconds per 1k ops, ops per RPC.
- `build_report` groups the runs by (system, case), takes the median of every
  figure over repetitions, and when etcd ran, adds one comparison row per case
  and the top-level `ratio`: the geometric mean of kvstore/etcd throughput over
  the cases (equal to the one ratio when there is one case); `ratio_min` is
  the worst case. Both are None without an etcd run.
Invariant: every number here comes from a measurement; a figure that could
not be measured (unknown server pids, no successful op) is None, never 0.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from typing import Any

from kvstore.bench.config import ETCD_READ_MODE, BenchConfig, Case
from kvstore.bench.stats import median_or_none, summarize

SCHEMA = "kvstore-bench/1"
_MEDIAN_FIELDS = ("ops_per_s", "server_cpu_s_per_1k_ops", "client_cpu_s_per_1k_ops",
                  "ops_per_rpc")
_LATENCY_FIELDS = ("mean_ms", "p50_ms", "p99_ms", "p999_ms", "max_ms")


def _per_1k(cpu_s: float | None, ops: int) -> float | None:
    return None if cpu_s is None or ops == 0 else round(cpu_s * 1000 / ops, 4)


def case_result(system: str, case: Case, cfg: BenchConfig, raw: dict[str, Any],
                rep: int) -> dict[str, Any]:
    reads, writes = raw["read_ns"], raw["write_ns"]
    ops = len(reads) + len(writes)
    out: dict[str, Any] = {
        "system": system, "workload": case.workload, "consistency": case.consistency,
        "concurrency": case.concurrency, "label": case.label, "repeat": rep,
        "processes": cfg.processes, "duration_s": cfg.duration_s, "ops": ops,
        "ops_per_s": round(ops / cfg.duration_s, 1),
        "latency": summarize(list(reads) + list(writes)),
        "errors": raw["errors"], "error_samples": raw["error_samples"],
        "misses": raw["misses"],
        "server_cpu_s": raw["server_cpu_s"],
        "server_cpu_s_per_1k_ops": _per_1k(raw["server_cpu_s"], ops),
        "client_cpu_s": raw["client_cpu_s"],
        "client_cpu_s_per_1k_ops": _per_1k(raw["client_cpu_s"], ops),
        "ops_per_rpc": round(raw["rpc_ops"] / raw["rpcs"], 2) if raw["rpcs"] else None,
    }
    if case.workload == "mixed":
        out["read_latency"] = summarize(reads)
        out["write_latency"] = summarize(writes)
    if system == "etcd" and case.consistency is not None:
        out["etcd_read"] = ETCD_READ_MODE[case.consistency]
    return out


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    out: dict[str, Any] = {k: first[k] for k in ("system", "workload", "consistency",
                                                 "concurrency", "label")}
    if "etcd_read" in first:
        out["etcd_read"] = first["etcd_read"]
    out["repeats"] = len(runs)
    for f in _MEDIAN_FIELDS:
        out[f] = median_or_none(r[f] for r in runs)
    out["ops_per_s_runs"] = [r["ops_per_s"] for r in runs]
    out["latency"] = {f: median_or_none(r["latency"][f] for r in runs)
                      for f in _LATENCY_FIELDS}
    for kind in ("read_latency", "write_latency"):
        if kind in first:
            out[kind] = {f: median_or_none(r[kind][f] for r in runs) for f in _LATENCY_FIELDS}
    out["ops"] = sum(r["ops"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    out["misses"] = sum(r["misses"] for r in runs)
    out["error_samples"] = [s for r in runs for s in r["error_samples"]][:5]
    return out


def _key(r: dict[str, Any]) -> tuple[str, str | None, int]:
    return (r["workload"], r["consistency"], r["concurrency"])


def _comparison(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(s["system"], *_key(s)): s for s in summary}
    rows = []
    for s in summary:
        if s["system"] != "kvstore" or ("etcd", *_key(s)) not in by:
            continue
        e = by[("etcd", *_key(s))]
        kv_ops, etcd_ops = s["ops_per_s"], e["ops_per_s"]
        rows.append({
            "workload": s["workload"], "consistency": s["consistency"],
            "concurrency": s["concurrency"], "label": s["label"],
            "etcd_read": e.get("etcd_read"),
            "kvstore_ops_per_s": kv_ops, "etcd_ops_per_s": etcd_ops,
            "ratio": round(kv_ops / etcd_ops, 3) if kv_ops and etcd_ops else None,
            **{f"{sys_}_{f}": src["latency"][f] for sys_, src in (("kvstore", s), ("etcd", e))
               for f in ("p50_ms", "p99_ms", "p999_ms")},
            "kvstore_server_cpu_s_per_1k_ops": s["server_cpu_s_per_1k_ops"],
            "etcd_server_cpu_s_per_1k_ops": e["server_cpu_s_per_1k_ops"],
        })
    return rows


def _geomean(values: list[float]) -> float | None:
    if not values or any(v <= 0 for v in values):
        return None
    return round(math.exp(sum(math.log(v) for v in values) / len(values)), 3)


def environment() -> dict[str, Any]:
    try:
        import uvloop

        loop = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        loop = "asyncio"
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "platform": platform.platform(), "event_loop": loop}


def build_report(cfg: BenchConfig, runs: list[dict[str, Any]],
                 systems: dict[str, dict[str, Any]], *, etcd_skipped: str = "",
                 env: dict[str, Any] | None = None) -> dict[str, Any]:
    groups: dict[tuple[str, str, str | None, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["system"], *_key(r)), []).append(r)
    summary = [_summary(g) for g in groups.values()]
    comparison = _comparison(summary)
    ratios = [c["ratio"] for c in comparison if c["ratio"] is not None]
    return {
        "schema": SCHEMA,
        "config": cfg.as_dict(),
        "environment": {**environment(), **(env or {})},
        "systems": systems,
        "etcd_skipped": etcd_skipped or None,
        "summary": summary,
        "comparison": comparison,
        "ratio": _geomean(ratios) if comparison else None,
        "ratio_min": min(ratios) if ratios else None,
        "runs": runs,
    }
