"""Disk use under a constant write load: does compaction keep it bounded?

`run_disk(cfg)` starts a fresh cluster of real node processes (fsync on),
then overwrites a fixed key space (`keys` keys of `value_size` bytes, drawn
uniformly) from `processes` spawned client processes for `duration_s`, and
samples the allocated size of every node's data directory (as `du` counts
it) every `sample_s`. The live data stays the same size, so without log
compaction disk use would grow with every write; with it, disk use should
level off once every group has taken its first snapshot and compacted
(`snapshot_entries`, `log_retain_entries` node options; pass smaller values
with `--node-opt` to see the plateau sooner). The summary compares the last
third of the run with the middle third.

Every cluster started here is stopped on every exit path.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstore.bench.scale_keys import disk_bytes
from kvstore.bench.targets import bench_key
from kvstore.cluster.local import LocalCluster

READY_TIMEOUT_S = 120.0
DISK_HEADER = ("t (s)", "writes", "disk MiB per node")


@dataclass(slots=True)
class DiskConfig:
    duration_s: float = 120.0
    sample_s: float = 5.0
    keys: int = 10_000
    shards: int = 8
    nodes: int = 3
    value_size: int = 100
    processes: int = 1
    concurrency: int = 64  # per client process
    work_dir: str | None = None
    node_options: dict[str, object] = field(default_factory=dict)

    @classmethod
    def smoke(cls) -> DiskConfig:
        return cls(duration_s=3.0, sample_s=1.0, keys=200, shards=2, concurrency=8,
                   node_options={"snapshot_entries": 50, "log_retain_entries": 10})


# The shared write counter, handed to each client process by the pool's initializer
# (a multiprocessing Value cannot travel as a task argument).
_COUNTER: Any = None


def _share(counter: Any) -> None:
    global _COUNTER
    _COUNTER = counter


def _write_until(endpoints: list[str], deadline: float, keys: int, value_size: int,
                 concurrency: int, seed: int) -> int:
    """Client process: overwrite random keys until `deadline` (time.time()); returns writes."""
    return asyncio.run(_writes(endpoints, deadline, keys, value_size, concurrency, seed,
                               _COUNTER))


async def _writes(endpoints: list[str], deadline: float, keys: int, value_size: int,
                  concurrency: int, seed: int, counter: Any) -> int:
    from kvstore.client import KVClient

    rng = random.Random(seed)
    value = os.urandom(value_size)
    done = 0

    async def writer(kv: KVClient) -> None:
        nonlocal done
        while time.time() < deadline:
            await kv.put(bench_key(rng.randrange(keys)), value)
            done += 1
            if done % 256 == 0:
                with counter.get_lock():
                    counter.value += 256
    async with KVClient(endpoints, timeout=30.0, rpc_timeout=10.0) as kv:
        await asyncio.gather(*(writer(kv) for _ in range(concurrency)))
    return done


def run_disk(cfg: DiskConfig, note: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = note or (lambda _m: None)
    root = Path(cfg.work_dir or tempfile.mkdtemp(prefix="kvscale-disk-"))
    cluster = LocalCluster.create(root, cfg.nodes, shards=cfg.shards,
                                  extra=dict(cfg.node_options))
    try:
        cluster.start()
        cluster.wait_ready(READY_TIMEOUT_S)
        dirs = [n.dir / "data" for _, n in sorted(cluster.nodes.items())]
        say(f"overwriting {cfg.keys:,} keys for {cfg.duration_s:g} s")
        samples, writes = _load_and_sample(cfg, cluster.endpoints, dirs)
    finally:
        cluster.stop()
        if cfg.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return {"duration_s": cfg.duration_s, "keys": cfg.keys, "shards": cfg.shards,
            "nodes": cfg.nodes, "value_size": cfg.value_size, "writes": writes,
            "writes_per_s": round(writes / cfg.duration_s, 1),
            "node_options": dict(cfg.node_options), "samples": samples,
            "summary": summarize(samples)}


def _load_and_sample(cfg: DiskConfig, endpoints: list[str], dirs: list[Path]
                     ) -> tuple[list[dict[str, Any]], int]:
    ctx = mp.get_context("spawn")  # a forked gRPC runtime is unsafe
    counter = ctx.Value("q", 0)
    t0 = time.time()
    deadline = t0 + cfg.duration_s
    samples = [_sample(0.0, 0, dirs)]
    with ProcessPoolExecutor(cfg.processes, mp_context=ctx, initializer=_share,
                             initargs=(counter,)) as pool:
        futs = [pool.submit(_write_until, endpoints, deadline, cfg.keys, cfg.value_size,
                            cfg.concurrency, 1000 + i) for i in range(cfg.processes)]
        while (now := time.time()) < deadline:
            time.sleep(min(cfg.sample_s, max(0.0, deadline - now)))
            samples.append(_sample(time.time() - t0, counter.value, dirs))
        writes = sum(f.result() for f in futs)
    samples.append(_sample(time.time() - t0, writes, dirs))
    return samples, writes


def _sample(t: float, writes: int, dirs: list[Path]) -> dict[str, Any]:
    return {"t_s": round(t, 1), "writes": writes,
            "disk_mib": [round(disk_bytes(d) / 2**20, 2) for d in dirs]}


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth of the largest node's disk use in the middle and the last third of the run."""
    sizes = [max(s["disk_mib"]) for s in samples]
    n = len(sizes)
    a, b = n // 3, 2 * n // 3
    return {"final_mib_max": sizes[-1], "peak_mib_max": max(sizes),
            "growth_middle_third_mib": round(sizes[b] - sizes[a], 2) if n >= 3 else None,
            "growth_last_third_mib": round(sizes[-1] - sizes[b], 2) if n >= 3 else None}


def format_disk_table(row: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(DISK_HEADER) + " |", "|" + "---|" * len(DISK_HEADER)]
    for s in row["samples"]:
        disk = " / ".join(f"{v:.1f}" for v in s["disk_mib"])
        lines.append(f"| {s['t_s']:.0f} | {s['writes']:,} | {disk} |")
    sm = row["summary"]
    lines.append("")
    lines.append(f"{row['writes']:,} writes ({row['writes_per_s']:,.0f}/s) over {row['keys']:,} "
                 f"keys; largest node: peak {sm['peak_mib_max']:.1f} MiB, final "
                 f"{sm['final_mib_max']:.1f} MiB; growth in the middle third "
                 f"{sm['growth_middle_third_mib']} MiB, in the last third "
                 f"{sm['growth_last_third_mib']} MiB")
    return "\n".join(lines)
