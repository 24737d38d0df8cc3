"""The deterministic cluster simulator over the real Raft core.

CI budget (2 cores): >= 300 seeds for 3 and for 5 nodes at `CI_STEPS` ticks
of chaos each, plus the broken-variant run: about 60 s of CPU, 30-40 s of
wall time on an idle 2-core machine. The long run (`-m long`) is the issue's
"2000 seeds" acceptance run at the default number of steps.
"""

from __future__ import annotations

import pytest

from kvstore.sim import SimResult, Trace, report, run_seed, run_seeds
from kvstore.sim.__main__ import DEFAULT_STEPS

CI_SEEDS = 300
CI_STEPS = 400
JOBS = 2
SAFETY_RULES = {"leader completeness", "state machine safety", "acked proposal lost",
                "log matching"}


def _fail_text(failures: list[SimResult]) -> str:
    return "\n\n".join(report(f) for f in failures[:3])


@pytest.mark.parametrize("nodes", [3, 5])
def test_ci_seed_budget_has_no_violations(nodes: int) -> None:
    s = run_seeds(range(CI_SEEDS), nodes, CI_STEPS, jobs=JOBS)
    assert s.seeds == CI_SEEDS
    assert not s.failures, _fail_text(s.failures)
    assert s.commits > 20 * CI_SEEDS  # the workload really commits under faults
    # The budget really exercises the whole fault mix and every feature.
    for what in ("crashes", "partitions", "pauses", "transfers", "leader_kills", "elections",
                 "snapshot_msgs", "installs", "compactions", "read_states", "lease_reads"):
        assert s.stats[what] >= 10, (what, s.coverage())


def check_broken_is_caught(nodes: int, seeds: int, steps: int) -> None:
    s = run_seeds(range(seeds), nodes, steps, broken="commit-old-term", jobs=JOBS,
                  stop_after=1)
    assert s.failures, f"broken core survived {s.seeds} seeds: the schedule is too weak"
    bad = s.failures[0]
    assert bad.rule in SAFETY_RULES, report(bad)
    # The failing seed replays to the same violation, and the real core survives it.
    again = run_seed(bad.seed, nodes, steps, broken="commit-old-term")
    assert (again.rule, again.details, again.digest) == (bad.rule, bad.details, bad.digest)
    assert run_seed(bad.seed, nodes, steps).ok


def test_broken_commit_old_term_is_caught_within_the_ci_budget() -> None:
    """With §5.4.2 disabled, random schedules must expose Figure 8 (the checker can fail).

    About 1 seed in 40 catches it with 3 nodes (the first is seed 17 today);
    with 5 nodes about 1 in 100, so that case runs in the long suite.
    """
    check_broken_is_caught(3, CI_SEEDS, CI_STEPS)


@pytest.mark.long
def test_broken_commit_old_term_is_caught_with_5_nodes() -> None:
    check_broken_is_caught(5, 2000, CI_STEPS)


def test_same_seed_same_trace() -> None:
    a_lines: list[str] = []
    b_lines: list[str] = []
    a = run_seed(7, 5, 300, trace=Trace(echo=a_lines.append))
    b = run_seed(7, 5, 300, trace=Trace(echo=b_lines.append))
    assert a.ok and b.ok
    assert a_lines == b_lines and len(a_lines) > 1000
    assert a.digest == b.digest
    assert a.digest != run_seed(8, 5, 300).digest


def test_results_do_not_depend_on_the_number_of_jobs() -> None:
    seen1: list[tuple[int, int, int]] = []
    seen2: list[tuple[int, int, int]] = []
    run_seeds(range(12), 3, 200, jobs=1, on_result=lambda r: seen1.append(
        (r.seed, r.digest, r.commits)))
    run_seeds(range(12), 3, 200, jobs=2, on_result=lambda r: seen2.append(
        (r.seed, r.digest, r.commits)))
    assert seen1 == seen2 and [s for s, _d, _c in seen1] == list(range(12))


@pytest.mark.long
@pytest.mark.parametrize("nodes", [3, 5])
def test_long_run_2000_seeds(nodes: int) -> None:
    s = run_seeds(range(2000), nodes, DEFAULT_STEPS, jobs=JOBS)
    print(f"nodes={nodes} {s.line()}")
    assert not s.failures, _fail_text(s.failures)
