"""Linearizability checking of recorded histories (issue 5).

Role: the public face of the checker. Parse a history (`load_history`,
`parse_history`; Jepsen log, Jepsen EDN or kvstore JSON lines), check it
against a sequential model (`check(history, "register" | "kv")`), explain the
result (`explain`) and draw it (`write_html`). The chaos recorder writes
histories with `HistoryWriter`.

Invariants: this package imports nothing of ours except `kvstore.errors`;
every parse or model error is a `CheckError` naming the line; a check that
hits its time limit or memory cap says `unknown`, never `linearizable`.
"""

from __future__ import annotations

from kvstore.check.checker import CheckResult, PartitionResult, Verdict, check, partition
from kvstore.check.formats import (
    FORMATS,
    detect_format,
    load_history,
    parse_edn,
    parse_history,
    parse_jepsen_log,
)
from kvstore.check.history import INF, History, HistoryBuilder, Operation, make_history
from kvstore.check.jsonl import HistoryWriter, parse_jsonl
from kvstore.check.models import MODELS, KVModel, Model, RegisterModel, get_model
from kvstore.check.report import describe_op, explain
from kvstore.check.timeline import render_html, write_html

__all__ = [
    "FORMATS",
    "INF",
    "MODELS",
    "CheckResult",
    "History",
    "HistoryBuilder",
    "HistoryWriter",
    "KVModel",
    "Model",
    "Operation",
    "PartitionResult",
    "RegisterModel",
    "Verdict",
    "check",
    "describe_op",
    "detect_format",
    "explain",
    "get_model",
    "load_history",
    "make_history",
    "parse_edn",
    "parse_history",
    "parse_jepsen_log",
    "parse_jsonl",
    "partition",
    "render_html",
    "write_html",
]
