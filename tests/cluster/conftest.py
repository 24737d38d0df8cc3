"""Fixtures that run real kvstore-node processes on 127.0.0.1 (ephemeral ports, tmp dirs).

Every cluster is stopped in a finally block, including after a failed test,
so no process outlives its test. A failing test prints the tail of each
node's log to make the failure diagnosable from CI output alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.cluster.local import LocalCluster


def _dump_logs(c: LocalCluster) -> None:
    for n in c.nodes.values():
        if n.log_path.exists():
            tail = n.log_path.read_text(errors="replace").splitlines()[-25:]
            print(f"--- node {n.node_id} log tail ---\n" + "\n".join(tail))


def start_cluster(root: Path, n: int = 3, shards: int = 8, **kw: object) -> LocalCluster:
    c = LocalCluster.create(root, n, shards=shards, tick_ms=20, election_ticks=10, **kw)  # type: ignore[arg-type]
    c.start()
    try:
        c.wait_ready(60)
    except Exception:
        _dump_logs(c)
        c.stop()
        raise
    return c


@pytest.fixture
def cluster3(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path / "c")
    try:
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            _dump_logs(c)
        c.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep
