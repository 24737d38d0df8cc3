"""The history recorder and reader of the chaos harness.

`Recorder` writes every invoke and completion through the checker's
`HistoryWriter` (JSON lines, `time.monotonic_ns()` stamps, one flushed line per
event, so a killed run still leaves a parseable history) and counts outcomes.
`load_ops` reads a history back into completed-op records (call, return,
type) for the plots and the summary, pairing events per process as the
checker does.

Invariants: every `invoke` is followed by exactly one completion of the same
process before that process invokes again; time stamps never decrease.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kvstore.chaos.workload import Op, Outcome
from kvstore.check import HistoryWriter


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8")
        self._writer = HistoryWriter(self._fh)
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._pending: dict[int, Op] = {}

    def invoke(self, process: int, op: Op) -> None:
        if process in self._pending:
            raise RuntimeError(f"process {process} already has an op in flight")
        self._pending[process] = op
        value = None if op.f in ("read", "get") else op.value
        self._writer.invoke(process, op.f, op.key, value, time.monotonic_ns())

    def complete(self, process: int, outcome: Outcome) -> None:
        op = self._pending.pop(process)
        self.counts[outcome.type] += 1
        if outcome.error:
            self.errors[outcome.error.split(":")[0]] += 1
        value = outcome.value if outcome.type == "ok" else (
            None if op.f in ("read", "get") else op.value)
        self._writer.write(process, outcome.type, op.f, op.key, value, time.monotonic_ns())

    def close(self) -> None:
        # Ops still in flight stay invokes without completion: the checker reads
        # them as indeterminate, which is what they are.
        self.counts["info"] += len(self._pending)
        self._fh.close()


@dataclass(slots=True)
class OpRecord:
    process: int
    f: str
    type: str  # ok | fail | info
    call_ns: int
    ret_ns: int | None  # None: never completed


def load_ops(path: Path) -> list[OpRecord]:
    """Completed and pending ops of a JSON-lines history, in invoke order."""
    pending: dict[int, OpRecord] = {}
    done: list[OpRecord] = []
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            ev = json.loads(raw)
            if ev["type"] == "invoke":
                pending[ev["process"]] = OpRecord(ev["process"], ev["f"], "info", ev["time"],
                                                  None)
            else:
                rec = pending.pop(ev["process"], None)
                if rec is not None:
                    rec.type, rec.ret_ns = ev["type"], ev["time"]
                    done.append(rec)
    done.extend(pending.values())
    done.sort(key=lambda r: r.call_ns)
    return done
