"""The simulated network's faults and the nemesis' partition shapes."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from kvstore.raft import Message, MessageType, Snapshot, SnapshotMeta
from kvstore.sim.nemesis import cut_links
from kvstore.sim.network import Network
from kvstore.sim.params import SimParams, draw_params
from kvstore.sim.trace import Trace


def params(**kw: object) -> SimParams:
    base = draw_params(random.Random(0), 3, 10)
    calm = {"drop_rate": 0.0, "dup_rate": 0.0, "min_delay": 1, "max_delay": 5,
            "reorder": True, "wire_codec": False}
    return dataclasses.replace(base, **{**calm, **kw})  # type: ignore[arg-type]


def append(frm: int, to: int, index: int) -> Message:
    return Message(MessageType.APPEND, to=to, frm=frm, term=1, index=index)


def drain(net: Network) -> list[tuple[int, int, Message | None]]:
    out = []
    while batch := net.pop_due(10**9):
        out += [(at, node, m) for at, _seq, node, m in batch]
    return out


def test_delivery_is_delayed_within_bounds_and_never_instant() -> None:
    net = Network(params(min_delay=3, max_delay=7), random.Random(1), Trace())
    for i in range(200):
        net.send(append(1, 2, i), now=100)
    times = [at for at, _n, _m in drain(net)]
    assert len(times) == 200 and min(times) >= 103 and max(times) <= 107
    assert len(set(times)) == 5  # every delay in range occurs


def test_without_reorder_each_link_is_fifo() -> None:
    net = Network(params(min_delay=1, max_delay=30, reorder=False), random.Random(2), Trace())
    for i in range(300):
        net.send(append(1, 2, i), now=i // 10)
    got = [m.index for _at, _n, m in drain(net) if m is not None]
    assert got == list(range(300))


def test_with_reorder_messages_overtake_each_other() -> None:
    net = Network(params(min_delay=1, max_delay=30, reorder=True), random.Random(2), Trace())
    for i in range(300):
        net.send(append(1, 2, i), now=i // 10)
    got = [m.index for _at, _n, m in drain(net) if m is not None]
    assert sorted(got) == list(range(300)) and got != list(range(300))


def test_drop_and_duplicate_rates() -> None:
    net = Network(params(drop_rate=0.2, dup_rate=0.1), random.Random(3), Trace())
    for i in range(5000):
        net.send(append(1, 2, i), now=0)
    counts = Counter(m.index for _at, _n, m in drain(net) if m is not None)
    delivered = sum(counts.values())
    dropped = 5000 - len(counts)
    dups = sum(1 for c in counts.values() if c == 2)
    assert 900 < dropped < 1100  # 20% of 5000
    assert 300 < dups < 500  # 10% of the ~4000 that survive
    assert delivered == len(counts) + dups


def test_duplicates_are_independent_copies() -> None:
    net = Network(params(dup_rate=1.0), random.Random(4), Trace())
    net.send(append(1, 2, 7), now=0)
    a, b = (m for _at, _n, m in drain(net))
    assert a is not b and a == b


def test_cut_links_drop_one_direction_only() -> None:
    net = Network(params(), random.Random(5), Trace())
    net.cut = {(1, 2)}
    net.send(append(1, 2, 1), now=0)
    net.send(append(2, 1, 2), now=0)
    assert [(n, m.index) for _at, n, m in drain(net) if m is not None] == [(1, 2)]


def snapshot_msg() -> Message:
    snap = Snapshot(SnapshotMeta(index=9, term=2), b"9:x")
    return Message(MessageType.SNAPSHOT, to=2, frm=1, term=2, snapshot=snap)


def test_a_lost_snapshot_is_reported_to_its_sender() -> None:
    net = Network(params(), random.Random(6), Trace())
    net.cut = {(1, 2)}
    net.send(snapshot_msg(), now=0)
    [(_at, node, m)] = drain(net)
    assert node == 1 and m is not None
    assert (m.type, m.frm, m.reject) == (MessageType.SNAP_STATUS, 2, True)


def test_crash_loses_messages_in_flight_but_keeps_ticks_and_feedback() -> None:
    net = Network(params(), random.Random(7), Trace())
    net.send(append(1, 2, 1), now=0)
    net.send(append(2, 3, 2), now=0)
    net.send(append(3, 1, 3), now=0)
    net.send(snapshot_msg(), now=0)
    net.push(5, 2, None)  # node 2's tick
    net.forget(2, now=0)
    left = drain(net)
    assert [(n, m.index) for _at, n, m in left if m is not None and m.type == MessageType.APPEND] \
        == [(1, 3)]
    assert (5, 2, None) in left
    status = [m for _at, _n, m in left if m is not None and m.type == MessageType.SNAP_STATUS]
    assert len(status) == 1 and status[0].to == 1 and status[0].reject


def reach(cut: set[tuple[int, int]], ids: list[int]) -> dict[int, set[int]]:
    return {a: {b for b in ids if b != a and (a, b) not in cut} for a in ids}


@pytest.mark.parametrize("n", [3, 5])
def test_partition_halves_splits_a_minority_off(n: int) -> None:
    ids = list(range(1, n + 1))
    for seed in range(20):
        r = reach(cut_links("halves", ids, 0, random.Random(seed)), ids)
        small = min((frozenset([a, *r[a]]) for a in ids), key=len)
        assert 1 <= len(small) <= n // 2
        assert all(r[a] == set(small) - {a} for a in small)


def test_partition_isolate_leader_cuts_only_the_leader() -> None:
    ids = [1, 2, 3, 4, 5]
    r = reach(cut_links("isolate-leader", ids, 3, random.Random(0)), ids)
    assert r[3] == set() and r[1] == {2, 4, 5}


def test_partition_ring_of_five_leaves_two_neighbours_each() -> None:
    ids = [1, 2, 3, 4, 5]
    r = reach(cut_links("ring", ids, 0, random.Random(0)), ids)
    assert all(len(v) == 2 for v in r.values())
    assert all(a in r[b] for a in ids for b in r[a])  # symmetric


def test_partition_bridge_only_the_bridge_sees_everyone() -> None:
    ids = [4, 2, 5, 1, 3]  # already shuffled: 4 is the bridge
    r = reach(cut_links("bridge", ids, 0, random.Random(0)), ids)
    assert r[4] == {1, 2, 3, 5}
    assert r[2] == {4, 5} and r[1] == {3, 4}


def test_a_ban_outlives_partitions_and_heal_until_unban() -> None:
    net = Network(params(), random.Random(8), Trace())
    net.ban(3, [1, 2, 3])
    net.set_partition({(1, 2)})
    net.set_partition(set())  # the partition heals...
    net.heal()  # ...and so does everything else, but not the ban
    for frm, to in [(1, 3), (3, 2), (1, 2)]:
        net.send(append(frm, to, frm * 10 + to), now=0)
    assert [(n, m.index) for _at, n, m in drain(net) if m is not None] == [(2, 12)]
    net.unban(3)
    net.send(append(1, 3, 13), now=0)
    assert [(n, m.index) for _at, n, m in drain(net) if m is not None] == [(3, 13)]
