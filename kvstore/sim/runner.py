"""Running many seeds (optionally on several processes) and reporting them.

`run_seed` is one simulation; `run_seeds` maps it over seeds with
`multiprocessing` when `jobs > 1`. Results come back in seed order, so the
output of a run does not depend on the number of jobs. `stop_after` ends the
run after that many violations (used to measure how fast a broken core is
caught without paying for the whole budget).
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field

from kvstore.raft import RaftCore
from kvstore.sim.broken import BROKEN_CORES
from kvstore.sim.node import CoreFactory
from kvstore.sim.sim import SimResult, Simulation
from kvstore.sim.trace import Trace


def core_factory(broken: str | None) -> CoreFactory:
    """The core class to simulate: the real one, or a named TEST-ONLY broken one."""
    if broken is None:
        return RaftCore
    try:
        return BROKEN_CORES[broken]
    except KeyError:
        raise ValueError(f"unknown broken variant {broken!r}; "
                         f"choose from {sorted(BROKEN_CORES)}") from None


def run_seed(seed: int, nodes: int = 3, steps: int = 1000, broken: str | None = None,
             trace: Trace | None = None, membership: str = "swarm",
             notices: str = "swarm") -> SimResult:
    """Simulate one seed and return its outcome (`membership`: swarm, always, never;
    `notices`: swarm, deferred, eager)."""
    return Simulation(seed, nodes, steps, core_factory(broken), trace,
                      membership=membership, notices=notices).run()


def _worker(args: tuple[int, int, int, str | None, str, str]) -> SimResult:
    seed, nodes, steps, broken, membership, notices = args
    return run_seed(seed, nodes, steps, broken, membership=membership, notices=notices)


@dataclass(slots=True)
class Summary:
    """Aggregate outcome of a multi-seed run."""

    seeds: int = 0
    commits: int = 0
    ticks: int = 0
    elapsed: float = 0.0
    failures: list[SimResult] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def coverage(self) -> str:
        """How often each feature ran over all seeds (sorted, one line)."""
        return "coverage: " + " ".join(f"{k}={v}" for k, v in sorted(self.stats.items()))

    def line(self) -> str:
        secs = max(self.elapsed, 1e-9)
        return (
            f"seeds={self.seeds} violations={len(self.failures)} commits={self.commits} "
            f"conf_changes={self.stats['conf_changes']} elapsed={self.elapsed:.1f}s commits_per_sec={self.commits / secs:.0f} "
            f"seeds_per_min={self.seeds * 60 / secs:.0f}"
        )


def _results(seeds: list[int], nodes: int, steps: int, broken: str | None, jobs: int,
             membership: str, notices: str) -> Generator[SimResult, None, None]:
    work = [(s, nodes, steps, broken, membership, notices) for s in seeds]
    if jobs <= 1 or len(work) <= 1:
        yield from map(_worker, work)
        return
    # spawn, not fork: the caller (a test run, say) may have threads (gRPC, asyncio
    # executors), and forking a threaded process can deadlock the child.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(jobs) as pool:
        yield from pool.imap(_worker, work, chunksize=max(1, min(16, len(work) // (4 * jobs))))


def run_seeds(seeds: Iterable[int], nodes: int = 3, steps: int = 1000,
              broken: str | None = None, jobs: int = 1, stop_after: int = 0,
              on_result: Callable[[SimResult], None] | None = None,
              membership: str = "swarm", notices: str = "swarm") -> Summary:
    """Simulate every seed; stop early after `stop_after` violations if it is > 0."""
    core_factory(broken)  # fail fast on a bad name, before forking
    summary = Summary()
    start = time.perf_counter()
    results = _results(list(seeds), nodes, steps, broken, jobs, membership, notices)
    for res in results:
        summary.seeds += 1
        summary.commits += res.commits
        summary.ticks += res.ticks
        summary.stats.update(res.stats)
        if not res.ok:
            summary.failures.append(res)
        if on_result is not None:
            on_result(res)
        if stop_after and len(summary.failures) >= stop_after:
            break
    results.close()  # stops the worker pool if we left early
    summary.elapsed = time.perf_counter() - start
    return summary


def report(res: SimResult) -> str:
    """The text printed for a failing seed: the rule, the trace tail, how to replay it."""
    lines = [f"VIOLATION seed={res.seed} nodes={res.nodes}: {res.rule}: {res.details}",
             f"  params: {res.params}", "  last trace lines:"]
    lines += [f"    {t}" for t in res.tail]
    extra = f" --membership {res.membership}" if res.membership != "swarm" else ""
    lines.append(f"reproduce with: python -m kvstore.sim --seed {res.seed} --nodes {res.nodes} "
                 f"--steps {res.steps}{extra} --trace")
    return "\n".join(lines)
