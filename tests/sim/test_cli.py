"""`python -m kvstore.sim` as a user runs it: summary line, exit codes, replay."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from kvstore.sim import run_seed

SUMMARY = re.compile(
    r"^seeds=(\d+) violations=(\d+) commits=(\d+) conf_changes=(\d+) elapsed=[\d.]+s "
    r"commits_per_sec=\d+ seeds_per_min=\d+$", re.M)


def sim(*args: str, hash_seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "kvstore.sim", *args], capture_output=True,
                          text=True, timeout=240, check=False, env=env)


def test_one_seed_gives_the_same_digest_in_any_process() -> None:
    """str hashes differ per process (PYTHONHASHSEED); the trace digest must not."""
    want = f"digest={run_seed(3, 3, 200).digest:#x}"
    for hash_seed in ("1", "2"):
        out = sim("--seed", "3", "--steps", "200", hash_seed=hash_seed)
        assert out.returncode == 0, out.stdout
        assert want in out.stdout, (hash_seed, out.stdout)


def test_clean_run_prints_the_summary_and_exits_zero() -> None:
    out = sim("--seeds", "4", "--nodes", "5", "--steps", "200")
    assert out.returncode == 0, out.stdout + out.stderr
    m = SUMMARY.search(out.stdout)
    assert m is not None, out.stdout
    assert m.group(1) == "4" and m.group(2) == "0" and int(m.group(3)) > 0
    assert "VIOLATION" not in out.stdout


def test_membership_flag_counts_committed_conf_changes() -> None:
    counts = {}
    for mode in ("always", "never"):
        out = sim("--seeds", "3", "--steps", "300", "--membership", mode)
        assert out.returncode == 0, out.stdout + out.stderr
        m = SUMMARY.search(out.stdout)
        assert m is not None and m.group(2) == "0", out.stdout
        counts[mode] = int(m.group(4))
    assert counts["always"] > 0 and counts["never"] == 0


def test_broken_core_fails_with_a_report_and_the_replay_reproduces_it() -> None:
    out = sim("--seeds", "300", "--steps", "400", "--broken", "commit-old-term",
              "--stop-after", "1", "--jobs", "2")
    assert out.returncode == 1, out.stdout + out.stderr
    head = re.search(r"^VIOLATION seed=(\d+) nodes=3: ([a-z ]+): ", out.stdout, re.M)
    assert head is not None, out.stdout
    assert "last trace lines:" in out.stdout
    m = SUMMARY.search(out.stdout)
    assert m is not None and m.group(2) == "1"
    repro = re.search(r"^reproduce with: python -m kvstore\.sim (.*)$", out.stdout, re.M)
    assert repro is not None
    args = repro.group(1).split()
    assert args == ["--seed", head.group(1), "--nodes", "3", "--steps", "400", "--trace"]
    replay = sim(*args, "--broken", "commit-old-term")
    assert replay.returncode == 1
    assert f"VIOLATION seed={head.group(1)} nodes=3: {head.group(2)}: " in replay.stdout
    assert replay.stdout.count(" deliver ") > 100  # --trace printed the whole run


def test_bad_arguments_exit_2_with_a_message() -> None:
    for args, msg in [(["--nodes", "4"], "invalid choice"),
                      (["--seeds", "0"], "must be positive"),
                      (["--seeds", "x"], "not an integer"),
                      (["--trace"], "--trace needs --seed"),
                      (["--broken", "nope"], "invalid choice"),
                      (["--membership", "sometimes"], "invalid choice")]:
        out = sim(*args)
        assert out.returncode == 2, args
        assert msg in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
