"""BenchConfig: every bad option becomes an InvalidArgument naming it; cases expand in order."""

from __future__ import annotations

import pytest

from kvstore.bench.config import (
    CONSISTENCY_LEVELS,
    WORKLOADS,
    BenchConfig,
    Case,
    parse_ints,
    parse_list,
)
from kvstore.errors import InvalidArgument


def test_cases_cross_reads_with_levels_but_not_puts() -> None:
    cfg = BenchConfig(workloads=("put", "get"), consistency=("linearizable", "stale"),
                      concurrency=(64, 256))
    assert cfg.cases() == [
        Case("put", None, 64), Case("put", None, 256),
        Case("get", "linearizable", 64), Case("get", "linearizable", 256),
        Case("get", "stale", 64), Case("get", "stale", 256),
    ]
    assert Case("get", "stale", 64).label == "get/stale c=64"
    assert Case("put", None, 8).label == "put c=8"


def test_list_options_split_commas_dedupe_and_expand_all() -> None:
    assert parse_list("workload", ["put,get", "put"]) == ("put", "get")
    assert parse_list("workload", ["all"]) == WORKLOADS
    assert parse_list("consistency", ["ALL"]) == CONSISTENCY_LEVELS
    assert parse_ints("concurrency", ["64,256", "64"]) == (64, 256)
    with pytest.raises(InvalidArgument, match="--concurrency: 'x' is not an integer"):
        parse_ints("concurrency", ["64,x"])
    with pytest.raises(InvalidArgument, match="needs at least one value"):
        parse_list("workload", [" , "])


@pytest.mark.parametrize(("changes", "message"), [
    ({"workloads": ("put", "scan")}, "--workload: unknown 'scan'"),
    ({"consistency": ("strong",)}, "--consistency: unknown 'strong'"),
    ({"concurrency": (0,)}, "--concurrency must be between 1"),
    ({"concurrency": (2,), "processes": 4}, "less than --processes 4"),
    ({"processes": 0}, "--processes must be between 1"),
    ({"duration_s": 0.0}, "--duration must be between"),
    ({"warmup_s": -1.0}, "--warmup must be between"),
    ({"keys": 0}, "--keys must be between"),
    ({"value_size": -1}, "--value-size must be between"),
    ({"read_fraction": 1.5}, "--read-fraction must be in"),
    ({"nodes": 9}, "--nodes must be between"),
    ({"leader_policy": "random"}, "--leader-policy must be spread or pack"),
    ({"compare": "redis"}, "--compare: unknown system 'redis'"),
    ({"endpoints": ("localhost",)}, "'localhost' is not HOST:PORT"),
    ({"endpoints": ("h:1",), "cluster_dir": "/x"}, "not both"),
])
def test_bad_options_are_named(changes: dict[str, object], message: str) -> None:
    cfg = BenchConfig(**changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        cfg.validate()


def test_defaults_are_valid_and_serialisable() -> None:
    cfg = BenchConfig()
    cfg.validate()
    d = cfg.as_dict()
    assert d["workloads"] == list(WORKLOADS) and d["concurrency"] == [64]
