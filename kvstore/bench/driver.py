"""One benchmark client process: N asyncio workers, each with one op in flight.

Protocol with the parent (over a multiprocessing Pipe), once per case:
  parent -> ProcSpec                   what to run (None: exit the process);
  child -> ("ready", None)             once its client is connected;
  parent -> (warm_end, end)            absolute `time.monotonic()` deadlines, the
                                       same for every process of a case;
  child -> ("result", payload) or ("error", message).
Between ready and result the child writes its count of measured ops into
`progress[index]` every 100 ms (the parent draws the progress bar from it).

Measurement invariants: an op counts if it completes inside [warm_end, end];
its latency is `perf_counter_ns` around the awaited call (CLOCK_MONOTONIC, the
clock `time.monotonic` uses on Linux, so the deadlines are comparable across
processes). Failed ops are counted, never timed. No worker starts an op after
`end`, so the process ends within one op latency of it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from kvstore.bench.stats import Recorder
from kvstore.bench.targets import Target, bench_key, make_target

ERROR_BACKOFF_S = 0.01  # after a failed op, so a dead cluster does not become a busy loop
MAX_ERROR_SAMPLES = 3
MAX_KEY_LIST = 1_000_000


@dataclass(slots=True)
class ProcSpec:
    index: int
    system: str
    endpoints: list[str]
    workload: str
    consistency: str
    workers: int
    keys: int
    value_size: int
    read_fraction: float
    seed: int
    rpc_timeout_s: float
    expected_ops: int


class _Tally:
    __slots__ = ("error_samples", "errors", "misses")

    def __init__(self) -> None:
        self.errors = 0
        self.misses = 0
        self.error_samples: list[str] = []

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        text = f"{type(exc).__name__}: {exc}"[:300]
        if len(self.error_samples) < MAX_ERROR_SAMPLES and text not in self.error_samples:
            self.error_samples.append(text)


def child_main(conn: Connection, progress: Any) -> None:
    """Entry point of a spawned client process: run each case the parent sends.

    The process lives for a whole phase (one system), so interpreter start-up
    and imports are paid once, not per case; `None` tells it to exit."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        while (spec := conn.recv()) is not None:
            try:
                payload = asyncio.run(_run(spec, conn, progress))
            except Exception as exc:
                conn.send(("error", f"client process {spec.index}: "
                                    f"{type(exc).__name__}: {exc}"))
            else:
                conn.send(("result", payload))
    except (EOFError, KeyboardInterrupt):
        pass  # the parent went away or was interrupted: nothing left to report to
    finally:
        conn.close()


async def _run(spec: ProcSpec, conn: Connection, progress: Any) -> dict[str, Any]:
    value = os.urandom(spec.value_size)
    target = make_target(spec.system, spec.endpoints, spec.consistency, value,
                         spec.rpc_timeout_s)
    loop = asyncio.get_running_loop()
    try:
        await target.open()
        conn.send(("ready", None))
        # The parent answers once every process is ready; a blocking recv would
        # stall gRPC's callbacks on this loop, so wait in a thread.
        warm_end, end = await loop.run_in_executor(None, conn.recv)
        return await _measure(spec, target, progress, warm_end, end)
    finally:
        await target.aclose()


async def _measure(spec: ProcSpec, target: Target, progress: Any, warm_end: float,
                   end: float) -> dict[str, Any]:
    offset = time.perf_counter_ns() - time.monotonic_ns()
    warm_ns, end_ns = int(warm_end * 1e9) + offset, int(end * 1e9) + offset
    reads, writes = Recorder(spec.expected_ops), Recorder(spec.expected_ops)
    tally = _Tally()
    # Precomputed keys keep the hot loop lean; beyond MAX_KEY_LIST, building the
    # list would eat the warm-up and measured window (and memory): format per op.
    keys = [bench_key(i) for i in range(spec.keys)] if spec.keys <= MAX_KEY_LIST else None
    if spec.workload == "put":
        fraction = 0.0
    elif spec.workload == "get":
        fraction = 1.0
    else:
        fraction = spec.read_fraction
    snap: dict[str, dict[str, int]] = {}
    ticker = asyncio.ensure_future(
        _ticker(spec.index, progress, target, (reads, writes), warm_ns, end_ns, snap))
    try:
        await asyncio.gather(*(
            _worker(random.Random(spec.seed * 1_000_003 + spec.index * 10_007 + w), keys,
                    spec.keys, fraction, target, reads, writes, tally, warm_ns, end_ns)
            for w in range(spec.workers)))
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    progress[spec.index] = reads.n + writes.n
    after = target.stats()
    before = snap.get("warm", after)
    return {
        "read_ns": reads.to_bytes(), "write_ns": writes.to_bytes(),
        "errors": tally.errors, "error_samples": tally.error_samples, "misses": tally.misses,
        "rpcs": after.get("batches", 0) - before.get("batches", 0),
        "rpc_ops": after.get("ops", 0) - before.get("ops", 0),
    }


async def _worker(rng: random.Random, keys: list[bytes] | None, n: int, read_fraction: float,
                  target: Target, reads: Recorder, writes: Recorder, tally: _Tally,
                  warm_ns: int, end_ns: int) -> None:
    # The hot loop: locals only, one random draw per key (plus one per op when mixed).
    perf = time.perf_counter_ns
    rand = rng.random
    get, put = target.get, target.put
    while True:
        i = int(rand() * n)
        key = keys[i] if keys is not None else bench_key(i)
        is_read = read_fraction >= 1.0 or (read_fraction > 0.0 and rand() < read_fraction)
        t0 = perf()
        if t0 >= end_ns:
            return
        try:
            if is_read:
                found = await get(key)
            else:
                await put(key)
                found = True
        except Exception as exc:
            if perf() >= warm_ns:
                tally.error(exc)
            await asyncio.sleep(ERROR_BACKOFF_S)
            continue
        t1 = perf()
        if warm_ns <= t1 <= end_ns:
            (reads if is_read else writes).add(t1 - t0)
            if not found:
                tally.misses += 1


async def _ticker(index: int, progress: Any, target: Target, recs: tuple[Recorder, Recorder],
                  warm_ns: int, end_ns: int, snap: dict[str, dict[str, int]]) -> None:
    while True:
        now = time.perf_counter_ns()
        if "warm" not in snap and now >= warm_ns:
            snap["warm"] = target.stats()  # RPC counters at the start of the window
        progress[index] = recs[0].n + recs[1].n
        if now >= end_ns:
            return
        # Wake exactly at the window's start for the snapshot, else every 100 ms.
        wait_ns = warm_ns - now if "warm" not in snap else 100_000_000
        await asyncio.sleep(min(wait_ns, 100_000_000) / 1e9)
