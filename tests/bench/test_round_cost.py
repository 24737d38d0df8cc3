"""`scripts/bench-round` (kvstore.bench.round_cost): it runs and reports sane figures.

A smoke test of the harness, never of speed: the rounds must really commit
(the harness raises otherwise) and every figure must be a positive CPU time.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kvstore.bench.round_cost import Trio, main, measure

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench-round"


@pytest.mark.parametrize("wire", [False, True])
def test_every_proposal_commits_on_all_three_members(wire: bool) -> None:
    trio = Trio(wire)
    start = trio.leader.log.committed
    for i in range(20):
        trio.leader.propose(b"x%d" % i)
        committed = trio.settle()
        assert [e.data for e in committed] == [b"x%d" % i]
    for c in trio.cores.values():
        assert c.log.committed == start + 20
        assert c.log.storage.last_index() == start + 20


def test_measure_reports_each_component() -> None:
    out = measure(rounds=30, ops=4)
    assert set(out) == {"core", "core+wire", "apply"}
    assert all(v > 0 for v in out.values())


def test_cli_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    proc = subprocess.run([str(SCRIPT), "--rounds", "20", "--repeat", "2", "--json", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "core+wire" in proc.stdout
    res = json.loads(path.read_text())
    assert res["rounds"] == 20 and len(res["runs"]) == 2
    assert set(res["cpu_us_per_round"]) == {"core", "core+wire", "apply"}


def test_bad_arguments_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--rounds", "0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err
