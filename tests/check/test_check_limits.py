"""Bounds: time limit and memory cap give `unknown`; parallel partitions agree with
in-process ones and the first illegal partition stops the rest."""

from __future__ import annotations

import os
import time

from _check_support import TESTDATA, hard, hard_history

from kvstore.check import Operation, RegisterModel, Verdict, check, load_history, make_history
from kvstore.check.checker import PROBE_STEPS
from kvstore.check.models import StepFn
from kvstore.check.search import POLL_STEPS


def test_time_limit_gives_unknown_not_ok() -> None:
    start = time.monotonic()
    result = check(hard(24), "register", timeout_s=0.3)
    elapsed = time.monotonic() - start
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason == "time limit reached"
    assert result.partitions[0].steps >= POLL_STEPS
    assert elapsed < 5


def test_same_history_is_decided_without_a_limit() -> None:
    # The hard history is genuinely not linearizable when small enough to finish.
    result = check(hard(8), "register")
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.partitions[0].cache_size >= 2**8


def test_memory_cap_gives_unknown() -> None:
    result = check(hard(24), "register", timeout_s=60, max_memory_bytes=8 * 1024 * 1024)
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason == "memory cap reached"


def test_parallel_matches_in_process_on_kv_files() -> None:
    for name in ("kv/c10-ok.txt", "kv/c10-bad.txt"):
        history = load_history(TESTDATA / name)
        inline = check(history, "kv", parallel=False)
        spread = check(history, "kv", parallel=True, workers=2, timeout_s=60)
        assert spread.verdict is inline.verdict
        assert all(p.pid != os.getpid() for p in spread.partitions)
        if inline.verdict is Verdict.LINEARIZABLE:
            assert len(spread.partitions) == len(inline.partitions) == 10


def test_auto_mode_sends_partitions_past_the_probe_to_workers() -> None:
    # With a one-step probe, every partition of these files outgrows it.
    ok = load_history(TESTDATA / "kv" / "c10-ok.txt")
    result = check(ok, "kv", probe_steps=1, workers=2, timeout_s=60)
    assert result.verdict is Verdict.LINEARIZABLE
    assert len(result.partitions) == 10
    assert all(p.pid != os.getpid() for p in result.partitions)
    bad = load_history(TESTDATA / "kv" / "c10-bad.txt")
    assert check(bad, "kv", probe_steps=1, workers=2).verdict is Verdict.NOT_LINEARIZABLE


def test_auto_mode_keeps_easy_partitions_in_process() -> None:
    # The default probe is ample for these: the same verdicts, no workers needed.
    ok = load_history(TESTDATA / "kv" / "c10-ok.txt")
    result = check(ok, "kv")
    assert result.verdict is Verdict.LINEARIZABLE
    assert max(p.steps for p in result.partitions) < PROBE_STEPS
    assert all(p.pid == os.getpid() for p in result.partitions)


def test_parallel_stops_at_first_illegal_partition() -> None:
    # Key "hard" would run for ages; key "bad" is illegal at once. The check
    # must return "not linearizable" without waiting for "hard".
    rows = hard_history(40, key="hard")
    rows += [(100, "put", "bad", "v", None, 0.0, 1.0), (101, "get", "bad", None, "w", 2.0, 3.0)]
    start = time.monotonic()
    result = check(make_history(rows), "kv", parallel=True, workers=2, timeout_s=60)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.failing is not None and result.failing.key == "bad"
    assert time.monotonic() - start < 30


def test_parallel_time_limit_gives_unknown() -> None:
    rows = hard_history(40, key="h1") + hard_history(40, key="h2", client0=100)
    result = check(make_history(rows), "kv", parallel=True, workers=2, timeout_s=1.0)
    assert result.verdict is Verdict.UNKNOWN


class ExitingModel(RegisterModel):
    """A register whose step function kills the process that runs it."""

    name = "exiting"

    def step_fn(self, op: Operation) -> StepFn:
        os._exit(3)


def test_crashed_worker_gives_unknown() -> None:
    rows = [(0, "write", "a", "1", None, 0.0, 1.0), (1, "write", "b", "1", None, 0.0, 1.0)]
    result = check(make_history(rows), ExitingModel(), parallel=True, workers=2, timeout_s=60)
    assert result.verdict is Verdict.UNKNOWN
    assert "crashed" in result.reason
