"""Jepsen-style plots of a chaos run: latency and throughput over time, faults shaded.

`write_plots(out, ops, timeline, t0_ns)` draws `latency.png` (one point per
completed op: call time vs latency, log scale, coloured by outcome) and
`throughput.png` (completions per second by outcome). Every fault window from
the nemesis timeline is a shaded band, one colour per fault kind.

matplotlib is optional: without it `write_plots` draws nothing and returns a
message saying how to install it; the run itself is unaffected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kvstore.chaos.recorder import OpRecord

OUTCOME_COLORS = {"ok": "#1f77b4", "info": "#ff9f1c", "fail": "#d62728"}
FAULT_COLORS = {"kill": "#e07a7a", "pause": "#e8c547", "partition": "#8c9bd6"}
MARKERS = {"read": "o", "get": "o", "write": "s", "put": "s", "cas": "^", "append": "D"}


def fault_windows(timeline: Sequence[dict[str, Any]], end_ns: int
                  ) -> list[tuple[str, int, int, str]]:
    """(kind, start_ns, stop_ns, detail) per fault; an unstopped fault lasts until `end_ns`."""
    windows: list[tuple[str, int, int, str]] = []
    open_fault: dict[str, Any] | None = None
    for ev in timeline:
        if ev["type"] == "start":
            open_fault = ev
        elif ev["type"] in ("stop", "heal") and open_fault is not None:
            windows.append((open_fault["fault"], open_fault["time"], ev["time"],
                            open_fault.get("detail", "")))
            open_fault = None
    if open_fault is not None:
        windows.append((open_fault["fault"], open_fault["time"], end_ns,
                        open_fault.get("detail", "")))
    return windows


def load_timeline(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _shade(ax: Any, windows: list[tuple[str, int, int, str]], t0_ns: int) -> None:
    seen: set[str] = set()
    for kind, start, stop, _ in windows:
        ax.axvspan((start - t0_ns) / 1e9, (stop - t0_ns) / 1e9, alpha=0.3, lw=0,
                   color=FAULT_COLORS.get(kind, "#bbbbbb"),
                   label=None if kind in seen else kind)
        seen.add(kind)


def _latency(plt: Any, path: Path, ops: Sequence[OpRecord],
             windows: list[tuple[str, int, int, str]], t0_ns: int, title: str) -> None:
    fig, ax = plt.subplots(figsize=(11, 5))
    _shade(ax, windows, t0_ns)
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for op in ops:
        if op.ret_ns is None:
            continue
        xs, ys = groups.setdefault((op.f, op.type), ([], []))
        xs.append((op.call_ns - t0_ns) / 1e9)
        ys.append(max((op.ret_ns - op.call_ns) / 1e6, 0.01))
    for (f, kind), (xs, ys) in sorted(groups.items()):
        ax.scatter(xs, ys, s=6, marker=MARKERS.get(f, "."), color=OUTCOME_COLORS[kind],
                   alpha=0.6, label=f"{f} {kind}", linewidths=0)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{title}: latency")
    ax.legend(loc="upper left", fontsize=7, ncol=4, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _throughput(plt: Any, path: Path, ops: Sequence[OpRecord],
                windows: list[tuple[str, int, int, str]], t0_ns: int, title: str,
                end_ns: int) -> None:
    span_s = max(1.0, (end_ns - t0_ns) / 1e9)
    bin_s = max(0.25, span_s / 120)
    n_bins = int(span_s / bin_s) + 1
    counts = {kind: [0] * n_bins for kind in OUTCOME_COLORS}
    for op in ops:
        if op.ret_ns is not None:
            counts[op.type][min(n_bins - 1, int((op.ret_ns - t0_ns) / 1e9 / bin_s))] += 1
    fig, ax = plt.subplots(figsize=(11, 4))
    _shade(ax, windows, t0_ns)
    xs = [i * bin_s for i in range(n_bins)]
    for kind, row in counts.items():
        ax.plot(xs, [c / bin_s for c in row], color=OUTCOME_COLORS[kind], label=kind, lw=1.2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("ops/s completed")
    ax.set_title(f"{title}: throughput")
    ax.legend(loc="upper left", fontsize=7, ncol=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(out: Path, ops: Sequence[OpRecord], timeline: Sequence[dict[str, Any]],
                t0_ns: int, title: str = "chaos") -> tuple[list[Path], str]:
    """Draw latency.png and throughput.png into `out`: (files written, message)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ("plots skipped: matplotlib is not installed "
                    "(install it with `pip install matplotlib`)")
    end_ns = max([t0_ns + 1] + [op.ret_ns or op.call_ns for op in ops]
                 + [ev["time"] for ev in timeline])
    windows = fault_windows(timeline, end_ns)
    latency, throughput = out / "latency.png", out / "throughput.png"
    _latency(plt, latency, ops, windows, t0_ns, title)
    _throughput(plt, throughput, ops, windows, t0_ns, title, end_ns)
    return [latency, throughput], f"plots: {latency.name}, {throughput.name}"
