"""A self-contained HTML timeline of a checked history, like porcupine's visualiser.

Role: `render_html` draws, per partition (key), one lane per client and each
op as a bar from its call to its return. Ops in the longest partial
linearization are green and numbered in linearization order; the op that
cannot be placed is red; indeterminate ops fade out to the right edge. Each
bar has a tooltip with the op, its process and its source line. Below each
lane chart, the linearization order is listed.

Invariants: the output is one HTML file with inline CSS and SVG only (no
scripts, no network); all history text is escaped; x positions use the rank
of event times within the partition, so one slow op cannot squash the rest.
"""

from __future__ import annotations

import html
from pathlib import Path

from kvstore.check.checker import CheckResult, PartitionResult, Verdict
from kvstore.check.history import History, Operation
from kvstore.check.models import Model
from kvstore.check.report import describe_op, explain, partition_label

__all__ = ["MAX_PARTITIONS", "render_html", "write_html"]

#: Partitions drawn at most (the failing one always comes first).
MAX_PARTITIONS = 40
_LANE_H = 26
_BAR_H = 18
_LEFT = 110
_STEP = 22

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
.verdict { font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; }
.v-linearizable { background: #d4f7d4; } .v-not { background: #ffd6d6; }
.v-unknown { background: #fff2c2; }
.chart { overflow-x: auto; border: 1px solid #ddd; padding: 4px; }
pre { background: #f6f6f6; padding: 0.6em; white-space: pre-wrap; }
ol li.failing { color: #b00; font-weight: bold; }
svg text { font: 11px monospace; }
.lin rect { fill: #8fd18f; stroke: #3a3; }
.fail rect { fill: #ff7b7b; stroke: #b00; stroke-width: 2; }
.other rect { fill: #ccc; stroke: #888; }
.indet rect { stroke-dasharray: 4 3; fill-opacity: 0.55; }
"""

_LEGEND = (
    "<p>One lane per client; a bar runs from an op's call to its return (x is event order, "
    "not scaled time). <b>Green #n</b>: n-th op of the (longest partial) linearization. "
    "<b>Red ✗</b>: the first op that cannot be placed after it. <b>Dashed</b>: "
    "indeterminate (no return seen). Hover a bar for the op and its source line.</p>"
)


def _ranks(ops: list[Operation]) -> dict[float, int]:
    times = sorted({t for op in ops for t in (op.call, op.ret) if t != float("inf")})
    return {t: i for i, t in enumerate(times)}


def _bar(op: Operation, lane: int, x0: int, x1: int, css: str, label: str, tip: str) -> str:
    y = lane * _LANE_H + (_LANE_H - _BAR_H) // 2
    width = max(x1 - x0, 6)
    # A nested <svg> clips the label to its bar; the tooltip has the full text.
    text = (f'<svg x="{x0}" y="{y}" width="{width}" height="{_BAR_H}">'
            f'<text x="3" y="13">{html.escape(label)}</text></svg>')
    return (f'<g class="{css}"><title>{html.escape(tip)}</title>'
            f'<rect x="{x0}" y="{y}" width="{width}" height="{_BAR_H}" rx="3"/>{text}</g>')


def _svg(ops: list[Operation], part: PartitionResult | None, model: Model) -> str:
    ranks = _ranks(ops)
    right = _LEFT + (len(ranks) + 2) * _STEP
    clients = sorted({op.client for op in ops})
    lane_of = {c: i for i, c in enumerate(clients)}
    position = {op_id: i + 1 for i, op_id in enumerate(part.order)} if part else {}
    blocked = part.blocked if part else None
    body: list[str] = []
    for client, lane in lane_of.items():
        proc = next(op.process for op in ops if op.client == client)
        y = lane * _LANE_H + _LANE_H // 2 + 4
        body.append(f'<text x="4" y="{y}">client {client} (p{proc})</text>')
    for op in ops:
        x0 = _LEFT + ranks[op.call] * _STEP
        x1 = right if op.indeterminate else _LEFT + ranks[op.ret] * _STEP + _STEP // 2
        if op.id == blocked:
            css, label = "fail", "✗ " + model.describe(op)
        elif op.id in position:
            css, label = "lin", f"#{position[op.id]} {model.describe(op)}"
        else:
            css, label = "other", model.describe(op)
        if op.indeterminate:
            css += " indet"
        body.append(_bar(op, lane_of[op.client], x0, x1, css, label,
                         f"op {op.id}: {describe_op(op, model)}"))
    height = len(clients) * _LANE_H + 4
    return (f'<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{right + 200}" height="{height}">{"".join(body)}</svg></div>')


def _order_list(part: PartitionResult, ops_by_id: dict[int, Operation], model: Model) -> str:
    items = [f"<li>{html.escape(describe_op(ops_by_id[i], model))}</li>" for i in part.order]
    if part.blocked is not None and part.verdict is Verdict.NOT_LINEARIZABLE:
        op = ops_by_id[part.blocked]
        items.append(f'<li class="failing">cannot be placed: '
                     f"{html.escape(describe_op(op, model))}</li>")
    title = ("Linearization" if part.verdict is Verdict.LINEARIZABLE
             else "Longest partial linearization")
    return f"<details><summary>{title} ({len(part.order)} ops)</summary><ol>{''.join(items)}</ol></details>"


def _section(key: str | None, ops: list[Operation], part: PartitionResult | None,
             model: Model, ops_by_id: dict[int, Operation]) -> str:
    status = part.verdict.value if part else "not checked (the check stopped early)"
    head = f"<h2>{html.escape(partition_label(key))}: {len(ops)} ops, {html.escape(status)}</h2>"
    listing = _order_list(part, ops_by_id, model) if part else ""
    return head + _svg(ops, part, model) + listing


def render_html(history: History, result: CheckResult, model: Model) -> str:
    """The whole HTML page for `history` checked into `result` under `model`."""
    by_key: dict[str | None, list[Operation]] = {}
    for op in history.ops:
        by_key.setdefault(op.key, []).append(op)
    checked = {p.key: p for p in result.partitions}
    failing = result.failing
    keys = sorted(by_key, key=lambda k: (failing is None or k != failing.key, str(k)))
    ops_by_id = {op.id: op for op in history.ops}
    sections = [_section(k, by_key[k], checked.get(k), model, ops_by_id)
                for k in keys[:MAX_PARTITIONS]]
    if len(keys) > MAX_PARTITIONS:
        sections.append(f"<p>{len(keys) - MAX_PARTITIONS} more partitions not drawn.</p>")
    css = {"linearizable": "v-linearizable", "not linearizable": "v-not"}.get(
        result.verdict.value, "v-unknown")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>kvctl check: {html.escape(history.source)}</title><style>{_CSS}</style>"
        f"</head><body><h1>{html.escape(history.source)} ({html.escape(model.name)} model)</h1>"
        f'<p><span class="verdict {css}">{html.escape(result.verdict.value)}</span> '
        f"{result.n_ops} ops, {len(by_key)} partition(s), {result.elapsed_s:.3f} s</p>"
        f"<pre>{html.escape(explain(result, history, model))}</pre>{_LEGEND}"
        f"{''.join(sections)}</body></html>\n"
    )


def write_html(path: str | Path, history: History, result: CheckResult, model: Model) -> None:
    """Write the timeline to `path` (UTF-8)."""
    Path(path).write_text(render_html(history, result, model), encoding="utf-8")
