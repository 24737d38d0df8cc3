"""kvstore.bench.stats: nearest-rank percentiles, the growing recorder, /proc CPU reading."""

from __future__ import annotations

import os
import random
import time

import pytest

from kvstore.bench.stats import (
    Recorder,
    from_bytes,
    fs_type,
    median_or_none,
    percentile,
    proc_cpu_s,
    summarize,
    total_cpu_s,
)


def test_nearest_rank_percentiles_are_observed_values() -> None:
    data = list(range(1, 1001))  # 1..1000
    assert percentile(data, 0.50) == 500
    assert percentile(data, 0.99) == 990
    assert percentile(data, 0.999) == 999
    assert percentile(data, 1.0) == 1000
    assert percentile([7], 0.999) == 7
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_summarize_in_milliseconds_and_order_independent() -> None:
    ns = [i * 1_000_000 for i in range(1, 101)]  # 1..100 ms
    shuffled = ns[:]
    random.Random(3).shuffle(shuffled)
    s = summarize(shuffled)
    assert s == summarize(ns)
    assert s["count"] == 100 and s["p50_ms"] == 50.0 and s["p99_ms"] == 99.0
    assert s["p999_ms"] == 100.0 and s["max_ms"] == 100.0 and s["mean_ms"] == 50.5
    empty = summarize([])
    assert empty["count"] == 0 and empty["p99_ms"] is None


def test_recorder_grows_past_its_preallocation_and_round_trips() -> None:
    a, b = Recorder(expected=16), Recorder(expected=16)
    for i in range(100):
        a.add(i)
    b.add(-5)
    assert a.n == 100 and list(a.values()) == list(range(100))
    merged = from_bytes([a.to_bytes(), b.to_bytes()])
    assert list(merged) == [*range(100), -5]


def test_median_ignores_unknown_values() -> None:
    assert median_or_none([3.0, None, 1.0, 2.0]) == 2.0
    assert median_or_none([None, None]) is None


def test_proc_cpu_reads_this_process_and_rejects_a_dead_pid() -> None:
    before = proc_cpu_s(os.getpid())
    assert before is not None
    end = time.process_time() + 0.15
    while time.process_time() < end:  # burn CPU so the kernel's tick counter moves
        pass
    after = proc_cpu_s(os.getpid())
    assert after is not None and after - before >= 0.05
    assert proc_cpu_s(2**22 + 12345) is None  # above pid_max's default: never a live pid
    assert total_cpu_s([os.getpid(), 2**22 + 12345]) is None


def test_fs_type_finds_the_mount() -> None:
    assert fs_type("/proc/self") == "proc"
    assert fs_type("/") not in ("", "unknown")
