"""Crash consistency: SIGKILL a real writer process mid-loop, reopen, check the store.

The writer (`crash_writer.py`) commits one fsync'd group-commit batch per turn
and prints each turn's applied indexes after commit. After each kill:
everything it printed is durable, each group's log is contiguous, and the
applied index, hard state commit and KV data agree exactly (apply writes and
the applied index share one transaction). The writer is restarted on the same
directory each round, so recovery is also exercised by continued writing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvstore.raft import codec
from kvstore.storage import NodeStore
from kvstore.storage.kvdata import kv_get, kv_scan
from kvstore.storage.layout import group_prefix, log_key, split_log_key

REPO = Path(__file__).resolve().parents[2]
GROUPS = 6


def run_and_kill(path: Path, rng: random.Random) -> list[int]:
    """Start the writer, SIGKILL it after a random number of turns; last printed applied."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_writer", str(path), str(GROUPS)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    target = rng.randint(3, 80)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if len(lines) >= target:
            break
    time.sleep(rng.random() * 0.02)
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    lines += out.splitlines()
    assert proc.returncode == -signal.SIGKILL, err
    assert lines, err
    return [int(x) for x in lines[-1].split()[2:]]


def check_consistent(path: Path, durable: list[int], seed: int) -> None:
    with NodeStore(path, map_size=1 << 30, sync=False) as s:
        assert s.group_ids() == list(range(1, GROUPS + 1))
        with s.read() as txn:
            for gid, must_have in zip(s.group_ids(), durable, strict=True):
                g = s.group(gid)
                applied, first, last = s.applied_index(gid), g.first_index(), g.last_index()
                ctx = f"group {gid} (reproduce with seed {seed})"
                assert applied >= must_have, ctx
                assert applied == last == g.initial_state()[0].commit, ctx
                cur = txn.cursor(db=s.log_db)
                assert cur.set_range(log_key(gid, 0)), ctx
                seen = []
                for key, raw in cur:
                    kg, index = split_log_key(key)
                    if kg != gid:
                        break
                    assert codec.decode_entry(raw).data == b"e%d" % index, ctx
                    seen.append(index)
                assert seen == list(range(first, last + 1)), ctx
                prefix = group_prefix(gid)
                assert kv_get(txn, s.kv_db, prefix, b"last") == b"%d" % applied, ctx
                keys = [k for k, _ in kv_scan(txn, s.kv_db, prefix, b"k", b"l", 10**7)]
                assert keys == [b"k%08d" % i for i in range(1, applied + 1)], ctx


@pytest.mark.parametrize("rounds", [3, pytest.param(25, marks=pytest.mark.long)])
def test_sigkill_mid_write_loop_leaves_a_consistent_store(tmp_path: Path, rounds: int) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for _ in range(rounds):
        durable = run_and_kill(tmp_path, rng)
        check_consistent(tmp_path, durable, seed)
