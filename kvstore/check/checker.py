"""The linearizability checker: partition per key, search each, combine verdicts.

Role: `check(history, model)` validates the ops against the model, splits them
by key (P-compositionality: a history is linearizable iff every key's
sub-history is), and runs `search` on each partition, biggest first.

Invariants:
- The verdict is `linearizable` only if every partition was searched to the
  end and found linearizable. A partition that hits the time limit, the memory
  cap or a crash makes the verdict `unknown`, never `linearizable`.
- The first illegal partition ends the check (`not linearizable`): in parallel
  mode a shared stop flag makes the other workers give up within one poll.
- Parallel mode uses a "spawn" process pool (safe whatever threads the parent
  runs); workers receive only picklable ops and the model object (a plain
  module-level class), and build the step closures themselves. By default
  each partition is first probed in-process with a step budget: most finish
  within it (an easy partition checks at ~10^5 ops/s, far less than the
  ~0.25 s a spawned worker costs), and only the hard ones go to workers. A
  check whose `__main__` a spawned worker could not re-import (a script read
  from stdin) stays in-process.
- The memory cap is per check: in parallel mode each worker gets an equal share.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kvstore.check.history import History, Operation
from kvstore.check.models import Model, get_model
from kvstore.check.search import Limits, search

__all__ = ["PROBE_STEPS", "CheckResult", "PartitionResult", "Verdict", "check",
           "partition"]

#: In auto mode every partition is first searched in-process for this many
#: steps (roughly 0.1 s); only the partitions that need more go to workers.
PROBE_STEPS = 200_000

_REASONS = {"timeout": "time limit reached", "memory": "memory cap reached",
            "stopped": "stopped", "crashed": "worker process failed or crashed",
            "budget": "probe budget spent"}

_Parts = list[tuple[str | None, list[Operation]]]


class Verdict(StrEnum):
    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not linearizable"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class PartitionResult:
    """The outcome for one key. Op references are `Operation.id`s."""

    key: str | None
    verdict: Verdict
    n_ops: int
    order: list[int] = field(default_factory=list)
    blocked: int | None = None
    reason: str = ""
    steps: int = 0
    cache_size: int = 0
    elapsed_s: float = 0.0
    pid: int = 0  # the process that searched it (a worker's, in parallel mode)


@dataclass(slots=True)
class CheckResult:
    """The verdict of a whole history and what each checked partition found."""

    verdict: Verdict
    model: str
    partitions: list[PartitionResult]
    n_ops: int
    elapsed_s: float
    reason: str = ""

    @property
    def failing(self) -> PartitionResult | None:
        """The illegal partition that decided the verdict, if any."""
        for part in self.partitions:
            if part.verdict is Verdict.NOT_LINEARIZABLE:
                return part
        return None


def partition(ops: Sequence[Operation]) -> dict[str | None, list[Operation]]:
    """Group ops by key, keeping call order inside each group."""
    parts: dict[str | None, list[Operation]] = {}
    for op in ops:
        parts.setdefault(op.key, []).append(op)
    return parts


def _check_partition(model: Model, key: str | None, ops: list[Operation],
                     limits: Limits) -> PartitionResult:
    start = time.monotonic()
    outcome = search(ops, [model.step_fn(op) for op in ops], model.initial(), limits)
    verdict = {"ok": Verdict.LINEARIZABLE, "illegal": Verdict.NOT_LINEARIZABLE}.get(
        outcome.status, Verdict.UNKNOWN)
    return PartitionResult(
        key=key, verdict=verdict, n_ops=len(ops),
        order=[ops[i].id for i in outcome.order],
        blocked=ops[outcome.blocked].id if outcome.blocked >= 0 else None,
        reason=_REASONS.get(outcome.status, ""), steps=outcome.steps,
        cache_size=outcome.cache_size, elapsed_s=time.monotonic() - start, pid=os.getpid(),
    )


# Set in each worker by the pool initializer: the check-wide stop flag.
_stop_flag: Any = None


def _init_worker(flag: Any) -> None:
    global _stop_flag
    _stop_flag = flag


def _worker(model: Model, key: str | None, ops: list[Operation], budget_s: float | None,
            submitted_at: float, max_memory: int | None) -> PartitionResult:
    # Monotonic clocks are per process in general, so the budget travels as a
    # duration; the wall-clock time spent queued and spawning is taken off it.
    queued = max(0.0, time.time() - submitted_at)
    deadline = None if budget_s is None else time.monotonic() + budget_s - queued
    flag = _stop_flag
    stop = None if flag is None else flag.is_set
    return _check_partition(model, key, ops, Limits(deadline, max_memory, stop))


def spawn_safe() -> bool:
    """Whether spawned workers can start: they re-import the parent's `__main__`
    by path, which fails when it came from stdin or an interactive prompt."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.exists(main_file)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _run_inline(model: Model, parts: _Parts, deadline: float | None, max_memory: int | None,
                max_steps: int | None = None) -> tuple[list[PartitionResult], _Parts]:
    """Check partitions one by one; with `max_steps`, defer those that need more."""
    results: list[PartitionResult] = []
    deferred: _Parts = []
    for key, ops in parts:
        limits = Limits(deadline, max_memory, max_steps=max_steps)
        result = _check_partition(model, key, ops, limits)
        if result.reason == _REASONS["budget"]:
            deferred.append((key, ops))
            continue
        results.append(result)
        if result.verdict is not Verdict.LINEARIZABLE:
            break  # illegal ends the check; a limit hit here applies to the rest too
    return results, deferred


def _run_adaptive(model: Model, parts: _Parts, deadline: float | None,
                  max_memory: int | None, workers: int,
                  probe_steps: int) -> tuple[list[PartitionResult], str]:
    """Probe every partition in-process; hand the hard ones to worker processes."""
    results, deferred = _run_inline(model, parts, deadline, max_memory, probe_steps)
    if not deferred or any(r.verdict is not Verdict.LINEARIZABLE for r in results):
        return results, ""
    if len(deferred) > 1 and workers > 1 and spawn_safe():
        more, reason = _run_parallel(model, deferred, deadline, max_memory,
                                     min(workers, len(deferred)))
        return results + more, reason
    more, _ = _run_inline(model, deferred, deadline, max_memory)
    return results + more, ""


def _run_parallel(model: Model, parts: _Parts, deadline: float | None, max_memory: int | None,
                  workers: int) -> tuple[list[PartitionResult], str]:
    ctx = multiprocessing.get_context("spawn")
    flag = ctx.Event()
    share = None if max_memory is None else max(1, max_memory // workers)
    results: list[PartitionResult] = []
    reason = ""
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(flag,))
    try:
        futures: dict[Future[PartitionResult], tuple[str | None, int]] = {
            pool.submit(_worker, model, key, ops, _remaining(deadline), time.time(), share):
                (key, len(ops))
            for key, ops in parts
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=_remaining(deadline),
                                 return_when=FIRST_COMPLETED)
            if not done:
                reason = _REASONS["timeout"]
                break
            for fut in done:
                results.append(_collect(fut, futures[fut]))
            if any(r.verdict is Verdict.NOT_LINEARIZABLE for r in results):
                break
    finally:
        flag.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return results, reason


def _collect(fut: Future[PartitionResult], meta: tuple[str | None, int]) -> PartitionResult:
    try:
        return fut.result()
    except BrokenProcessPool:
        # A worker killed by the OS (out of memory) or a failed spawn: we know nothing.
        return PartitionResult(meta[0], Verdict.UNKNOWN, meta[1], reason=_REASONS["crashed"])
    except Exception as exc:  # the worker raised: report it, never claim a verdict
        return PartitionResult(meta[0], Verdict.UNKNOWN, meta[1],
                               reason=f"worker failed: {type(exc).__name__}: {exc}")


def _combine(results: list[PartitionResult], reason: str) -> tuple[Verdict, str]:
    for result in results:
        if result.verdict is Verdict.NOT_LINEARIZABLE:
            return Verdict.NOT_LINEARIZABLE, ""
    for result in results:
        if result.verdict is Verdict.UNKNOWN:
            return Verdict.UNKNOWN, result.reason
    if reason:
        return Verdict.UNKNOWN, reason
    return Verdict.LINEARIZABLE, ""


def check(history: History | Sequence[Operation], model: Model | str, *,
          timeout_s: float | None = None, max_memory_bytes: int | None = None,
          workers: int | None = None, parallel: bool | None = None,
          probe_steps: int = PROBE_STEPS) -> CheckResult:
    """Check `history` against `model` ("register", "kv" or a `Model`).

    `timeout_s` bounds the whole check and `max_memory_bytes` bounds the growth of
    resident memory while searching; hitting either gives `Verdict.UNKNOWN`.
    `parallel=None` adapts: each partition is probed in-process for
    `probe_steps` steps, and the ones that need more are spread over `workers`
    processes (default: the CPU count). `parallel=True` sends every partition
    to workers, `False` checks all in-process. Raises `CheckError` for ops the
    model rejects.
    """
    start = time.monotonic()
    mdl = get_model(model) if isinstance(model, str) else model
    ops = history.ops if isinstance(history, History) else list(history)
    for op in ops:
        mdl.validate(op)
    parts = sorted(partition(ops).items(), key=lambda kv: (-len(kv[1]), str(kv[0])))
    deadline = None if timeout_s is None else start + timeout_s
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(parts)))
    reason = ""
    if parallel is None and n_workers > 1:
        results, reason = _run_adaptive(mdl, parts, deadline, max_memory_bytes, n_workers,
                                        probe_steps)
    elif parallel and n_workers > 1 and spawn_safe():
        results, reason = _run_parallel(mdl, parts, deadline, max_memory_bytes, n_workers)
    else:
        results, _ = _run_inline(mdl, parts, deadline, max_memory_bytes)
    verdict, why = _combine(results, reason)
    return CheckResult(verdict, mdl.name, results, len(ops), time.monotonic() - start, why)
