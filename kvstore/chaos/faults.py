"""Partition patterns as sets of cut directed links (Jepsen's grudges), pure functions.

Each pattern takes the node ids (and an injected `random.Random`) and returns
a `Partition`: a name, a readable description and the directed peer links
(src dials dst) to cut. Patterns, after Jepsen's nemesis:
- `halves`: a random split into floor(n/2) and the rest, cut both ways;
- `isolated`: one node (e.g. a leader) alone against the rest;
- `majority-ring`: nodes in a random ring; each node hears from the
  majority - 1 nodes after it and from no one else, so every node sees a
  majority but no two see the same one (one-way cuts: for 3 nodes, a
  one-way ring);
- `bridge`: two halves that only a middle node hears and reaches.
`majority` is the side clients stay with when the nemesis cuts clients off:
the nodes outside it become unreachable for clients too (empty: clients keep
every node).

Invariants: never cuts a node from itself; the same rng state gives the same
partition; every pattern leaves each node's own reachability sets explicit in
`cuts`, nothing implied.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Link = tuple[int, int]

PATTERNS = ("halves", "isolated", "majority-ring", "bridge")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    description: str
    cuts: frozenset[Link]
    majority: frozenset[int] = frozenset()


def _between(groups: Sequence[Iterable[int]]) -> frozenset[Link]:
    """Every directed link between nodes of different groups."""
    sets = [frozenset(g) for g in groups]
    return frozenset((a, b) for i, ga in enumerate(sets) for j, gb in enumerate(sets)
                     if i != j for a in ga for b in gb)


def _show(groups: Sequence[Iterable[int]]) -> str:
    return " | ".join("[" + " ".join(str(n) for n in sorted(g)) + "]" for g in groups)


def halves(nodes: Sequence[int], rng: random.Random) -> Partition:
    order = sorted(nodes)
    rng.shuffle(order)
    small, big = sorted(order[: len(order) // 2]), sorted(order[len(order) // 2:])
    return Partition("halves", _show([small, big]), _between([small, big]), frozenset(big))


def isolated(nodes: Sequence[int], node: int) -> Partition:
    if node not in nodes:
        raise ValueError(f"node {node} is not one of {sorted(nodes)}")
    rest = sorted(n for n in nodes if n != node)
    return Partition("isolated", _show([[node], rest]), _between([[node], rest]),
                     frozenset(rest))


def majority_ring(nodes: Sequence[int], rng: random.Random) -> Partition:
    ring = sorted(nodes)
    rng.shuffle(ring)
    n = len(ring)
    heard = n // 2  # plus itself: a majority
    cuts: set[Link] = set()
    lines = []
    for i, dst in enumerate(ring):
        hears = {ring[(i + k) % n] for k in range(1, heard + 1)}
        cuts.update((src, dst) for src in ring if src != dst and src not in hears)
        lines.append(f"{dst}<-{','.join(str(h) for h in sorted(hears))}")
    return Partition("majority-ring", " ".join(lines), frozenset(cuts))


def bridge(nodes: Sequence[int], rng: random.Random) -> Partition:
    order = sorted(nodes)
    rng.shuffle(order)
    if len(order) < 3:
        return halves(nodes, rng)
    mid = len(order) // 2
    middle = order[mid]
    left, right = sorted(order[:mid]), sorted(order[mid + 1:])
    return Partition("bridge", f"{_show([left, right])} bridged by {middle}",
                     _between([left, right]))


def make(pattern: str, nodes: Sequence[int], rng: random.Random,
         leader: int | None = None) -> Partition:
    """The partition called `pattern`; `isolated` cuts off `leader` (random if None)."""
    if pattern == "halves":
        return halves(nodes, rng)
    if pattern == "isolated":
        return isolated(nodes, leader if leader is not None else rng.choice(sorted(nodes)))
    if pattern == "majority-ring":
        return majority_ring(nodes, rng)
    if pattern == "bridge":
        return bridge(nodes, rng)
    raise ValueError(f"unknown partition pattern {pattern!r}; expected one of "
                     f"{', '.join(PATTERNS)}")
