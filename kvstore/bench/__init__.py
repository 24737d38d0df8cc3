"""Benchmarks of a running kvstore (and optionally etcd) with real client processes.

    from kvstore.bench import BenchConfig, run_bench
    report = run_bench(BenchConfig(workloads=("put",), concurrency=(64,), duration_s=5))

Modules: `config` (options, cases), `systems` (start/stop the clusters),
`runner` (phases, client processes, CPU sampling), `driver` (the client
process: asyncio workers with one op in flight each), `targets` (put/get on
kvstore's KVClient and on etcd's v3 gRPC API), `stats` (latencies, /proc CPU),
`report` (medians, comparison, the JSON document), `etcd/` (a minimal etcd
v3 proto and a loopback etcd launcher). `kvctl bench` is the front end.
Benchmarks never assert speed in tests; only that they run and report sanely.
"""

from kvstore.bench.config import BenchConfig, Case
from kvstore.bench.runner import BenchUI, QuietUI, run_bench

__all__ = ["BenchConfig", "BenchUI", "Case", "QuietUI", "run_bench"]
