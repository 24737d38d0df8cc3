"""The node's `log_level` and `log_json` settings, with real node processes.

Every line of a node's log must be one JSON object with `log_json`, and
`log_level = "warning"` must drop info events, including those of the
module-level loggers of the host, the node and the transport.
"""

from __future__ import annotations

import json
from pathlib import Path

from kvstore.client import KVClient
from kvstore.cluster.local import LocalCluster
from tests.cluster.conftest import start_cluster


def _lines(c: LocalCluster) -> list[str]:
    out: list[str] = []
    for n in c.nodes.values():
        out += [ln for ln in n.log_path.read_text(errors="replace").splitlines() if ln.strip()]
    return out


async def test_log_json_and_level_apply_to_module_loggers(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", shards=2, extra={"log_json": True, "log_level": "info"})
    try:
        async with KVClient(c.endpoints) as kv:
            await kv.put(b"k", b"v")
    finally:
        c.stop()  # logs are read once the nodes stopped writing them
    events = [json.loads(ln) for ln in _lines(c)]  # every line is one JSON object
    names = {e["event"] for e in events}
    # From module-level loggers of the host, the node and the transport.
    assert "host.groups_opened" in names and "node.started" in names
    assert all({"event", "level", "timestamp"} <= e.keys() for e in events)


async def test_log_level_warning_drops_info_events(tmp_path: Path) -> None:
    c = start_cluster(tmp_path / "c", shards=2, extra={"log_level": "warning"})
    try:
        async with KVClient(c.endpoints) as kv:
            await kv.put(b"k", b"v")
    finally:
        c.stop()
    lines = _lines(c)
    assert not [ln for ln in lines if "[info" in ln], lines[:5]
