"""`kvctl bench`: throughput and latency of kvstore (optionally side by side with etcd).

Parses options into a `kvstore.bench.BenchConfig`, draws a rich progress bar
on stderr while `run_bench` works, then prints the tables on stdout and
writes `--json FILE`. All measuring lives in `kvstore.bench`; bad options and
cluster failures become a one-line error with exit status 1 (2 for usage).
A run in which some case completed no op at all also exits 1, after writing
the JSON, so scripts notice a broken cluster.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from kvstore.bench import BenchConfig, run_bench
from kvstore.bench.config import parse_ints, parse_list
from kvstore.errors import KVError
from kvstore.sharding.meta import LEADER_POLICY_NAMES


class _RichUI:
    def __init__(self, console: Console, warmup_s: float) -> None:
        self.console = console
        self.warmup_s = warmup_s
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[ops]:>9,} ops  {task.fields[rate]:>9,.0f} ops/s"),
            console=console, transient=False)
        self.task: TaskID | None = None

    def __enter__(self) -> _RichUI:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def note(self, message: str) -> None:
        self.progress.console.print(f"[yellow]{message}[/yellow]", soft_wrap=True)

    def case_started(self, label: str, total_s: float) -> None:
        self.task = self.progress.add_task(label, total=total_s, ops=0, rate=0.0)

    def tick(self, elapsed_s: float, measured_ops: int) -> None:
        if self.task is None:
            return
        window = elapsed_s - self.warmup_s
        rate = measured_ops / window if window > 0.05 else 0.0
        self.progress.update(self.task, completed=elapsed_s, ops=measured_ops, rate=rate)

    def case_done(self, result: dict[str, Any]) -> None:
        if self.task is not None:
            task = self.progress.tasks[-1]
            self.progress.update(self.task, completed=task.total or 0, ops=result["ops"],
                                 rate=result["ops_per_s"])
        if result["errors"]:
            self.note(f"{result['system']} {result['label']}: {result['errors']} failed ops, "
                      f"e.g. {'; '.join(result['error_samples'][:2])}")


def _fmt(v: float | None, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def _summary_table(report: dict[str, Any]) -> Table:
    t = Table(title="results (median over repeats)")
    for col in ("system", "case", "ops/s", "p50 ms", "p99 ms", "p999 ms", "errors",
                "srv CPU s/1k ops", "cli CPU s/1k ops", "ops/RPC"):
        t.add_column(col, justify="left" if col in ("system", "case") else "right")
    for s in report["summary"]:
        lat = s["latency"]
        case = s["label"] + (f" (etcd {s['etcd_read']})" if s.get("etcd_read") else "")
        t.add_row(s["system"], case, _fmt(s["ops_per_s"]), _fmt(lat["p50_ms"], ".2f"),
                  _fmt(lat["p99_ms"], ".2f"), _fmt(lat["p999_ms"], ".2f"), str(s["errors"]),
                  _fmt(s["server_cpu_s_per_1k_ops"], ".3f"),
                  _fmt(s["client_cpu_s_per_1k_ops"], ".3f"), _fmt(s["ops_per_rpc"], ".1f"))
    return t


def _comparison_table(report: dict[str, Any]) -> Table:
    t = Table(title=f"kvstore / etcd (ratio, geometric mean: {_fmt(report['ratio'], '.2f')})")
    for col in ("case", "kvstore ops/s", "etcd ops/s", "ratio", "kvstore p50/p99 ms",
                "etcd p50/p99 ms", "kvstore CPU s/1k", "etcd CPU s/1k"):
        t.add_column(col, justify="left" if col == "case" else "right")
    for c in report["comparison"]:
        t.add_row(c["label"], _fmt(c["kvstore_ops_per_s"]), _fmt(c["etcd_ops_per_s"]),
                  _fmt(c["ratio"], ".2f"),
                  f"{_fmt(c['kvstore_p50_ms'], '.2f')} / {_fmt(c['kvstore_p99_ms'], '.2f')}",
                  f"{_fmt(c['etcd_p50_ms'], '.2f')} / {_fmt(c['etcd_p99_ms'], '.2f')}",
                  _fmt(c["kvstore_server_cpu_s_per_1k_ops"], ".3f"),
                  _fmt(c["etcd_server_cpu_s_per_1k_ops"], ".3f"))
    return t


@click.command()
@click.option("--workload", "workloads", multiple=True, default=("put,get,mixed",),
              show_default=True, help="put, get, mixed or all (repeat or comma-separate).")
@click.option("--consistency", "levels", multiple=True, default=("linearizable",),
              show_default=True,
              help="Read level(s) for get/mixed: linearizable, lease, sequential, stale or all.")
@click.option("--concurrency", "concurrency", multiple=True, default=("64",),
              show_default=True, help="Ops in flight (one per worker); e.g. 64,256.")
@click.option("--duration", type=float, default=10.0, show_default=True,
              help="Measured seconds per case.")
@click.option("--warmup", type=float, default=2.0, show_default=True,
              help="Unmeasured seconds before each case.")
@click.option("--keys", type=int, default=1000, show_default=True, help="Key space size.")
@click.option("--value-size", type=int, default=100, show_default=True, help="Bytes per value.")
@click.option("--read-fraction", type=float, default=0.5, show_default=True,
              help="Share of gets in the mixed workload.")
@click.option("--processes", type=int, default=1, show_default=True,
              help="Client processes sharing the concurrency.")
@click.option("--repeat", type=int, default=1, show_default=True,
              help="Repetitions; figures are medians.")
@click.option("--nodes", type=int, default=3, show_default=True, help="kvstore nodes to start.")
@click.option("--shards", type=int, default=8, show_default=True, help="kvstore shards.")
@click.option("--leader-policy", type=click.Choice(LEADER_POLICY_NAMES), default="spread",
              show_default=True, help="Where the started cluster's shard leaders sit.")
@click.option("--endpoints", default=None, help="Use this running cluster (HOST:PORT,...).")
@click.option("--cluster-dir", type=click.Path(file_okay=False), default=None,
              help="Use the running 'kvctl cluster up' cluster in DIR (server CPU known).")
@click.option("--compare", type=click.Choice(["etcd"]), default=None,
              help="Also run every case against a 3-member etcd on loopback.")
@click.option("--etcd-bin", default=None, help="etcd executable (default: etcd on PATH).")
@click.option("--dir", "work_dir", type=click.Path(file_okay=False), default=None,
              help="Data directory for the clusters (default: a temp dir, removed after).")
@click.option("--keep-data", is_flag=True, help="Keep the temp data dir (logs) afterwards.")
@click.option("--seed", type=int, default=1, show_default=True, help="Key-choice seed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the full results to FILE.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def bench(workloads: tuple[str, ...], levels: tuple[str, ...], concurrency: tuple[str, ...],
          duration: float, warmup: float, keys: int, value_size: int, read_fraction: float,
          processes: int, repeat: int, nodes: int, shards: int, leader_policy: str,
          endpoints: str | None,
          cluster_dir: str | None, compare: str | None, etcd_bin: str | None,
          work_dir: str | None, keep_data: bool, seed: int, json_path: Path | None,
          quiet: bool) -> None:
    """Measure put/get/mixed throughput and p50/p99/p999 latency on a durable cluster."""
    try:
        cfg = BenchConfig(
            workloads=parse_list("workload", workloads), consistency=parse_list("consistency", levels),
            concurrency=parse_ints("concurrency", concurrency), duration_s=duration,
            warmup_s=warmup, keys=keys, value_size=value_size, read_fraction=read_fraction,
            processes=processes, repeat=repeat, nodes=nodes, shards=shards,
            leader_policy=leader_policy,
            endpoints=parse_list("endpoints", [endpoints]) if endpoints else (),
            cluster_dir=cluster_dir, compare=compare, etcd_bin=etcd_bin, work_dir=work_dir,
            keep_data=keep_data, seed=seed)
        cfg.validate()
    except KVError as exc:
        raise click.UsageError(exc.message) from exc
    err = Console(stderr=True)
    try:
        if quiet:
            report = run_bench(cfg)
        else:
            with _RichUI(err, warmup) as ui:
                report = run_bench(cfg, ui)
    except KVError as exc:
        raise click.ClickException(exc.message) from exc
    _emit(report, json_path, err)


def _emit(report: dict[str, Any], json_path: Path | None, err: Console) -> None:
    # Piped output would wrap the tables at rich's default of 80 columns.
    out = Console() if sys.stdout.isatty() else Console(width=200)
    for name, info in report["systems"].items():
        facts = ", ".join(f"{k}={v}" for k, v in info.items()
                          if k in ("nodes", "shards", "leader_policy", "members", "version",
                                   "data_fs", "idle_cpu_cores"))
        out.print(f"{name}: {facts}")
    out.print(_summary_table(report))
    if report["comparison"]:
        out.print(_comparison_table(report))
    if report["etcd_skipped"]:
        err.print(f"[yellow]etcd comparison skipped: {report['etcd_skipped']}[/yellow]",
                  soft_wrap=True)
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise click.ClickException(f"cannot write {json_path}: {exc}") from exc
    empty = [f"{s['system']} {s['label']}" for s in report["summary"] if s["ops"] == 0]
    if empty:
        raise click.ClickException(f"no op completed in: {', '.join(empty)}")
