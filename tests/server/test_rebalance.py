"""The replica-move planner: one safe single-step change at a time towards the target."""

from __future__ import annotations

from kvstore.server.rebalance import MAX_PROMOTE_LAG, Action, Kind, Member, next_action
from kvstore.sharding.meta import Targets

LAST = 1_000


def _up(*ids: int, match: int = LAST) -> dict[int, Member]:
    return {i: Member(match, True) for i in ids}


def _walk(voters: set[int], learners: set[int], targets: Targets, leader: int = 1
          ) -> list[Action]:
    """Apply planned steps as a healthy cluster would until the plan is empty."""
    steps: list[Action] = []
    for _ in range(20):
        members = _up(*(voters | learners))
        a = next_action(leader, voters, learners, members, LAST, targets)
        if a is None:
            return steps
        steps.append(a)
        if a.kind == Kind.ADD_LEARNER:
            learners.add(a.node)
        elif a.kind == Kind.PROMOTE:
            learners.discard(a.node)
            voters.add(a.node)
        elif a.kind == Kind.REMOVE:
            voters.discard(a.node)
            learners.discard(a.node)
        elif a.kind == Kind.DEMOTE:
            voters.discard(a.node)
            learners.add(a.node)
        else:
            leader = a.node
    raise AssertionError(f"no convergence: {steps}")


def test_move_is_add_learner_then_promote_then_remove() -> None:
    steps = _walk({1, 2, 3}, set(), Targets((1, 2, 4)))
    assert steps == [Action(Kind.ADD_LEARNER, 4), Action(Kind.PROMOTE, 4),
                     Action(Kind.REMOVE, 3)]


def test_a_leader_off_target_hands_over_before_it_is_removed() -> None:
    steps = _walk({1, 2, 3}, set(), Targets((2, 3, 4)), leader=1)
    assert steps[:2] == [Action(Kind.ADD_LEARNER, 4), Action(Kind.PROMOTE, 4)]
    assert steps[2] == Action(Kind.TRANSFER, 2)
    assert steps[3] == Action(Kind.REMOVE, 1)


def test_voters_never_drop_below_the_target_size_during_a_walk() -> None:
    voters, learners, leader = {1, 2, 3}, set[int](), 1
    targets = Targets((4, 5, 6))
    for _ in range(30):
        a = next_action(leader, voters, learners, _up(*(voters | learners)), LAST, targets)
        if a is None:
            break
        if a.kind == Kind.ADD_LEARNER:
            learners.add(a.node)
        elif a.kind == Kind.PROMOTE:
            learners.discard(a.node)
            voters.add(a.node)
        elif a.kind == Kind.REMOVE:
            assert a.node != leader
            voters.discard(a.node)
        elif a.kind == Kind.TRANSFER:
            assert a.node in voters
            leader = a.node
        assert len(voters) >= 3
    assert voters == {4, 5, 6} and leader in voters


def test_a_lagging_learner_is_not_promoted() -> None:
    members = {**_up(1, 2, 3), 4: Member(LAST - MAX_PROMOTE_LAG - 1, True)}
    assert next_action(1, {1, 2, 3}, {4}, members, LAST, Targets((1, 2, 4))) is None
    members[4] = Member(LAST, True, snapshotting=True)
    assert next_action(1, {1, 2, 3}, {4}, members, LAST, Targets((1, 2, 4))) is None


def test_no_removal_while_a_target_voter_is_down() -> None:
    members = {**_up(1, 3, 4), 2: Member(LAST, False)}
    assert next_action(1, {1, 2, 3, 4}, set(), members, LAST, Targets((1, 2, 4))) is None


def test_a_dead_removed_voter_is_replaced() -> None:
    members = {**_up(1, 2, 4), 3: Member(0, False)}
    steps = [next_action(1, {1, 2, 3}, set(), members, LAST, Targets((1, 2, 4)))]
    assert steps == [Action(Kind.ADD_LEARNER, 4)]
    assert next_action(1, {1, 2, 3, 4}, set(), members, LAST,
                       Targets((1, 2, 4))) == Action(Kind.REMOVE, 3)


def test_metadata_group_demotes_to_learner_and_keeps_every_node() -> None:
    steps = _walk({1, 2, 3}, {4}, Targets((1, 2, 4), (3, 5)))
    assert Action(Kind.DEMOTE, 3) in steps and Action(Kind.ADD_LEARNER, 5) in steps


def test_stray_learners_are_removed() -> None:
    assert _walk({1, 2, 3}, {7}, Targets((1, 2, 3))) == [Action(Kind.REMOVE, 7)]


def test_at_target_nothing_happens() -> None:
    assert next_action(1, {1, 2, 3}, set(), _up(1, 2, 3), LAST, Targets((3, 2, 1))) is None


def test_a_learner_that_never_acknowledged_is_not_promoted_in_a_young_group() -> None:
    """In a group whose whole log is within MAX_PROMOTE_LAG, match 0 would look caught
    up; a voter whose node never got a message has no replica and cannot vote."""
    young = 5
    members = {**_up(1, 2, 3, match=young), 4: Member(0, True)}
    a = next_action(1, {1, 2, 3}, {4}, members, young, Targets((1, 2, 4)))
    assert a is None
    members[4] = Member(young, True)
    a = next_action(1, {1, 2, 3}, {4}, members, young, Targets((1, 2, 4)))
    assert a == Action(Kind.PROMOTE, 4)
