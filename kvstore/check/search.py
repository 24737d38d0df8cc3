"""Wing & Gong's linearizability search with Lowe's memoisation, for one partition.

Role: decide whether the ops of one partition (one key) can be totally ordered
so that each op takes effect between its call and its return and the model
accepts the sequence. This is porcupine's `checkSingle` in Python:
- The history is a doubly linked list of call and return entries sorted by
  time (a call sorts before a return at the same time, so touching ops are
  concurrent), held in two int arrays `nxt`/`prv` with a head sentinel (0) and
  a tail sentinel (`end`).
- Walking the list from the head, a call entry is a candidate to linearize
  next. If the model accepts it and (linearized set, state) is new, it is
  "lifted" (its call and return are unlinked, O(1)) and the walk restarts.
  Reaching a return entry means that op had to be linearized already: undo
  the last choice ("unlift" relinks both entries, O(1), dancing-links style)
  and try the next candidate after it.
- The linearized set is a bitset in a Python int; the memo cache is a set of
  `(bitset, state)` pairs, so a configuration is explored at most once.

Invariants: entries are unlifted in exactly the reverse order of lifting, so
each unlinked entry's own `nxt`/`prv` still point at its old neighbours. The
longest partial linearization seen is kept incrementally (`low` marks how much
of the stack survived since the last record), so recording it is amortised
O(1) per step. Limits are polled every `POLL_STEPS` steps; hitting one ends
the search with a status other than "ok"/"illegal", never a verdict.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from kvstore.check.history import Operation
from kvstore.check.models import ILLEGAL, StepFn

__all__ = ["FREE_S_PER_ENTRY", "POLL_STEPS", "Limits", "SearchOutcome", "rss_bytes", "search"]

#: Steps between polls of the clock, the memory meter and the stop flag.
POLL_STEPS = 2048
#: Seconds to free one memo-cache entry (measured ~1 us for 4000-op bitsets).
#: The deadline check reserves this much per entry, so a search that stops at
#: its deadline has also freed its cache by then.
FREE_S_PER_ENTRY = 1e-6
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident memory of this process now (peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024


@dataclass(slots=True)
class Limits:
    """Bounds of one search. `deadline` is a `time.monotonic()` instant."""

    deadline: float | None = None
    max_memory_bytes: int | None = None
    stop: Callable[[], bool] | None = None
    #: Give up with status "budget" after this many steps (a probe, not a verdict).
    max_steps: int | None = None


@dataclass(slots=True)
class SearchOutcome:
    """Status is "ok", "illegal", "timeout", "memory", "stopped" or "budget".

    `order` holds indices into the searched ops: the full linearization when
    "ok", else the longest partial one found. `blocked` is the index of the op
    that could not be placed after it (-1 when none).
    """

    status: str
    order: list[int] = field(default_factory=list)
    blocked: int = -1
    steps: int = 0
    cache_size: int = 0


@dataclass(slots=True)
class _Entries:
    """The sorted call/return entry list as parallel int arrays.

    Nodes 1..2n are entries, 0 is the head sentinel and `end` the tail one.
    `ret_node[node]` is the return node of a call entry, -1 for a return.
    """

    op_of: list[int]
    ret_node: list[int]
    nxt: list[int]
    prv: list[int]
    end: int


def _entries(ops: Sequence[Operation]) -> _Entries:
    events = sorted(
        [(op.call, 0, i) for i, op in enumerate(ops)]
        + [(op.ret, 1, i) for i, op in enumerate(ops)]
    )
    end = len(events) + 1
    op_of = [-1] * (end + 1)
    ret_node = [-1] * (end + 1)
    node_of_ret = {}
    for node, (_, kind, i) in enumerate(events, start=1):
        op_of[node] = i
        if kind:
            node_of_ret[i] = node
    for node in range(1, end):
        i = op_of[node]
        if node_of_ret[i] != node:
            ret_node[node] = node_of_ret[i]
    nxt = [*range(1, end + 1), end]
    prv = [0, *range(end)]
    return _Entries(op_of, ret_node, nxt, prv, end)


def _over_limit(limits: Limits, base_rss: int, steps: int, cached: int) -> str:
    if limits.max_steps is not None and steps >= limits.max_steps:
        return "budget"
    if (limits.deadline is not None
            and time.monotonic() + cached * FREE_S_PER_ENTRY > limits.deadline):
        return "timeout"
    if limits.max_memory_bytes is not None and rss_bytes() - base_rss > limits.max_memory_bytes:
        return "memory"
    if limits.stop is not None and limits.stop():
        return "stopped"
    return ""


def search(
    ops: Sequence[Operation], fns: Sequence[StepFn], initial: Hashable, limits: Limits
) -> SearchOutcome:
    """Search for a linearization of `ops`; `fns[i]` is the model step of `ops[i]`."""
    if not ops:
        return SearchOutcome("ok")
    lists = _entries(ops)
    op_of, ret_node, nxt, prv, end = (lists.op_of, lists.ret_node, lists.nxt, lists.prv,
                                      lists.end)
    bits = [1 << i for i in range(len(ops))]
    base_rss = rss_bytes() if limits.max_memory_bytes is not None else 0

    cache: set[tuple[int, Hashable]] = set()
    calls: list[tuple[int, Hashable]] = []
    best: list[int] = []
    blocked = -1
    best_depth = -1  # so that failing to place even the first op is recorded
    low = 0  # calls[:low] is unchanged since `best` was last recorded
    lin = 0
    state = initial
    steps = 0
    poll_every = min(POLL_STEPS, max(1, limits.max_steps or POLL_STEPS))
    next_poll = poll_every
    entry = nxt[0]
    while nxt[0] != end:
        steps += 1
        if steps >= next_poll:
            next_poll += poll_every
            status = _over_limit(limits, base_rss, steps, len(cache))
            if status:
                return SearchOutcome(status, best, blocked, steps, len(cache))
        ret = ret_node[entry]
        if ret >= 0:
            op = op_of[entry]
            new_state = fns[op](state)
            if new_state is not ILLEGAL:
                new_lin = lin | bits[op]
                size = len(cache)
                cache.add((new_lin, new_state))
                if len(cache) != size:
                    calls.append((entry, state))
                    state = new_state
                    lin = new_lin
                    # lift: unlink the call, then its return (inlined: this
                    # loop is the whole cost of a check)
                    p, q = prv[entry], nxt[entry]
                    nxt[p] = q
                    prv[q] = p
                    p, q = prv[ret], nxt[ret]
                    nxt[p] = q
                    prv[q] = p
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        depth = len(calls)
        if depth > best_depth:
            best_depth = depth
            del best[low:]
            best.extend(op_of[c] for c, _ in calls[low:])
            blocked = op_of[entry]
            low = depth
        if not calls:
            return SearchOutcome("illegal", best, blocked, steps, len(cache))
        entry, state = calls.pop()
        if depth - 1 < low:
            low = depth - 1
        lin ^= bits[op_of[entry]]
        # unlift: relink the return, then the call (reverse of lift)
        ret = ret_node[entry]
        p, q = prv[ret], nxt[ret]
        nxt[p] = ret
        prv[q] = ret
        p, q = prv[entry], nxt[entry]
        nxt[p] = entry
        prv[q] = entry
        entry = nxt[entry]
    order = [op_of[c] for c, _ in calls]
    return SearchOutcome("ok", order, -1, steps, len(cache))
