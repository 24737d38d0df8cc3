"""The end of a chaos run: checker verdict, plots and the report folder.

`run(config)` runs the cluster phase (`runner`) and then writes the report
folder `config.out`:
    history.jsonl    the history (kvstore JSON lines, the checker's format)
    nemesis.jsonl    the nemesis timeline (same monotonic clock)
    logs/nN.log      every node's log (all incarnations: restarts append)
    latency.png, throughput.png   with the fault windows shaded
    timeline.html    the checker's HTML timeline, when not linearizable
    summary.json     config, seed, verdict, counts, checker time
The cluster's data directories are removed unless `keep_data`.

Exit codes (`ChaosReport.exit_code`): 0 linearizable and every key read back
after healing; 1 not linearizable; 2 the checker could not decide (unknown);
3 linearizable, but the cluster did not recover (a node did not come back
with every shard led within `recover_timeout_s`, or a final read failed).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvstore.chaos.plots import fault_windows, load_timeline, write_plots
from kvstore.chaos.recorder import OpRecord, load_ops
from kvstore.chaos.runner import ChaosConfig, RunStats, run_cluster_phase
from kvstore.check import Verdict, check, explain, get_model, load_history, write_html
from kvstore.cluster.local import LocalCluster

EXIT_CODES = {Verdict.LINEARIZABLE: 0, Verdict.NOT_LINEARIZABLE: 1, Verdict.UNKNOWN: 2}
EXIT_NOT_RECOVERED = 3


@dataclass(slots=True)
class ChaosReport:
    seed: int
    out: Path
    verdict: Verdict
    explanation: str
    counts: dict[str, int]
    n_checked: int
    check_s: float
    run_s: float
    keys: int
    final_ok: int
    recovered: bool
    nemesis: dict[str, int]
    errors: dict[str, int]
    plots: str
    #: per fault: (kind, seconds from its stop to the next ok op; None: none followed)
    recovery_s: list[tuple[str, float | None]] = dataclasses.field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code = EXIT_CODES[self.verdict]
        if code == 0 and (self.final_ok < self.keys or not self.recovered):
            return EXIT_NOT_RECOVERED
        return code

    def to_json(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        raw["out"] = str(self.out)
        raw["verdict"] = self.verdict.value
        raw["exit_code"] = self.exit_code
        return raw


def _collect_logs(cluster: LocalCluster, out: Path, keep_data: bool) -> None:
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for node in cluster.nodes.values():
        if node.log_path.exists():
            shutil.copyfile(node.log_path, logs / f"n{node.node_id}.log")
    if not keep_data:
        shutil.rmtree(cluster.root, ignore_errors=True)


def recovery_times(ops: list[OpRecord], timeline: list[dict[str, Any]]
                   ) -> list[tuple[str, float | None]]:
    """For each fault, the seconds from its stop until the next op completed ok."""
    oks = sorted(op.ret_ns for op in ops if op.type == "ok" and op.ret_ns is not None)
    end = max([ev["time"] for ev in timeline] + oks + [0])
    result: list[tuple[str, float | None]] = []
    for kind, _start, stop, _ in fault_windows(timeline, end):
        nxt = next((t for t in oks if t >= stop), None)
        result.append((kind, None if nxt is None else round((nxt - stop) / 1e9, 3)))
    return result


def _check(cfg: ChaosConfig) -> tuple[Verdict, str, int, float]:
    model = get_model(cfg.workload)  # workload names are the checker's model names
    history = load_history(cfg.out / "history.jsonl", "jsonl")
    start = time.monotonic()
    result = check(history, model, timeout_s=cfg.check_timeout_s)
    check_s = time.monotonic() - start
    text = explain(result, history, model)
    if result.verdict is not Verdict.LINEARIZABLE:
        write_html(cfg.out / "timeline.html", history, result, model)
    return result.verdict, text, len(history.ops), check_s


def finish(cfg: ChaosConfig, cluster: LocalCluster, stats: RunStats, run_s: float
           ) -> ChaosReport:
    """Check the history, draw the plots, gather logs and write summary.json."""
    _collect_logs(cluster, cfg.out, cfg.keep_data)
    verdict, text, n_checked, check_s = _check(cfg)
    ops, timeline = load_ops(cfg.out / "history.jsonl"), load_timeline(cfg.out / "nemesis.jsonl")
    _, plots = write_plots(cfg.out, ops, timeline, stats.t0_ns,
                           f"{cfg.workload} / {','.join(cfg.nemesis) or 'no faults'} "
                           f"/ seed {cfg.seed}")
    report = ChaosReport(
        seed=cfg.seed, out=cfg.out, verdict=verdict, explanation=text,
        counts={k: stats.counts.get(k, 0) for k in ("ok", "fail", "info")},
        n_checked=n_checked, check_s=check_s, run_s=run_s, keys=stats.keys,
        final_ok=stats.final_ok, recovered=stats.recovered, nemesis=stats.nemesis,
        errors=stats.errors, plots=plots, recovery_s=recovery_times(ops, timeline))
    config = {k: (str(v) if isinstance(v, Path) else v)
              for k, v in dataclasses.asdict(cfg).items()}
    summary = {"config": config, "report": report.to_json(), "proxies": stats.proxies}
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return report


def run(cfg: ChaosConfig) -> ChaosReport:
    """A whole chaos run: cluster phase, then the checker and the report folder."""
    start = time.monotonic()
    cluster, stats = run_cluster_phase(cfg)
    return finish(cfg, cluster, stats, time.monotonic() - start)
