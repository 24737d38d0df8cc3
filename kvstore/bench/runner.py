"""Running a benchmark: phases per system, cases per phase, client processes per case.

`run_bench(cfg, ui)` does, for each repetition and each system (kvstore, then
etcd when comparing): start the system, preload the key space if a case reads,
run every case, stop the system. Alternating systems per repetition spreads
the noise of a shared machine over both. It returns the report
(`kvstore.bench.report.build_report`).

Each phase has a `ClientPool` of `cfg.processes` spawned client processes.
`run_case` splits the concurrency over them, releases them together with one
shared (warm_end, end) window, samples the CPU time of the server processes
and of the client processes at both edges of the window, and merges the
latencies. Children are always reaped, even on errors. As with any use of the
spawn start method, a script calling `run_bench` needs the
`if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from kvstore.bench.config import BenchConfig, Case
from kvstore.bench.driver import ProcSpec, child_main
from kvstore.bench.etcd.cluster import find_etcd
from kvstore.bench.report import build_report, case_result
from kvstore.bench.stats import from_bytes, total_cpu_s
from kvstore.bench.systems import SystemHandle, open_system
from kvstore.bench.targets import preload
from kvstore.errors import InternalError, Unavailable

READY_TIMEOUT_S = 60.0
START_SLACK_S = 0.05  # from the release message to the start of the warm-up
RESULT_GRACE_S = 30.0
IDLE_SAMPLE_S = 1.0  # after the window, for in-flight ops and result transfer


class BenchUI(Protocol):
    def note(self, message: str) -> None: ...
    def case_started(self, label: str, total_s: float) -> None: ...
    def tick(self, elapsed_s: float, measured_ops: int) -> None: ...
    def case_done(self, result: dict[str, Any]) -> None: ...


class QuietUI:
    """A BenchUI that shows nothing (library use and tests)."""

    def note(self, message: str) -> None:
        return None

    def case_started(self, label: str, total_s: float) -> None:
        return None

    def tick(self, elapsed_s: float, measured_ops: int) -> None:
        return None

    def case_done(self, result: dict[str, Any]) -> None:
        return None


def run_bench(cfg: BenchConfig, ui: BenchUI | None = None) -> dict[str, Any]:
    cfg.validate()
    ui = ui or QuietUI()
    systems = ["kvstore"]
    etcd_bin, skipped = None, ""
    if cfg.compare == "etcd":
        etcd_bin, skipped = find_etcd(cfg.etcd_bin)
        if etcd_bin is None:
            ui.note(f"skipping the etcd comparison: {skipped}")
        else:
            systems.append("etcd")
    root = Path(cfg.work_dir or tempfile.mkdtemp(prefix="kvbench-"))
    root.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    infos: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    for rep in range(cfg.repeat):
        for system in systems:
            # On failure the data dir stays: the error message points at its logs.
            with open_system(system, cfg, root / f"{system}-{rep}", etcd_bin) as handle:
                infos[system] = handle.info
                results += _run_phase(handle, cfg, rep, ui)
    if not cfg.keep_data and cfg.work_dir is None:
        shutil.rmtree(root, ignore_errors=True)
    env = {"load_avg_before": load_before, "load_avg_after": os.getloadavg(),
           "data_dir": str(root) if cfg.keep_data or cfg.work_dir else None}
    return build_report(cfg, results, infos, etcd_skipped=skipped, env=env)


def _run_phase(handle: SystemHandle, cfg: BenchConfig, rep: int,
               ui: BenchUI) -> list[dict[str, Any]]:
    cases = cfg.cases()
    if handle.pids:
        # Ticks and heartbeats cost CPU without load; at low throughput this
        # baseline dominates CPU per op, so the report carries it.
        before = total_cpu_s(handle.pids)
        time.sleep(IDLE_SAMPLE_S)
        after = total_cpu_s(handle.pids)
        if before is not None and after is not None:
            handle.info["idle_cpu_cores"] = round((after - before) / IDLE_SAMPLE_S, 3)
    if any(c.workload != "put" for c in cases):
        ui.note(f"{handle.name}: preloading {cfg.keys} keys")
        asyncio.run(preload(handle.name, handle.endpoints, cfg.keys, os.urandom(cfg.value_size),
                            cfg.rpc_timeout_s))
    out = []
    with ClientPool(cfg.processes) as pool:
        for case in cases:
            suffix = f" #{rep + 1}" if cfg.repeat > 1 else ""
            ui.case_started(f"{handle.name} {case.label}{suffix}",
                            cfg.warmup_s + cfg.duration_s)
            raw = run_case(handle, case, cfg, ui, pool)
            result = case_result(handle.name, case, cfg, raw, rep)
            ui.case_done(result)
            out.append(result)
    return out


class ClientPool:
    """`processes` spawned client processes (`driver.child_main`) serving one phase.

    Spawn, not fork: a forked gRPC runtime is unsafe. Closing asks each child
    to exit, then kills whichever has not after a grace period."""

    def __init__(self, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self.progress: Any = ctx.Array("q", processes, lock=False)
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        try:
            for i in range(processes):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=child_main, args=(child, self.progress), daemon=True,
                                name=f"kvbench-client-{i}")
                p.start()
                child.close()
                self.procs.append(p)
                self.conns.append(parent)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self) -> None:
        for c in self.conns:
            with contextlib.suppress(OSError):  # that child may be gone already
                c.send(None)
            c.close()
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        self.conns, self.procs = [], []


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run_case(handle: SystemHandle, case: Case, cfg: BenchConfig, ui: BenchUI,
             pool: ClientPool) -> dict[str, Any]:
    """Run one case against one running system; raw merged measurements."""
    expected = int(min(2_000_000, 20_000 * cfg.duration_s / cfg.processes))
    for i, (conn, workers) in enumerate(zip(pool.conns, _split(case.concurrency,
                                                               cfg.processes), strict=True)):
        pool.progress[i] = 0
        conn.send(ProcSpec(i, handle.name, handle.endpoints, case.workload,
                           case.consistency or "linearizable", workers, cfg.keys,
                           cfg.value_size, cfg.read_fraction, cfg.seed, cfg.rpc_timeout_s,
                           expected))
    _await_all(pool.conns, "ready", READY_TIMEOUT_S)
    warm_end = time.monotonic() + START_SLACK_S + cfg.warmup_s
    end = warm_end + cfg.duration_s
    for c in pool.conns:
        c.send((warm_end, end))
    release = warm_end - cfg.warmup_s
    cpu0 = _cpu_at(warm_end, handle.pids, pool.pids, pool.progress, ui, release)
    cpu1 = _cpu_at(end, handle.pids, pool.pids, pool.progress, ui, release)
    payloads = _await_all(pool.conns, "result", RESULT_GRACE_S + cfg.rpc_timeout_s)
    return _merge(payloads, cpu0, cpu1)


def _cpu_at(when: float, server_pids: list[int], client_pids: list[int], progress: Any,
            ui: BenchUI, release: float) -> tuple[float | None, float | None]:
    """Sleep until `when` (drawing progress), then read server and client CPU seconds."""
    while (now := time.monotonic()) < when:
        ui.tick(max(0.0, now - release), sum(progress))
        time.sleep(min(0.1, when - now))
    servers = total_cpu_s(server_pids) if server_pids else None
    return servers, total_cpu_s(client_pids)


def _await_all(conns: list[Connection], kind: str, timeout: float) -> list[Any]:
    """The payload of a `kind` message from every child, in order; errors raise."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(conns):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable(f"client processes did not report '{kind}' within "
                              f"{timeout:.0f}s")
        pending = {id(c): i for i, c in enumerate(conns) if i not in got}
        for ready in wait([conns[i] for i in pending.values()], remaining):
            i = pending[id(ready)]
            try:
                tag, payload = conns[i].recv()
            except EOFError:
                raise InternalError(f"client process {i} died before '{kind}' "
                                    "(see its output above)") from None
            if tag == "error":
                raise Unavailable(str(payload))
            if tag != kind:
                raise InternalError(f"client process {i} sent {tag!r}, expected {kind!r}")
            got[i] = payload
    return [got[i] for i in range(len(conns))]


def _merge(payloads: list[dict[str, Any]], cpu0: tuple[float | None, float | None],
           cpu1: tuple[float | None, float | None]) -> dict[str, Any]:
    def delta(i: int) -> float | None:
        a, b = cpu0[i], cpu1[i]
        return None if a is None or b is None else round(b - a, 3)

    return {
        "read_ns": from_bytes(p["read_ns"] for p in payloads),
        "write_ns": from_bytes(p["write_ns"] for p in payloads),
        "errors": sum(p["errors"] for p in payloads),
        "error_samples": [s for p in payloads for s in p["error_samples"]][:5],
        "misses": sum(p["misses"] for p in payloads),
        "rpcs": sum(p["rpcs"] for p in payloads),
        "rpc_ops": sum(p["rpc_ops"] for p in payloads),
        "server_cpu_s": delta(0),
        "client_cpu_s": delta(1),
    }
