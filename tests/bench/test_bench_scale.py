"""`scripts/bench-scale` end to end in smoke mode: real node processes and client processes.

Smoke tests of the harness only (it runs, prints the table, writes sane JSON);
no assertion depends on how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from kvstore.bench.scale import TABLE_HEADER
from kvstore.bench.scale_cli import _node_options
from kvstore.bench.scale_disk import DISK_HEADER
from kvstore.bench.scale_keys import KEYS_HEADER

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench-scale"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def table_rows(stdout: str, header: tuple[str, ...]) -> list[list[str]]:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("|")]
    assert lines[0] == "| " + " | ".join(header) + " |"
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def test_shards_smoke_prints_one_row_per_shard_count(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = run("shards", "--smoke", "--json", str(out), "--dir", str(tmp_path / "d"),
               "--node-opt", "quiesce_ticks=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table_rows(proc.stdout, TABLE_HEADER)
    assert [r[0] for r in rows] == ["1", "4"]
    for raw in json.loads(out.read_text()):
        assert raw["nodes"] == 3 and raw["put_errors"] == 0 and raw["put_ops_per_s"] > 0
        assert len(raw["idle_cpu_pct"]) == 3 and all(v >= 0 for v in raw["idle_cpu_pct"])
        assert all(v > 0 for v in raw["rss_idle_mib"] + raw["rss_after_put_mib"])
    # The node option reached every node's configuration.
    for toml in (tmp_path / "d").glob("s*/n*/node.toml"):
        assert "quiesce_ticks = 0" in toml.read_text()


def test_keys_smoke_loads_every_key_and_reads_them_all(tmp_path: Path) -> None:
    out = tmp_path / "keys.json"
    proc = run("keys", "--smoke", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = table_rows(proc.stdout, KEYS_HEADER)
    (raw,) = json.loads(out.read_text())
    assert row[0] == f"{raw['keys']:,}" and raw["written"] == raw["keys"]
    assert raw["get"]["misses"] == 0 and raw["get"]["errors"] == 0
    assert raw["put"]["errors"] == 0 and raw["put"]["ops_per_s"] > 0
    assert all(v > 0 for v in raw["disk_mib_per_node"])


def test_node_options_are_toml_values() -> None:
    assert _node_options(["quiesce_ticks=0", "fsync=false", "log_level=debug"]) == {
        "quiesce_ticks": 0, "fsync": False, "log_level": "debug"}


def test_disk_smoke_samples_every_node_under_writes(tmp_path: Path) -> None:
    out = tmp_path / "disk.json"
    proc = run("disk", "--smoke", "--json", str(out), "--dir", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table_rows(proc.stdout, DISK_HEADER)
    (raw,) = json.loads(out.read_text())
    assert len(rows) == len(raw["samples"]) >= 3
    assert raw["writes"] > 0 and raw["samples"][-1]["writes"] == raw["writes"]
    assert all(len(s["disk_mib"]) == 3 for s in raw["samples"])
    assert all(v > 0 for v in raw["samples"][-1]["disk_mib"])
    # The smoke options reached the nodes: compaction runs within seconds.
    tomls = sorted((tmp_path / "d").glob("n*/node.toml"))
    assert len(tomls) == 3
    for toml in tomls:
        assert "snapshot_entries = 50" in toml.read_text()
