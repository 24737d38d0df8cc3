"""`kvctl bench` end to end: real node processes, real client processes, the JSON it writes.

These are smoke tests of the harness (it runs, merges, reports sane figures),
never of speed: no assertion here depends on how fast anything is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.bench_cmd import bench

KVCTL = Path(sys.executable).parent / "kvctl"
SHORT = ["--duration", "1", "--warmup", "0.3", "--keys", "200", "--quiet"]


def run_kvctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KVCTL), "bench", *args], capture_output=True, text=True,
                          timeout=timeout)


def check_sane(row: dict[str, Any]) -> None:
    """Figures that must hold for any successful case, whatever the machine's speed."""
    where = f"{row['system']} {row['label']}"
    assert row["ops"] > 0 and row["ops_per_s"] > 0, where
    assert row["errors"] == 0, (where, row["error_samples"])
    assert row["misses"] == 0, where  # every key was preloaded
    lat = row["latency"]
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["p999_ms"] <= lat["max_ms"], where
    assert row["server_cpu_s_per_1k_ops"] > 0 and row["client_cpu_s_per_1k_ops"] > 0, where
    assert row["ops_per_rpc"] >= 1.0, where


def test_smoke_run_on_a_three_node_cluster(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_kvctl("--nodes", "3", "--workload", "put,get,mixed", "--concurrency", "16",
                     "--processes", "2", "--leader-policy", "pack", "--json", str(out), *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["schema"] == "kvstore-bench/1"
    assert report["systems"]["kvstore"]["nodes"] == 3
    assert report["systems"]["kvstore"]["leader_policy"] == "pack"
    assert "leader_policy=pack" in proc.stdout
    assert report["systems"]["kvstore"]["fsync"] is True
    assert report["systems"]["kvstore"]["idle_cpu_cores"] >= 0
    assert [s["label"] for s in report["summary"]] == [
        "put c=16", "get/linearizable c=16", "mixed/linearizable c=16"]
    for row in report["summary"]:
        assert row["system"] == "kvstore" and row["repeats"] == 1
        check_sane(row)
    mixed = report["summary"][2]
    assert mixed["read_latency"]["p50_ms"] is not None
    assert mixed["write_latency"]["p50_ms"] is not None
    assert report["comparison"] == [] and report["ratio"] is None
    assert "results (median over repeats)" in proc.stdout


def test_compare_etcd_is_skipped_with_a_clear_message_when_etcd_is_absent(
        tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_kvctl("--nodes", "1", "--workload", "put", "--concurrency", "4",
                     "--compare", "etcd", "--etcd-bin", str(tmp_path / "no-such-etcd"),
                     "--json", str(out), *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "etcd comparison skipped" in proc.stderr
    assert "not found or not executable" in proc.stderr and "apt-get" in proc.stderr
    report = json.loads(out.read_text())
    assert "no-such-etcd" in report["etcd_skipped"]
    assert report["ratio"] is None and "etcd" not in report["systems"]
    check_sane(report["summary"][0])


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--processes", "4", "--concurrency", "2"], 2, "less than --processes 4"),
    (["--workload", "scan"], 2, "--workload: unknown 'scan'"),
    (["--concurrency", "64,lots"], 2, "'lots' is not an integer"),
    (["--endpoints", "127.0.0.1:1", "--duration", "0.5"], 1, "no kvstore endpoint answered"),
])
def test_bad_input_is_a_message_not_a_traceback(args: list[str], code: int,
                                                message: str) -> None:
    result = CliRunner().invoke(bench, [*args, "--quiet"])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.long
def test_compare_etcd_runs_both_systems_when_etcd_is_installed(tmp_path: Path) -> None:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed (apt-get install -y etcd-server)")
    out = tmp_path / "bench.json"
    proc = run_kvctl("--nodes", "3", "--workload", "put,get", "--concurrency", "16",
                     "--compare", "etcd", "--json", str(out), *SHORT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["systems"]["etcd"]["members"] == 3
    assert report["systems"]["etcd"]["version"] != "unknown"
    for row in report["summary"]:
        check_sane(row)
    rows = {c["workload"]: c for c in report["comparison"]}
    assert set(rows) == {"put", "get"} and rows["get"]["etcd_read"] == "linearizable"
    for c in rows.values():
        assert c["ratio"] == pytest.approx(c["kvstore_ops_per_s"] / c["etcd_ops_per_s"],
                                           rel=1e-2)
    assert report["ratio"] > 0 and "kvstore / etcd" in proc.stdout
