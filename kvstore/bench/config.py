"""What a benchmark run measures: `BenchConfig` (validated options) and its `Case`s.

A run is the cross product workloads x consistency levels x concurrencies,
where the consistency level only varies read-bearing workloads (a put is
always a replicated, fsync'd write). Every case runs against each system
(kvstore, and etcd with `compare="etcd"`) with the same shape: N concurrent
workers, each with exactly one op in flight, split over P client processes.

Invariants: `validate()` raises `InvalidArgument` with a message naming the
option for every bad value, so the CLI can print it instead of a traceback;
`cases()` is deterministic (input order, no duplicates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kvstore.errors import InvalidArgument
from kvstore.sharding.meta import LEADER_POLICY_NAMES

WORKLOADS = ("put", "get", "mixed")
CONSISTENCY_LEVELS = ("linearizable", "lease", "sequential", "stale")
COMPARE_SYSTEMS = ("etcd",)
# How each kvstore level is matched on etcd, which offers only two kinds of Range:
# linearizable (ReadIndex through the leader) and serializable (member-local).
ETCD_READ_MODE = {"linearizable": "linearizable", "lease": "linearizable",
                  "sequential": "serializable", "stale": "serializable"}
MAX_CONCURRENCY = 10_000
MAX_PROCESSES = 64
MAX_KEYS = 10_000_000
MAX_VALUE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Case:
    """One measured cell: a workload at one consistency level and one concurrency."""

    workload: str
    consistency: str | None  # None for put: writes have no read consistency
    concurrency: int

    @property
    def label(self) -> str:
        level = f"/{self.consistency}" if self.consistency else ""
        return f"{self.workload}{level} c={self.concurrency}"


@dataclass(slots=True)
class BenchConfig:
    workloads: tuple[str, ...] = WORKLOADS
    consistency: tuple[str, ...] = ("linearizable",)
    concurrency: tuple[int, ...] = (64,)
    duration_s: float = 10.0
    warmup_s: float = 2.0
    keys: int = 1000
    value_size: int = 100
    read_fraction: float = 0.5
    processes: int = 1
    repeat: int = 1
    nodes: int = 3
    shards: int = 8
    leader_policy: str = "spread"  # for the cluster the bench starts (kvctl leader policy)
    endpoints: tuple[str, ...] = ()
    cluster_dir: str | None = None  # an existing `kvctl cluster up` directory
    compare: str | None = None
    etcd_bin: str | None = None
    etcd_members: int = 3
    work_dir: str | None = None  # where clusters keep their data (default: a temp dir)
    keep_data: bool = False
    seed: int = 1
    rpc_timeout_s: float = 5.0

    def validate(self) -> None:
        _check_subset("workload", self.workloads, WORKLOADS)
        _check_subset("consistency", self.consistency, CONSISTENCY_LEVELS)
        if not self.concurrency:
            raise InvalidArgument("--concurrency needs at least one value")
        for c in self.concurrency:
            _check_range("concurrency", c, 1, MAX_CONCURRENCY)
            if c < self.processes:
                raise InvalidArgument(f"--concurrency {c} is less than --processes "
                                      f"{self.processes}: each process needs a worker")
        _check_range("processes", self.processes, 1, MAX_PROCESSES)
        _check_range("repeat", self.repeat, 1, 100)
        _check_range("keys", self.keys, 1, MAX_KEYS)
        _check_range("value-size", self.value_size, 0, MAX_VALUE_BYTES)
        _check_range("nodes", self.nodes, 1, 7)
        _check_range("shards", self.shards, 1, 8192)
        if self.leader_policy not in LEADER_POLICY_NAMES:
            raise InvalidArgument(f"--leader-policy must be spread or pack, "
                                  f"got {self.leader_policy!r}")
        _check_range("etcd-members", self.etcd_members, 1, 7)
        if not 0.1 <= self.duration_s <= 3600:
            raise InvalidArgument(f"--duration must be between 0.1 and 3600 s, "
                                  f"got {self.duration_s}")
        if not 0 <= self.warmup_s <= 600:
            raise InvalidArgument(f"--warmup must be between 0 and 600 s, got {self.warmup_s}")
        if not 0.0 <= self.read_fraction <= 1.0:
            raise InvalidArgument(f"--read-fraction must be in [0, 1], "
                                  f"got {self.read_fraction}")
        if self.compare is not None and self.compare not in COMPARE_SYSTEMS:
            raise InvalidArgument(f"--compare: unknown system {self.compare!r}; "
                                  f"expected one of {', '.join(COMPARE_SYSTEMS)}")
        if self.endpoints and self.cluster_dir:
            raise InvalidArgument("give --endpoints or --cluster-dir, not both")
        for ep in self.endpoints:
            host, sep, port = ep.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise InvalidArgument(f"--endpoints: {ep!r} is not HOST:PORT")

    def cases(self) -> list[Case]:
        out: list[Case] = []
        for workload in self.workloads:
            levels: tuple[str | None, ...] = (None,) if workload == "put" else self.consistency
            for level in levels:
                for c in self.concurrency:
                    case = Case(workload, level, c)
                    if case not in out:
                        out.append(case)
        return out

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("workloads", "consistency", "concurrency", "endpoints"):
            d[k] = list(d[k])
        return d


def parse_list(option: str, values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Repeated and comma-separated values, in order, without duplicates ('all' = every one)."""
    out: list[str] = []
    for raw in values:
        for part in raw.split(","):
            item = part.strip().lower()
            if item and item not in out:
                out.append(item)
    if not out:
        raise InvalidArgument(f"--{option} needs at least one value")
    if option in ("workload", "consistency") and "all" in out:
        return WORKLOADS if option == "workload" else CONSISTENCY_LEVELS
    return tuple(out)


def parse_ints(option: str, values: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    out: list[int] = []
    for item in parse_list(option, values):
        try:
            n = int(item)
        except ValueError:
            raise InvalidArgument(f"--{option}: {item!r} is not an integer") from None
        if n not in out:
            out.append(n)
    return tuple(out)


def _check_subset(option: str, got: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    if not got:
        raise InvalidArgument(f"--{option} needs at least one value")
    bad = [g for g in got if g not in allowed]
    if bad:
        raise InvalidArgument(f"--{option}: unknown {', '.join(map(repr, bad))}; "
                              f"expected {', '.join(allowed)} or all")


def _check_range(option: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise InvalidArgument(f"--{option} must be between {lo} and {hi}, got {value}")
