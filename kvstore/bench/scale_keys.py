"""Scaling with data size: load N keys, then measure puts and gets over all N.

`run_keys(cfg)` starts a fresh cluster of real node processes (fsync on),
loads keys `bench_key(0..N-1)` with `value_size`-byte values from
`processes` spawned loader processes (each a `KVClient` with `concurrency`
ops in flight, coalesced into Batch RPCs as any application's would be),
then reports the load rate, the disk space the nodes' data directories use
(allocated blocks, as `du` counts them), resident memory per node, and put
and linearizable get throughput with keys drawn uniformly from all N.

The measured cases reuse `kvstore.bench.runner.run_case` directly instead of
`run_bench`, because `run_bench` would preload the key space again.
Every cluster started here is stopped on every exit path.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstore.bench.config import BenchConfig
from kvstore.bench.report import case_result
from kvstore.bench.runner import ClientPool, QuietUI, run_case
from kvstore.bench.systems import SystemHandle
from kvstore.bench.targets import bench_key
from kvstore.cluster.local import LocalCluster

READY_TIMEOUT_S = 120.0
LOAD_RPC_TIMEOUT_S = 30.0


@dataclass(slots=True)
class KeysConfig:
    keys: int = 1_000_000
    shards: int = 8
    nodes: int = 3
    value_size: int = 100
    processes: int = 2
    concurrency: int = 512  # per loader process
    bench_concurrency: int = 64
    duration_s: float = 5.0
    warmup_s: float = 1.0
    work_dir: str | None = None
    node_options: dict[str, object] = field(default_factory=dict)

    @classmethod
    def smoke(cls) -> KeysConfig:
        return cls(keys=500, shards=4, processes=1, concurrency=64, bench_concurrency=8,
                   duration_s=0.5, warmup_s=0.2)


def disk_bytes(path: Path) -> int:
    """Allocated bytes under `path` (st_blocks, like `du`; LMDB files may be sparse)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def _load_slice(endpoints: list[str], start: int, stop: int, value_size: int,
                concurrency: int) -> int:
    """Loader process: put keys [start, stop); returns how many were written."""
    return asyncio.run(_load(endpoints, start, stop, value_size, concurrency))


async def _load(endpoints: list[str], start: int, stop: int, value_size: int,
                concurrency: int) -> int:
    from kvstore.client import KVClient

    value = os.urandom(value_size)
    todo = iter(range(start, stop))
    done = 0

    async def writer(kv: KVClient) -> None:
        nonlocal done
        for i in todo:
            await kv.put(bench_key(i), value)
            done += 1

    async with KVClient(endpoints, timeout=LOAD_RPC_TIMEOUT_S * 2,
                        rpc_timeout=LOAD_RPC_TIMEOUT_S) as kv:
        await asyncio.gather(*(writer(kv) for _ in range(min(concurrency, stop - start))))
    return done


def load_keys(endpoints: list[str], keys: int, value_size: int, processes: int,
              concurrency: int) -> int:
    """Load keys 0..keys-1 from `processes` spawned processes; returns keys written."""
    step = -(-keys // processes)
    slices = [(i, min(i + step, keys)) for i in range(0, keys, step)]
    ctx = mp.get_context("spawn")  # a forked gRPC runtime is unsafe
    with ProcessPoolExecutor(len(slices), mp_context=ctx) as pool:
        futs = [pool.submit(_load_slice, endpoints, a, b, value_size, concurrency)
                for a, b in slices]
        return sum(f.result() for f in futs)


def _rss(pid: int, field: str = "VmRSS") -> float | None:
    from kvstore.bench.scale import rss_mib

    rss = rss_mib(pid, field)
    return None if rss is None else round(rss, 1)


def run_keys(cfg: KeysConfig, note: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = note or (lambda _m: None)
    root = Path(cfg.work_dir or tempfile.mkdtemp(prefix="kvscale-keys-"))
    cluster = LocalCluster.create(root, cfg.nodes, shards=cfg.shards,
                                  extra=dict(cfg.node_options))
    try:
        cluster.start()
        cluster.wait_ready(READY_TIMEOUT_S)
        pids = [n.pid for _, n in sorted(cluster.nodes.items())]
        say(f"loading {cfg.keys:,} keys of {cfg.value_size} B")
        t0 = time.monotonic()
        written = load_keys(cluster.endpoints, cfg.keys, cfg.value_size, cfg.processes,
                            cfg.concurrency)
        load_s = time.monotonic() - t0
        out: dict[str, Any] = {
            "keys": cfg.keys, "written": written, "shards": cfg.shards, "nodes": cfg.nodes,
            "value_size": cfg.value_size, "load_s": round(load_s, 1),
            "load_keys_per_s": round(written / load_s, 1),
            "disk_mib_per_node": [round(disk_bytes(n.dir / "data") / 2**20, 1)
                                  for _, n in sorted(cluster.nodes.items())],
            "rss_after_load_mib": [_rss(p) for p in pids],
            "rss_anon_after_load_mib": [_rss(p, "RssAnon") for p in pids],
        }
        say("measuring put and get over the whole key space")
        out.update(_measure(cfg, cluster.endpoints, pids))
        out["rss_after_bench_mib"] = [_rss(p) for p in pids]
        out["rss_anon_after_bench_mib"] = [_rss(p, "RssAnon") for p in pids]
    finally:
        cluster.stop()
        if cfg.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return out


def _measure(cfg: KeysConfig, endpoints: list[str], pids: list[int]) -> dict[str, Any]:
    bench = BenchConfig(workloads=("put", "get"), concurrency=(cfg.bench_concurrency,),
                        duration_s=cfg.duration_s, warmup_s=cfg.warmup_s, keys=cfg.keys,
                        value_size=cfg.value_size, processes=1)
    handle = SystemHandle("kvstore", endpoints, pids)
    out: dict[str, Any] = {}
    with ClientPool(bench.processes) as pool:
        for case in bench.cases():
            r = case_result("kvstore", case, bench, run_case(handle, case, bench, QuietUI(),
                                                              pool), 0)
            out[case.workload] = {"ops_per_s": r["ops_per_s"], "errors": r["errors"],
                                  "misses": r["misses"], "p50_ms": r["latency"]["p50_ms"],
                                  "p99_ms": r["latency"]["p99_ms"]}
    return out


def _mean(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.fmean(known):,.0f}" if known else "-"


KEYS_HEADER = ("keys", "load keys/s", "disk MiB per node", "RSS MiB per node: all / anon",
               "put/s", "get/s (linearizable)", "get misses")


def format_keys_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(KEYS_HEADER) + " |", "|" + "---|" * len(KEYS_HEADER)]
    for r in rows:
        cells = (
            f"{r['keys']:,}", f"{r['load_keys_per_s']:,.0f}",
            f"{statistics.fmean(r['disk_mib_per_node']):,.0f}",
            f"{_mean(r['rss_after_bench_mib'])} / {_mean(r['rss_anon_after_bench_mib'])}",
            f"{r['put']['ops_per_s']:,.0f}", f"{r['get']['ops_per_s']:,.0f}",
            str(r["get"]["misses"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
