"""The hash format (version 1) is pinned: these vectors must never change.

The digests were cross-checked with coreutils `b2sum --length=64`, an
independent BLAKE2b implementation; `test_key_hash_matches_b2sum` re-checks
that whenever b2sum is installed.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.sharding import HASH_VERSION, key_hash, placement_score, vnode_point

GOLDEN_KEY_HASHES = {
    b"": 0xE4A6A0577479B2B4,
    b"hello": 0xA7B6EDA801E5347D,
}


def test_hash_version_is_one() -> None:
    assert HASH_VERSION == 1


@pytest.mark.parametrize(("key", "expected"), sorted(GOLDEN_KEY_HASHES.items()))
def test_key_hash_golden_vectors(key: bytes, expected: int) -> None:
    assert key_hash(key) == expected


def test_vnode_point_and_placement_score_use_documented_labels() -> None:
    assert vnode_point(1, 0) == 0xB529C4B61D6D9FA0 == key_hash(b"shard:1:vnode:0")
    assert placement_score(1, 1) == 0xBF99E9263FDA7AF0 == key_hash(b"node:1:shard:1")


@pytest.mark.skipif(shutil.which("b2sum") is None, reason="coreutils b2sum not installed")
@settings(max_examples=10, deadline=None)
@given(st.binary(max_size=64))
def test_key_hash_matches_b2sum(key: bytes) -> None:
    out = subprocess.run(
        ["b2sum", "--length=64"], input=key, capture_output=True, check=True
    ).stdout
    assert key_hash(key) == int(out.split()[0], 16)


@given(st.binary(max_size=128))
def test_key_hash_is_a_64_bit_unsigned_int(key: bytes) -> None:
    h = key_hash(key)
    assert 0 <= h < 1 << 64
    assert h == key_hash(bytes(key))
