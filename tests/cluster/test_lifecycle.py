"""Process lifecycle: graceful SIGTERM, the standard health service, config errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kvstore.cluster.local import LocalCluster
from tests.cluster.conftest import start_cluster


def test_health_service_reports_serving(cluster3: LocalCluster) -> None:
    with grpc.insecure_channel(cluster3.endpoints[0]) as ch:
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_shuts_down_gracefully_and_restart_recovers(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", n=1, shards=2, replication=1)
    try:
        node = c.nodes[1]
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(timeout=15) == 0
        log = node.log_path.read_text()
        assert "node.stopped" in log
        c.start(1)
        c.wait_ready(30)
    finally:
        c.stop()


def test_bad_config_exits_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('node_id = 1\nlisten = "127.0.0.1:0"\ndata_dir = "d"\nshards = 0\n'
                   '[peers]\n1 = "127.0.0.1:0"\n')
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kvstore.server.main", "--config", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "shards must be between" in r.stderr
    assert "Traceback" not in r.stderr and time.monotonic() - t0 < 30
