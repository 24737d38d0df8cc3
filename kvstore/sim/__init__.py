"""Deterministic cluster simulator for the Raft core (FoundationDB / TigerBeetle VOPR style).

N `RaftCore`s run on a virtual clock over an in-memory network; one seed fixes
the fault mix (drops, duplicates, delays, reordering, partitions, crashes with
restart from persisted state only, pauses, leadership transfers, snapshots,
membership changes with spare hosts and joint consensus), the workload
(proposals, ReadIndex and lease reads) and the core's Config. Safety is
checked as the run goes, liveness after the network heals. The same seed
always gives the same trace. Imports only `kvstore.raft` and the stdlib.

Entry points: `python -m kvstore.sim` (see `__main__`), `run_seed`, `run_seeds`.
"""

from __future__ import annotations

from kvstore.sim.checker import SafetyChecker, Violation
from kvstore.sim.runner import Summary, report, run_seed, run_seeds
from kvstore.sim.sim import SimResult, Simulation
from kvstore.sim.trace import Trace

__all__ = [
    "SafetyChecker", "SimResult", "Simulation", "Summary", "Trace", "Violation", "report",
    "run_seed", "run_seeds",
]
