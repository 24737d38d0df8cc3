"""Command semantics of the KV state machine on a real LMDB: put, delete, cas (and cas
chains), batch results in order, no-op/garbage entries, reads, and validation limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from kvstore.errors import InvalidArgument
from kvstore.raft.types import Entry, EntryType
from kvstore.statemachine import (
    Code,
    Limits,
    Op,
    cas,
    delete,
    encode_batch,
    make_command,
    put,
    validate_command,
)
from tests.statemachine.support import Node, codes

OK = Code.OK


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path, groups=(1, 2))
    yield n
    n.close()


def test_put_get_delete_report_what_existed(node: Node) -> None:
    assert node.apply([put(b"a", b"1"), put(b"a", b"2"), put(b"b", b"")]) == [
        (OK, False, b"", False)] * 3
    assert node.get(b"a") == b"2" and node.get(b"b") == b"" and node.get(b"c") is None
    assert node.apply([delete(b"a"), delete(b"a"), delete(b"zz")]) == [
        (OK, True, b"", False), (OK, False, b"", False), (OK, False, b"", False)]
    assert node.get(b"a") is None and node.get(b"b") == b""


def test_cas_absent_match_mismatch_and_delete_on_success(node: Node) -> None:
    assert node.apply([cas(b"k", None, b"v1")]) == [(OK, False, b"", True)]
    # Expected absent, but present: fails and reports the current value.
    assert node.apply([cas(b"k", None, b"v2")]) == [(OK, True, b"v1", False)]
    assert node.apply([cas(b"k", b"nope", b"v2")]) == [(OK, True, b"v1", False)]
    assert node.apply([cas(b"k", b"v1", b"v2")]) == [(OK, True, b"", True)]
    assert node.get(b"k") == b"v2"
    assert node.apply([cas(b"k", b"v2", None)]) == [(OK, True, b"", True)]
    assert node.get(b"k") is None
    # Expecting a value on a missing key fails with found=False.
    assert node.apply([cas(b"k", b"v2", b"v3")]) == [(OK, False, b"", False)]
    # The empty value is a value, distinct from absence.
    node.apply([put(b"e", b"")])
    assert node.apply([cas(b"e", None, b"x"), cas(b"e", b"", b"x")]) == [
        (OK, True, b"", False), (OK, True, b"", True)]


def test_cas_chain_in_one_batch_applies_in_order(node: Node) -> None:
    chain = [cas(b"ctr", None, b"0")] + [cas(b"ctr", b"%d" % i, b"%d" % (i + 1))
                                         for i in range(20)]
    stale = cas(b"ctr", b"5", b"999")
    results = node.apply([*chain, stale])
    assert [r[3] for r in results] == [True] * 21 + [False]
    assert results[-1] == (OK, True, b"20", False)
    assert node.get(b"ctr") == b"20"


def test_noop_conf_change_and_garbage_entries_do_not_crash(node: Node) -> None:
    node.apply([put(b"a", b"1")])
    with node.store.write() as w:
        assert node.sm.apply_entry(w.txn, 1, Entry(1, 50)) == []
        assert node.sm.apply_entry(w.txn, 1, Entry(1, 51, EntryType.CONF_CHANGE, b"x")) == []
    for garbage in (b"\xc1", b"not msgpack at all", msgpack.packb([9, 1, []]),
                    msgpack.packb({"a": 1}), msgpack.packb([1, -5, []]), b"\x92\x01"):
        assert codes(node.apply_data(garbage)) == [Code.BAD_ENTRY]
    assert node.scan() == [(b"a", b"1")]


def test_malformed_commands_fail_alone_and_deterministically(node: Node) -> None:
    good = put(b"g", b"v")
    bad = [[1, b"", b"v", b"", False, b"", 0, 0],  # empty key
           [7, b"k", b"v", b"", False, b"", 0, 0],  # unknown op
           [Op.PUT, b"k", None, b"", False, b"", 0, 0],  # put without value
           [Op.PUT, "k", b"v", b"", False, b"", 0, 0],  # str key
           [Op.PUT, b"k", b"v", b"", False, b"", -1, 0],  # negative seq
           [Op.PUT, b"k", b"v"], "junk"]
    results = node.apply([*bad, good])
    assert codes(results) == [Code.BAD_COMMAND] * len(bad) + [OK]
    assert node.scan() == [(b"g", b"v")]


def test_scan_is_ordered_bounded_and_per_group(node: Node) -> None:
    keys = [b"b", b"a", b"c/1", b"c", b"\x00", b"\xff" * 3, b"k" * 4096, b"k" * 4000 + b"a"]
    node.apply([put(k, b"v" + k[:3]) for k in keys])
    node.apply([put(b"other", b"x")], gid=2)
    everything = sorted((k, b"v" + k[:3]) for k in keys)
    assert node.scan() == everything
    assert node.scan(start=b"b", end=b"c/2") == [kv for kv in everything if b"b" <= kv[0] < b"c/2"]
    assert node.scan(start=b"c", limit=2) == everything[3:5] == [(b"c", b"vc"), (b"c/1", b"vc/1")]
    assert node.scan(start=b"z", end=b"a") == []
    assert node.scan(gid=2) == [(b"other", b"x")]
    assert node.get(b"k" * 4096) == b"vkkk"
    with node.store.read() as txn, pytest.raises(InvalidArgument, match="limit"):
        node.sm.scan(txn, 1, b"", None, 0)


def test_validation_names_the_limit(node: Node) -> None:
    limits = Limits(max_key_bytes=8, max_value_bytes=16, max_client_id_bytes=4)
    put(b"k" * 8, b"v" * 16, limits=limits)  # exactly at the bounds: fine
    cases = [
        (lambda: put(b"k" * 9, b"v", limits=limits), "max_key_bytes=8"),
        (lambda: put(b"k", b"v" * 17, limits=limits), "max_value_bytes=16"),
        (lambda: cas(b"k", b"v" * 17, b"x", limits=limits), "max_value_bytes=16"),
        (lambda: put(b"k", b"v", client_id=b"12345", seq=1, limits=limits),
         "max_client_id_bytes=4"),
        (lambda: put(b"", b"v"), "non-empty"),
        (lambda: put(b"k", "text"), "must be bytes"),  # type: ignore[arg-type]
        (lambda: put(b"k", b"v", client_id=b"c"), "seq >= 1"),
        (lambda: put(b"k", b"v", seq=-1), "seq"),
        (lambda: make_command(Op.DELETE, b"k", b"v", b"", False, b"", 0, 0), "delete"),
        (lambda: validate_command([9, b"k", b"", b"", False, b"", 0, 0]), "unknown op"),
        (lambda: validate_command(["short"]), "8-field"),
        (lambda: encode_batch([put(b"k", b"v")], -1), "proposed_at_ms"),
    ]
    for fn, msg in cases:
        with pytest.raises(InvalidArgument, match=msg):
            fn()
    # The default limits: 4 KiB keys, 1 MiB values.
    put(b"k" * 4096, b"v" * (1 << 20))
    with pytest.raises(InvalidArgument, match="max_key_bytes=4096"):
        put(b"k" * 4097, b"v")
    with pytest.raises(InvalidArgument, match="max_value_bytes=1048576"):
        put(b"k", b"v" * ((1 << 20) + 1))
