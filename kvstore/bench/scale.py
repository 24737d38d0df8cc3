"""Scaling measurements: idle CPU, put throughput and memory against the shard count.

For each shard count this starts a fresh cluster of real node processes
(`LocalCluster`, fsync on), waits until every shard has a leader and the
leaders have settled, then measures, in this order:
1. idle CPU per node: utime+stime from /proc/PID/stat over `idle_s` with no
   client attached, as a percentage of one core;
2. resident memory per node (VmRSS from /proc/PID/status) while idle;
3. put throughput with `kvstore.bench` (real client processes, `concurrency`
   workers, 100-byte values by default);
and stops the cluster. Nothing here asserts speed; `format_table` prints the
figures and the caller decides what they mean.

Invariants: every cluster started here is stopped on every exit path; the
per-shard-count clusters run one after the other, never concurrently, so
they do not measure each other.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstore.bench.config import BenchConfig
from kvstore.bench.runner import run_bench
from kvstore.bench.stats import proc_cpu_s
from kvstore.cluster.local import LocalCluster

READY_TIMEOUT_S = 120.0


@dataclass(slots=True)
class ScaleConfig:
    shards: tuple[int, ...] = (1, 8, 64, 256)
    nodes: int = 3
    settle_s: float = 5.0  # after every shard has a leader: leader balancing, catch-up
    idle_s: float = 10.0
    put_s: float = 5.0
    warmup_s: float = 1.0
    concurrency: int = 64
    keys: int = 1000
    value_size: int = 100
    processes: int = 1
    work_dir: str | None = None
    node_options: dict[str, object] = field(default_factory=dict)

    @classmethod
    def smoke(cls) -> ScaleConfig:
        return cls(shards=(1, 4), settle_s=0.5, idle_s=1.0, put_s=0.5, warmup_s=0.2,
                   concurrency=8, keys=100)


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of `pid` in MiB from /proc/PID/status, or None if unreadable.

    `VmRSS` counts the LMDB file pages the process has mapped and touched (page
    cache the kernel can reclaim); `RssAnon` is the process's own memory."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def idle_cpu_percent(pids: list[int], seconds: float) -> list[float | None]:
    """CPU used by each pid over `seconds`, in percent of one core."""
    before = [proc_cpu_s(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    after = [proc_cpu_s(p) for p in pids]
    return [None if a is None or b is None else round(100 * (b - a) / elapsed, 2)
            for a, b in zip(before, after, strict=True)]


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure_one(cfg: ScaleConfig, shards: int, root: Path) -> dict[str, Any]:
    """Start a cluster with `shards` shards, measure it, stop it; one table row."""
    cluster = LocalCluster.create(root, cfg.nodes, shards=shards,
                                  extra=dict(cfg.node_options))
    try:
        t0 = time.monotonic()
        cluster.start()
        cluster.wait_ready(READY_TIMEOUT_S)
        ready_s = time.monotonic() - t0
        time.sleep(cfg.settle_s)
        pids = [n.pid for _, n in sorted(cluster.nodes.items())]
        idle = idle_cpu_percent(pids, cfg.idle_s)
        rss_idle = [rss_mib(p) for p in pids]
        bench = BenchConfig(workloads=("put",), concurrency=(cfg.concurrency,),
                            duration_s=cfg.put_s, warmup_s=cfg.warmup_s, keys=cfg.keys,
                            value_size=cfg.value_size, processes=cfg.processes,
                            cluster_dir=str(root))
        report = run_bench(bench)
        row = report["summary"][0]
        rss_load = [rss_mib(p) for p in pids]
    finally:
        cluster.stop()
    return {
        "shards": shards, "nodes": cfg.nodes, "ready_s": round(ready_s, 2),
        "idle_cpu_pct": idle, "rss_idle_mib": rss_idle, "rss_after_put_mib": rss_load,
        "put_ops_per_s": row["ops_per_s"], "put_errors": row["errors"],
        "put_p50_ms": row["latency"]["p50_ms"], "put_p99_ms": row["latency"]["p99_ms"],
        "server_cpu_s_per_1k_ops": row.get("server_cpu_s_per_1k_ops"),
    }


def run_scale(cfg: ScaleConfig, note: Callable[[str], None] | None = None
              ) -> list[dict[str, Any]]:
    base = Path(cfg.work_dir or tempfile.mkdtemp(prefix="kvscale-"))
    rows = []
    try:
        for shards in cfg.shards:
            if note is not None:
                note(f"measuring {shards} shards x {cfg.nodes} nodes")
            rows.append(measure_one(cfg, shards, base / f"s{shards}"))
    finally:
        if cfg.work_dir is None:
            shutil.rmtree(base, ignore_errors=True)
    return rows


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


TABLE_HEADER = ("shards", "idle CPU % per node (mean / max)", "put/s", "put p50/p99 ms",
                "RSS MiB per node idle / after put")


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: one row per shard count."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |",
             "|" + "---|" * len(TABLE_HEADER)]
    for r in rows:
        idle = r["idle_cpu_pct"]
        known = [v for v in idle if v is not None]
        cells = (
            str(r["shards"]),
            f"{_fmt(_mean(idle), '.1f')} / {_fmt(max(known) if known else None, '.1f')}",
            _fmt(r["put_ops_per_s"], ",.0f"),
            f"{_fmt(r['put_p50_ms'], '.1f')} / {_fmt(r['put_p99_ms'], '.1f')}",
            f"{_fmt(_mean(r['rss_idle_mib']), '.0f')} / "
            f"{_fmt(_mean(r['rss_after_put_mib']), '.0f')}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
