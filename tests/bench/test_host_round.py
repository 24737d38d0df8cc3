"""`scripts/bench-host` (kvstore.bench.host_round): three real hosts in one process.

A smoke test of the harness, never of speed: writes must commit through the
real hosts (LMDB, writer threads, the peer-link encoding), and the figures
must be consistent with each other.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kvstore.bench.host_round import main, run

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench-host"


def test_puts_commit_through_three_hosts() -> None:
    rows = run([2], concurrency=8, duration=1.0, warmup=0.5, fsync=False)
    (r,) = rows
    assert r["shards"] == 2 and r["puts_per_s"] > 0
    assert r["cpu_us_per_put"] > 0 and r["cpu_us_per_entry"] > 0
    # Writes of one turn share an entry: never fewer than one write per entry
    # (leader no-ops aside), never more than the writers in flight.
    assert 0.9 <= r["puts_per_entry"] <= 8


def test_cli_prints_a_row_per_shard_count_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    proc = subprocess.run([str(SCRIPT), "--shards", "1,2", "--concurrency", "4", "--duration",
                           "0.5", "--warmup", "0.2", "--no-fsync", "--json", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert [ln.split("|")[1].strip() for ln in rows] == ["1", "2"]
    assert [r["shards"] for r in json.loads(path.read_text())] == [1, 2]


@pytest.mark.parametrize("args, message", [
    (["--shards", "x"], "comma-separated integers"),
    (["--shards", "0"], "between 1 and 256"),
    (["--concurrency", "0"], "--concurrency must be >= 1"),
])
def test_bad_arguments_exit_non_zero(args: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
