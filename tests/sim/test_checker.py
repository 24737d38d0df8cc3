"""Each safety rule of the simulator's checker fires on a history that breaks it.

These feed the checker hand-built histories (real MemoryStorage logs, no
cores) so that every rule is shown able to fail, and the matching legal
history is shown to pass.
"""

from __future__ import annotations

import random

import pytest

from kvstore.raft import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    ReadState,
    Snapshot,
    SnapshotMeta,
    StateRole,
)
from kvstore.raft.codec import encode_conf_change
from kvstore.sim.checker import SafetyChecker, Violation
from kvstore.sim.client import Workload
from kvstore.sim.node import chain_next
from kvstore.sim.params import draw_params
from kvstore.sim.trace import Trace


def log(*terms: int) -> MemoryStorage:
    """A storage holding entries 1..n with the given terms (data names the entry)."""
    st = MemoryStorage(ConfState(voters=[1, 2, 3]))
    st.append([Entry(t, i, data=b"%d/%d" % (t, i)) for i, t in enumerate(terms, start=1)])
    return st


def commit(chk: SafetyChecker, node: int, st: MemoryStorage, upto: int, term: int) -> None:
    chk.on_hard_state(node, HardState(term=term, vote=node, commit=upto), st, term)


def test_election_safety_two_leaders_in_one_term() -> None:
    chk = SafetyChecker()
    chk.on_role(1, StateRole.LEADER, 3, log(1, 3))
    chk.on_role(1, StateRole.LEADER, 3, log(1, 3))  # the same leader again is fine
    with pytest.raises(Violation, match="election safety"):
        chk.on_role(2, StateRole.LEADER, 3, log(1, 3))


def test_vote_safety_changed_vote_and_term_going_back() -> None:
    chk = SafetyChecker()
    st = log()
    chk.on_hard_state(1, HardState(term=2, vote=2), st, 2)
    with pytest.raises(Violation, match="changed its vote"):
        chk.on_hard_state(1, HardState(term=2, vote=3), st, 2)
    chk2 = SafetyChecker()
    chk2.on_hard_state(1, HardState(term=5, vote=1), st, 5)
    with pytest.raises(Violation, match="vote safety"):
        chk2.on_hard_state(1, HardState(term=4, vote=0), st, 4)


def test_log_matching_same_index_and_term_different_predecessor() -> None:
    chk = SafetyChecker()
    a, b = log(1, 1, 2), log(1, 2, 2)
    chk.on_append(1, a.entries(1, 4), a)
    with pytest.raises(Violation, match="log matching"):
        chk.on_append(2, b.entries(1, 4), b)


def test_log_matching_same_index_and_term_different_data() -> None:
    chk = SafetyChecker()
    a = log(1, 2)
    chk.on_append(1, a.entries(1, 3), a)
    b = MemoryStorage(ConfState(voters=[1, 2, 3]))
    b.append([Entry(1, 1, data=b"1/1"), Entry(2, 2, data=b"other")])
    with pytest.raises(Violation, match="log matching"):
        chk.on_append(2, b.entries(1, 3), b)


def test_full_pairwise_log_check_finds_a_divergent_prefix() -> None:
    chk = SafetyChecker()
    chk.check_logs_match({1: log(1, 1, 2), 2: log(1, 1, 2, 2), 3: log(1, 1)})
    bad = MemoryStorage(ConfState(voters=[1, 2, 3]))
    bad.append([Entry(1, 1, data=b"x"), Entry(1, 2, data=b"1/2"), Entry(2, 3, data=b"2/3")])
    with pytest.raises(Violation, match="log matching"):
        chk.check_logs_match({1: log(1, 1, 2), 2: bad})


def test_leader_completeness_new_leader_lacks_a_committed_entry() -> None:
    chk = SafetyChecker()
    committer = log(1, 2, 4)
    commit(chk, 1, committer, 3, term=4)  # entries 1..3 committed in term 4
    chk.on_role(2, StateRole.LEADER, 5, log(1, 2, 4, 5))  # has them all: fine
    with pytest.raises(Violation, match="leader completeness"):
        chk.on_role(3, StateRole.LEADER, 6, log(1, 3, 3, 6))


def test_leader_completeness_ignores_leaders_of_the_commit_term_or_older() -> None:
    chk = SafetyChecker()
    commit(chk, 1, log(1, 2), 2, term=3)
    # A stale leader of term 3 (or older) need not hold what term 3 committed.
    chk.on_role(2, StateRole.LEADER, 3, log(1))


def test_state_machine_safety_conflicting_apply() -> None:
    chk = SafetyChecker()
    e1, e2 = Entry(1, 1, data=b"a"), Entry(1, 1, data=b"b")
    chk.on_apply(1, e1, chain_next(b"", e1))
    chk.on_apply(2, e1, chain_next(b"", e1))
    with pytest.raises(Violation, match="state machine safety"):
        chk.on_apply(3, e2, chain_next(b"", e2))


def test_state_machine_safety_applying_a_different_term_than_committed() -> None:
    chk = SafetyChecker()
    commit(chk, 1, log(1, 2), 2, term=2)
    e = Entry(3, 2, data=b"late")
    with pytest.raises(Violation, match="state machine safety"):
        chk.on_apply(2, e, chain_next(b"", e))


def test_commit_index_must_not_go_back() -> None:
    chk = SafetyChecker()
    st = log(1, 1, 1)
    commit(chk, 1, st, 3, term=1)
    with pytest.raises(Violation, match="commit monotonicity"):
        commit(chk, 1, st, 2, term=1)


def workload() -> tuple[Workload, SafetyChecker]:
    chk = SafetyChecker()
    params = draw_params(random.Random(0), 3, 10)
    return Workload(0, params, random.Random(1), chk, Trace()), chk


def test_acked_proposal_lost_when_another_command_lands_on_its_index() -> None:
    wl, _ = workload()
    wl.pending[1] = {5: (2, b"mine")}
    wl.on_apply(1, Entry(2, 5, data=b"mine"))
    assert wl.acked == {5: b"mine"} and wl.max_acked == 5
    with pytest.raises(Violation, match="acked proposal lost"):
        wl.on_apply(2, Entry(3, 5, data=b"theirs"))


def test_proposal_not_acked_when_its_index_gets_another_term() -> None:
    wl, _ = workload()
    wl.pending[1] = {5: (2, b"mine")}
    wl.on_apply(1, Entry(3, 5, data=b"mine"))  # same bytes, another term: not our entry
    assert wl.acked == {}


def test_read_index_must_cover_what_was_committed_before_the_read() -> None:
    wl, chk = workload()
    commit(chk, 1, log(1, 1, 1, 1), 4, term=1)
    wl.reads[(1, b"r1")] = chk.max_commit
    wl.on_read_state(1, ReadState(4, b"r1"))
    wl.reads[(2, b"r2")] = chk.max_commit
    with pytest.raises(Violation, match="read index safety"):
        wl.on_read_state(2, ReadState(3, b"r2"))


def test_read_state_for_a_request_never_made_is_a_violation() -> None:
    wl, _ = workload()
    with pytest.raises(Violation, match="never asked"):
        wl.on_read_state(1, ReadState(1, b"r9"))


# --- membership -----------------------------------------------------------------

CT = ConfChangeType
V123 = ConfState(voters=[1, 2, 3])


def conf_entry(index: int, *changes: tuple[ConfChangeType, int]) -> Entry:
    cc = ConfChange([ConfChangeSingle(t, n) for t, n in changes])
    return Entry(1, index, EntryType.CONF_CHANGE, encode_conf_change(cc))


def test_configuration_timeline_follows_the_applied_conf_changes() -> None:
    chk = SafetyChecker(V123)
    chk.on_conf_applied(1, conf_entry(4, (CT.ADD_LEARNER, 4)),
                        ConfState(voters=[1, 2, 3], learners=[4]))
    chk.on_conf_applied(1, conf_entry(6, (CT.REMOVE_NODE, 1), (CT.REMOVE_NODE, 2),
                                      (CT.REMOVE_NODE, 3)),
                        ConfState(voters=[1, 2, 3], learners=[4]))  # invalid: ignored
    chk.on_conf_applied(1, conf_entry(7, (CT.ADD_NODE, 4)), ConfState(voters=[1, 2, 3, 4]))
    assert chk.conf_at(3) == V123
    assert chk.conf_at(6) == ConfState(voters=[1, 2, 3], learners=[4])
    assert chk.latest_conf() == ConfState(voters=[1, 2, 3, 4])
    assert (chk.conf_changes, chk.conf_noops) == (2, 1)
    chk.on_conf_applied(2, conf_entry(4, (CT.ADD_LEARNER, 4)),
                        ConfState(voters=[1, 2, 3], learners=[4]))  # a later replica agrees


def test_configuration_safety_a_replica_computing_another_configuration() -> None:
    chk = SafetyChecker(V123)
    chk.on_conf_applied(1, conf_entry(4, (CT.REMOVE_NODE, 3)), ConfState(voters=[1, 2]))
    with pytest.raises(Violation, match="configuration safety"):
        chk.on_conf_applied(2, conf_entry(4, (CT.REMOVE_NODE, 3)), ConfState(voters=[2, 3]))


def test_configuration_safety_snapshot_and_restart_carry_the_configuration() -> None:
    chk = SafetyChecker(V123)
    commit(chk, 1, log(1, 1, 1, 1, 1), 5, term=1)
    chk.on_conf_applied(1, conf_entry(4, (CT.REMOVE_NODE, 3)), ConfState(voters=[1, 2]))
    e = Entry(1, 1, data=b"1/1")
    chk.on_apply(1, e, chain_next(b"", e))
    good = Snapshot(SnapshotMeta(1, 1, V123))
    chk.on_snapshot(2, good, chain_next(b"", e))
    chk.on_start(2, 1, V123)
    chk.on_start(5, 0, ConfState())  # a new, empty replica
    with pytest.raises(Violation, match="configuration safety"):
        chk.on_start(1, 4, V123)  # forgot the change it applied at 4


def test_vote_granted_counts_when_durable_state_covers_it() -> None:
    chk = SafetyChecker(V123)
    st = log(1)
    chk.on_hard_state(1, HardState(term=7, vote=1), st, 7)
    chk.on_vote_granted(2, 1, 7, HardState(term=7, vote=1))
    # Stepped a later request in the same turn: only term 8 was persisted, which
    # still forbids another vote in term 7, so the grant to 1 is safe and counts.
    chk.on_vote_granted(3, 1, 7, HardState(term=8, vote=0))
    chk.on_role(1, StateRole.LEADER, 7, st, V123)
    assert chk.ballots[(7, 1)] == {1, 2, 3}
    with pytest.raises(Violation, match="vote safety"):
        chk.on_vote_granted(2, 3, 9, HardState(term=8, vote=2))  # not persisted at all
    with pytest.raises(Violation, match="vote safety"):
        chk.on_vote_granted(2, 3, 8, HardState(term=8, vote=0))  # vote not persisted


def test_vote_quorum_a_leader_without_a_quorum_of_durable_votes() -> None:
    chk = SafetyChecker(V123)
    st = log(1)
    chk.on_hard_state(1, HardState(term=2, vote=1), st, 2)
    chk.on_hard_state(4, HardState(term=2, vote=1), st, 2)  # a learner's vote does not count
    with pytest.raises(Violation, match="vote quorum"):
        chk.on_role(1, StateRole.LEADER, 2, st, ConfState(voters=[1, 2, 3], learners=[4]))
    chk.on_hard_state(2, HardState(term=3, vote=2), st, 3)
    chk.on_hard_state(3, HardState(term=3, vote=2), st, 3)
    chk.on_role(2, StateRole.LEADER, 3, st, V123)
    # Joint: a majority of each half.
    joint = ConfState(voters=[2, 3, 4], voters_outgoing=[1, 2, 3])
    for n in (3, 4):
        chk.on_hard_state(n, HardState(term=4, vote=4), st, 4)
    with pytest.raises(Violation, match="vote quorum"):
        chk.on_role(4, StateRole.LEADER, 4, st, joint)  # 3,4: incoming yes, outgoing no


def test_configuration_lag_a_leader_two_committed_changes_behind() -> None:
    chk = SafetyChecker(V123)
    st = log(1)
    chk.on_conf_applied(1, conf_entry(4, (CT.REMOVE_NODE, 3)), ConfState(voters=[1, 2]))
    chk.on_conf_applied(1, conf_entry(6, (CT.REMOVE_NODE, 2)), ConfState(voters=[1]))
    for n in (2, 3):
        chk.on_hard_state(n, HardState(term=5, vote=2), st, 5)
    for n in (1, 2):
        chk.on_hard_state(n, HardState(term=6, vote=1), st, 6)
    chk.on_role(1, StateRole.LEADER, 6, st, ConfState(voters=[1, 2]), applied=4)  # one behind
    with pytest.raises(Violation, match="configuration lag"):
        chk.on_role(2, StateRole.LEADER, 5, st, V123, applied=3)
