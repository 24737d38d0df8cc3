"""Key -> shard and shard -> replicas agree across real processes.

Two long-lived child interpreters with different PYTHONHASHSEED values answer
JSON-line queries, so any use of the salted built-in `hash()` (or other
per-process state) in the mapping would make them disagree with this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.sharding import RingSpec, place_replicas, ring_for

CHILD = """
import json, sys
from kvstore.sharding import RingSpec, place_replicas, ring_for
for line in sys.stdin:
    q = json.loads(line)
    ring = ring_for(RingSpec(q["shards"], q["vnodes"]))
    out = {
        "shards": [ring.shard_for_key(bytes.fromhex(k)) for k in q["keys"]],
        "replicas": [list(place_replicas(s, q["nodes"], q["r"]))
                     for s in range(1, q["shards"] + 1)],
    }
    print(json.dumps(out), flush=True)
"""


class Child:
    def __init__(self, hash_seed: str) -> None:
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, text=True,
        )

    def ask(self, query: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(query) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"child exited with {self.proc.poll()}"
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def children() -> Iterator[list[Child]]:
    kids: list[Child] = []
    try:
        kids = [Child("0"), Child("4242")]
        yield kids
    finally:
        for kid in kids:
            kid.close()


@settings(max_examples=30, deadline=None)
@given(
    keys=st.lists(st.binary(max_size=40), min_size=1, max_size=50),
    shards=st.integers(1, 64),
    vnodes=st.integers(1, 64),
    nodes=st.sets(st.integers(1, (1 << 64) - 1), min_size=1, max_size=9),
    r=st.integers(1, 5),
)
def test_mapping_is_identical_in_other_processes(
    children: list[Child], keys: list[bytes], shards: int, vnodes: int, nodes: set[int], r: int
) -> None:
    ring = ring_for(RingSpec(shards, vnodes))
    node_list = sorted(nodes)
    expected = {
        "shards": [ring.shard_for_key(k) for k in keys],
        "replicas": [list(place_replicas(s, node_list, r)) for s in range(1, shards + 1)],
    }
    query = {"keys": [k.hex() for k in keys], "shards": shards, "vnodes": vnodes,
             "nodes": node_list, "r": r}
    for child in children:
        assert child.ask(query) == expected
