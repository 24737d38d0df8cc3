"""The recorder writes what the checker reads; key rotation bounds ops per key."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from kvstore.chaos.recorder import Recorder, load_ops
from kvstore.chaos.workload import KeySpace, Op, Outcome, make_workload
from kvstore.check import Verdict, check, load_history


def test_key_space_moves_a_slot_to_a_fresh_key_after_ops_per_key() -> None:
    space = KeySpace("r", 2, 3)
    rng = random.Random(1)
    picks = [space.pick(rng) for _ in range(60)]
    for key in set(picks):
        assert picks.count(key) <= 3
    assert space.all_keys() == list(dict.fromkeys(picks))
    with pytest.raises(ValueError):
        KeySpace("r", 0, 3)


def test_recorded_history_parses_back_with_the_right_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    rec = Recorder(path)
    rec.invoke(0, Op("write", "k", "1"))
    rec.complete(0, Outcome("ok", "1"))
    rec.invoke(1, Op("cas", "k", ("9", "2")))
    rec.complete(1, Outcome("fail", ("9", "2"), "NotSwapped: x"))  # definite: dropped
    rec.invoke(0, Op("write", "k", "3"))
    rec.complete(0, Outcome("info", error="Timeout: y"))
    rec.invoke(2, Op("read", "k"))
    rec.complete(2, Outcome("ok", "1"))
    rec.invoke(3, Op("cas", "k", ("1", "4")))  # never completes: indeterminate
    rec.close()
    assert rec.counts == {"ok": 2, "fail": 1, "info": 2}
    history = load_history(path, "jsonl")
    assert [(op.f, op.indeterminate) for op in history.ops] == [
        ("write", False), ("write", True), ("read", False), ("cas", True)]
    assert history.dropped == {"fail": 1}
    assert check(history, "register").verdict is Verdict.LINEARIZABLE
    ops = load_ops(path)
    assert [(o.process, o.type, o.ret_ns is None) for o in ops] == [
        (0, "ok", False), (1, "fail", False), (0, "info", False), (2, "ok", False),
        (3, "info", True)]
    assert all(o.ret_ns is None or o.ret_ns >= o.call_ns for o in ops)


def test_a_stale_read_recorded_ok_is_caught_by_the_checker(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    rec = Recorder(path)
    rec.invoke(0, Op("write", "k", "1"))
    rec.complete(0, Outcome("ok", "1"))
    rec.invoke(0, Op("write", "k", "2"))
    rec.complete(0, Outcome("ok", "2"))
    rec.invoke(1, Op("read", "k"))
    rec.complete(1, Outcome("ok", "1"))  # after write 2 completed: stale
    rec.close()
    assert check(load_history(path, "jsonl"), "register").verdict is Verdict.NOT_LINEARIZABLE


def test_recorder_refuses_a_second_op_in_flight(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "h.jsonl")
    rec.invoke(0, Op("read", "k"))
    with pytest.raises(RuntimeError, match="in flight"):
        rec.invoke(0, Op("read", "k"))
    rec.close()


@pytest.mark.parametrize("name,fs", [("register", {"read", "write", "cas"}),
                                     ("kv", {"get", "put", "append"})])
def test_workload_ops_are_the_models_ops_with_unique_written_values(name: str,
                                                                     fs: set[str]) -> None:
    wl = make_workload(name, keys=4, ops_per_key=50)
    rng = random.Random(3)
    ops = [wl.next_op(rng) for _ in range(2000)]
    assert {op.f for op in ops} == fs
    written = [op.value[1] if isinstance(op.value, tuple) else op.value
               for op in ops if op.f not in ("read", "get")]
    assert len(written) == len(set(written))


def test_unknown_workload_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        make_workload("bank")


def test_recovery_time_is_from_a_faults_stop_to_the_next_ok_op() -> None:
    from kvstore.chaos.recorder import OpRecord
    from kvstore.chaos.report import recovery_times

    s = 1_000_000_000
    timeline = [{"time": 0, "type": "begin", "fault": "none"},
                {"time": 1 * s, "type": "start", "fault": "kill"},
                {"time": 3 * s, "type": "stop", "fault": "kill"},
                {"time": 5 * s, "type": "start", "fault": "pause"},
                {"time": 6 * s, "type": "heal", "fault": "all"}]
    ops = [OpRecord(0, "read", "ok", 0, s // 2),
           OpRecord(1, "write", "info", 2 * s, 4 * s),  # not ok: does not count
           OpRecord(2, "read", "ok", 3 * s, 4 * s + s // 2),
           OpRecord(3, "read", "ok", 4 * s, 5 * s)]
    assert recovery_times(ops, timeline) == [("kill", 1.5), ("pause", None)]


def test_plots_degrade_to_a_clear_message_without_matplotlib(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kvstore.chaos.plots import write_plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    files, message = write_plots(tmp_path, [], [], 0)
    assert files == []
    assert "matplotlib is not installed" in message and "pip install matplotlib" in message
    assert list(tmp_path.iterdir()) == []
