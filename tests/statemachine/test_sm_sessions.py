"""Exactly-once writes (Raft thesis §6.3) on a real LMDB: retries are answered from the
session table and never re-applied, acks discard results, sessions expire by *log*
time, and the table is bounded (max sessions, max results per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.raft.types import Entry
from kvstore.statemachine import Code, SessionLimits, cas, encode_batch, put
from kvstore.statemachine.sessions import COUNT, INDEX, SESSION
from tests.statemachine.support import Node, codes

OK = Code.OK
TTL = 60_000
# A log clock far from the local one: expiry must follow proposed_at_ms only.
T0 = 5_000


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path, session_limits=SessionLimits(ttl_ms=TTL, max_sessions=3, max_results=4))
    yield n
    n.close()


def sessions_of(node: Node, tag: bytes) -> list[bytes]:
    return [k[9:] for k, _ in node.raw_sessions() if k[8:9] == tag]


def test_retry_returns_the_original_result_and_applies_once(node: Node) -> None:
    first = node.apply([cas(b"k", None, b"mine", client_id=b"c1", seq=1)], at_ms=T0)
    assert first == [(OK, False, b"", True)]
    node.apply([put(b"k", b"theirs", client_id=b"c2", seq=1)], at_ms=T0)
    # c1 never saw its reply and retries: same answer, not re-applied.
    assert node.apply([cas(b"k", None, b"mine", client_id=b"c1", seq=1)], at_ms=T0 + 1) == first
    assert node.get(b"k") == b"theirs"
    # A duplicate inside one batch is answered from the session too.
    res = node.apply([put(b"x", b"1", client_id=b"c1", seq=2),
                      cas(b"x", b"1", b"2", client_id=b"c1", seq=3),
                      cas(b"x", b"1", b"2", client_id=b"c1", seq=3)], at_ms=T0 + 2)
    assert res[1] == res[2] == (OK, True, b"", True) and node.get(b"x") == b"2"


def test_ack_discards_results_and_stale_retries_are_refused(node: Node) -> None:
    node.apply([put(b"a", b"1", client_id=b"c", seq=1),
                put(b"b", b"1", client_id=b"c", seq=2)], at_ms=T0)
    node.apply([put(b"c", b"1", client_id=b"c", seq=3, ack_seq=2)], at_ms=T0)
    node.apply([put(b"a", b"overwritten", client_id=b"z", seq=1)], at_ms=T0)
    # seq 1 was acknowledged: a late duplicate must not re-apply.
    assert codes(node.apply([put(b"a", b"1", client_id=b"c", seq=1, ack_seq=2)],
                            at_ms=T0)) == [Code.STALE_REQUEST]
    assert node.get(b"a") == b"overwritten"
    assert codes(node.apply([put(b"d", b"1", client_id=b"c", seq=4, ack_seq=3)],
                            at_ms=T0)) == [OK]


def test_sessions_expire_by_log_time_only(node: Node) -> None:
    node.apply([put(b"a", b"1", client_id=b"old", seq=1)], at_ms=T0)
    node.apply([put(b"b", b"1", client_id=b"new", seq=1)], at_ms=T0 + TTL)  # idle == ttl: kept
    assert sessions_of(node, SESSION) == [b"new", b"old"]
    node.apply([put(b"b", b"2", client_id=b"new", seq=2, ack_seq=1)], at_ms=T0 + TTL + 1)
    assert sessions_of(node, SESSION) == [b"new"]
    # The expired client comes back (it has acked seq 1): the outcome of seq 2 is unknown.
    assert codes(node.apply([put(b"a", b"1", client_id=b"old", seq=2, ack_seq=1)],
                            at_ms=T0 + TTL + 2)) == [Code.SESSION_EXPIRED]
    assert node.get(b"a") == b"1" and sessions_of(node, SESSION) == [b"new"]
    # A fresh client (ack_seq 0) gets a new session.
    assert codes(node.apply([put(b"n", b"1", client_id=b"fresh", seq=1)],
                            at_ms=T0 + TTL + 3)) == [OK]


def test_a_leader_clock_going_back_does_not_age_sessions(node: Node) -> None:
    node.apply([put(b"a", b"1", client_id=b"c", seq=1)], at_ms=T0 + 50_000)
    node.apply([put(b"a", b"2", client_id=b"c", seq=2)], at_ms=T0)  # older clock
    # Idle is measured from the newest log time seen (T0 + 50s), not from T0.
    node.apply([put(b"z", b"1", client_id=b"other", seq=1)], at_ms=T0 + TTL + 10_000)
    assert sessions_of(node, SESSION) == [b"c", b"other"]


def test_session_count_is_bounded_least_recently_active_goes(node: Node) -> None:
    for i, cid in enumerate([b"s1", b"s2", b"s3"]):
        node.apply([put(b"k", b"v", client_id=cid, seq=1)], at_ms=T0 + i)
    node.apply([put(b"k", b"v", client_id=b"s1", seq=2)], at_ms=T0 + 10)  # s1 is active again
    assert sorted(sessions_of(node, SESSION)) == [b"s1", b"s2", b"s3"]  # at the bound
    node.apply([put(b"k", b"v", client_id=b"s4", seq=1)], at_ms=T0 + 11)
    assert sorted(sessions_of(node, SESSION)) == [b"s1", b"s3", b"s4"]
    assert len(sessions_of(node, INDEX)) == 3
    assert dict(node.raw_sessions())[(1).to_bytes(8, "big") + COUNT] == (3).to_bytes(8, "big")
    assert codes(node.apply([put(b"k", b"v", client_id=b"s2", seq=2, ack_seq=1)],
                            at_ms=T0 + 12)) == [Code.SESSION_EXPIRED]
    # Four new clients in one batch: the bound holds inside a batch as well.
    node.apply([put(b"k", b"v", client_id=b"n%d" % i, seq=1) for i in range(4)], at_ms=T0 + 13)
    assert sorted(sessions_of(node, SESSION)) == [b"n1", b"n2", b"n3"]


def test_results_per_session_are_bounded_without_reapplying(node: Node) -> None:
    cmds = [put(b"k%d" % s, b"v", client_id=b"c", seq=s) for s in range(1, 7)]
    node.apply(cmds, at_ms=T0)  # 6 results, max_results = 4: seqs 1, 2 are dropped
    node.apply([put(b"k1", b"changed", client_id=b"z", seq=1)], at_ms=T0)
    assert codes(node.apply([cmds[0]], at_ms=T0)) == [Code.STALE_REQUEST]
    assert node.get(b"k1") == b"changed"
    assert codes(node.apply([cmds[5]], at_ms=T0)) == [OK]  # seq 6 is still recorded


def test_unknown_session_with_acks_is_expired_not_applied(node: Node) -> None:
    assert codes(node.apply([put(b"k", b"v", client_id=b"ghost", seq=9, ack_seq=8)],
                            at_ms=T0)) == [Code.SESSION_EXPIRED]
    assert node.get(b"k") is None and sessions_of(node, SESSION) == []


def test_an_aborted_apply_records_nothing_so_the_retry_applies(node: Node) -> None:
    data = encode_batch([put(b"k", b"v", client_id=b"c", seq=1)], T0)
    with pytest.raises(RuntimeError), node.store.write() as w:
        node.sm.apply_entry(w.txn, 1, Entry(1, 1, data=data))
        raise RuntimeError("crash before commit")
    assert node.get(b"k") is None and sessions_of(node, SESSION) == []
    assert codes(node.apply_data(data)) == [OK] and node.get(b"k") == b"v"
