"""Rendezvous placement properties: minimal movement, distinctness, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.sharding import MAX_REPLICATION_FACTOR, ShardingError, place_all, place_replicas

node_ids = st.integers(1, (1 << 64) - 1)
# Enough shards that the binomial spread of moved replicas stays far (>6 sigma)
# inside the slack below, so the bound is meaningful and never flaky.
MANY_SHARDS = 1024


def test_golden_placement() -> None:
    assert place_replicas(7, range(1, 11), 3) == (9, 6, 2)
    assert place_replicas(1, [1, 2, 3, 4, 5], 5) == (1, 5, 2, 4, 3)


@settings(max_examples=25, deadline=None)
@given(st.data(), st.integers(1, 5))
def test_adding_an_eleventh_node_moves_about_a_tenth_of_replicas(
    data: st.DataObject, r: int
) -> None:
    nodes = data.draw(st.sets(node_ids, min_size=10, max_size=10))
    new_node = data.draw(node_ids.filter(lambda n: n not in nodes))
    before = place_all(MANY_SHARDS, nodes, r)
    after = place_all(MANY_SHARDS, nodes | {new_node}, r)
    moved = 0
    for shard, old in before.items():
        gained, lost = set(after[shard]) - set(old), set(old) - set(after[shard])
        # The only possible change is the new node replacing one old replica.
        assert gained <= {new_node}
        assert len(lost) == len(gained)
        moved += len(lost)
    # Expected 1/11 of all replicas; "about 1/10" with slack.
    assert 0 < moved <= (1 / 10 + 0.05) * MANY_SHARDS * r


@settings(max_examples=50, deadline=None)
@given(st.sets(node_ids, min_size=2, max_size=12), st.integers(1, 5), st.data())
def test_removing_a_node_moves_only_its_replicas(
    nodes: set[int], r: int, data: st.DataObject
) -> None:
    gone = data.draw(st.sampled_from(sorted(nodes)))
    before = place_all(64, nodes, r)
    after = place_all(64, nodes - {gone}, r)
    for shard, old in before.items():
        if gone not in old:
            assert after[shard] == old
        else:
            survivors = tuple(n for n in old if n != gone)
            # Survivors keep their relative order; at most one replacement appears.
            assert tuple(n for n in after[shard] if n in old) == survivors
            assert len(set(after[shard]) - set(old)) == (1 if len(nodes) > r else 0)


@given(st.sets(node_ids, min_size=1, max_size=12), st.integers(1, MAX_REPLICATION_FACTOR),
       st.integers(1, 200))
def test_replicas_are_distinct_known_nodes_and_min_r_n_of_them(
    nodes: set[int], r: int, shard: int
) -> None:
    reps = place_replicas(shard, nodes, r)
    assert len(reps) == len(set(reps)) == min(r, len(nodes))
    assert set(reps) <= nodes


@given(st.lists(node_ids, min_size=1, max_size=12), st.integers(1, 5), st.randoms())
def test_placement_ignores_input_order_and_duplicates(
    nodes: list[int], r: int, rnd: object
) -> None:
    shuffled = nodes + nodes[:3]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert place_all(16, shuffled, r) == place_all(16, sorted(set(nodes)), r)


@pytest.mark.parametrize(
    ("nodes", "r", "message"),
    [
        ([0, 1], 3, "node ids"),
        ([-1], 1, "node ids"),
        ([1 << 64], 1, "node ids"),
        ([True], 1, "node ids"),
        (["1"], 1, "node ids"),
        ([1, 2], 0, "replication_factor"),
        ([1, 2], MAX_REPLICATION_FACTOR + 1, "replication_factor"),
    ],
)
def test_bad_placement_input_is_rejected(nodes: list[object], r: int, message: str) -> None:
    with pytest.raises(ShardingError, match=message):
        place_replicas(1, nodes, r)  # type: ignore[arg-type]
