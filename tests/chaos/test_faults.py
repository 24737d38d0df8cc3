"""Partition patterns (`kvstore.chaos.faults`): each cuts exactly the links its name says."""

from __future__ import annotations

import itertools
import random

import pytest

from kvstore.chaos import faults

NODES3 = [1, 2, 3]
NODES5 = [1, 2, 3, 4, 5]


def _hears(cuts: frozenset[tuple[int, int]], nodes: list[int]) -> dict[int, set[int]]:
    """For each node, the other nodes whose messages still reach it."""
    return {dst: {src for src in nodes if src != dst and (src, dst) not in cuts}
            for dst in nodes}


@pytest.mark.parametrize("nodes", [NODES3, NODES5])
def test_halves_cut_both_ways_between_sides_and_nothing_inside(nodes: list[int]) -> None:
    p = faults.halves(nodes, random.Random(1))
    big = set(p.majority)
    small = set(nodes) - big
    assert len(small) == len(nodes) // 2 and len(big) == len(nodes) - len(nodes) // 2
    expected = {(a, b) for a, b in itertools.permutations(nodes, 2)
                if (a in small) != (b in small)}
    assert p.cuts == expected


def test_isolated_cuts_one_node_off_from_everyone() -> None:
    p = faults.isolated(NODES5, 4)
    assert p.cuts == {(4, n) for n in NODES5 if n != 4} | {(n, 4) for n in NODES5 if n != 4}
    assert p.majority == {1, 2, 3, 5}
    with pytest.raises(ValueError):
        faults.isolated(NODES3, 9)


@pytest.mark.parametrize("nodes", [NODES3, NODES5])
def test_majority_ring_every_node_hears_a_majority_and_no_two_the_same(nodes: list[int]) -> None:
    p = faults.majority_ring(nodes, random.Random(7))
    hears = _hears(p.cuts, nodes)
    majority = len(nodes) // 2 + 1
    for node, heard in hears.items():
        assert len(heard) + 1 == majority, (node, heard)
    views = [frozenset(h | {n}) for n, h in hears.items()]
    assert len(set(views)) == len(nodes)


def test_majority_ring_of_three_is_a_one_way_ring() -> None:
    p = faults.majority_ring(NODES3, random.Random(3))
    assert len(p.cuts) == 3
    for a, b in p.cuts:
        assert (b, a) not in p.cuts  # exactly one direction of each pair is cut


def test_bridge_middle_node_reaches_both_sides_which_cannot_reach_each_other() -> None:
    p = faults.bridge(NODES5, random.Random(5))
    touched = {n for link in p.cuts for n in link}
    (middle,) = set(NODES5) - touched
    hears = _hears(p.cuts, NODES5)
    assert hears[middle] == set(NODES5) - {middle}
    for n in touched:
        assert middle in hears[n]
        assert len(hears[n]) == 2  # its own side's other node and the bridge


def test_same_seed_same_partition_and_unknown_pattern_is_an_error() -> None:
    for pattern in faults.PATTERNS:
        a = faults.make(pattern, NODES5, random.Random(42), leader=2)
        b = faults.make(pattern, NODES5, random.Random(42), leader=2)
        assert a == b
        assert all(x != y for x, y in a.cuts)
    with pytest.raises(ValueError, match="unknown partition pattern"):
        faults.make("everything", NODES3, random.Random(1))
