"""Raft safety properties, checked incrementally as the simulation runs.

The checker sees what the hosts persist and apply (never the cores' private
state) and keeps global registries, so every check costs O(1) per persisted or
applied entry, except leader completeness which costs O(log) per election:

- election safety: `leaders[term]` holds the one leader of each term;
- vote safety: a node's durable vote never changes within a term, and its
  durable term never goes back (a crash must not forget a vote); a granted
  vote leaves a node only when its durable state already forbids any other
  vote in that term (the same term and vote, or a later term: a host that
  steps several requests before one Ready may persist only the later term);
- log matching: `entry_at[(index, term)]` holds the content and predecessor term
  of every persisted entry. Two logs with the same (index, term) must agree on
  the content and on the term at index-1; by induction, on the whole prefix;
- leader completeness: `committed[i]` is the term of the entry committed at i
  and `commit_term[i]` the lowest term in which a node saw it committed. A
  leader of term T must hold every entry with commit_term < T (or have it
  compacted into its snapshot);
- state machine safety: `chain[i]` is the hash chain of the applied commands up
  to i. Every node applying i (or restoring a snapshot at i) must reach the
  same chain value; `applied[i]` keeps the command for readable reports;
- configuration safety: `conf_states` is the reference configuration
  timeline, computed here with the pure `apply_conf_change` from the first
  application of each conf change entry. A node applying a conf change must
  reach the reference configuration at that index; a snapshot must carry the
  configuration at its index; a restarted node must read back the
  configuration at its applied index;
- vote quorum: a new leader of term T holds votes for it in T (`ballots`:
  its own durable vote and the grants sent to it) from a quorum of its
  configuration (both halves when joint).
  Membership changes make this the first rule a quorum miscount breaks;
- configuration lag: a new leader's configuration (the one at its applied
  index) is at most one committed conf change behind. Quorums of consecutive
  configurations intersect (single-step, or joint and its halves); two steps
  apart they need not, and two leaders of one term become possible. The
  one-at-a-time rule, the commit index sent with every append and "no
  campaign with a committed conf change unapplied" keep it (see
  etcd-io/etcd#7625); a core that lets a change be appended before the
  previous one is known committed breaks it.

A broken property raises `Violation(rule, details)`; the simulation stops at
the first one, so registries never hold contradictory facts.
"""

from __future__ import annotations

import bisect

from kvstore.raft import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Snapshot,
    StateRole,
)
from kvstore.raft.codec import DecodeError, decode_conf_change
from kvstore.raft.quorum import VoteResult, joint_vote
from kvstore.raft.tracker import TrackerConfig, apply_conf_change


class Violation(Exception):
    """A broken Raft property (or a broken host/core contract)."""

    def __init__(self, rule: str, details: str) -> None:
        super().__init__(f"{rule}: {details}")
        self.rule = rule
        self.details = details


class SafetyChecker:
    """Global registries and the checks over them (see the module docstring)."""

    def __init__(self, conf: ConfState | None = None) -> None:
        """`conf` is the initial configuration (the bootstrap voters)."""
        self.leaders: dict[int, int] = {}
        self.ballots: dict[tuple[int, int], set[int]] = {}  # (term, candidate) -> its votes
        self.conf_index: list[int] = [0]  # indexes of effective conf changes, ascending
        self.conf_states: list[ConfState] = [conf or ConfState()]
        self.conf_changes = 0  # committed conf changes that changed the configuration
        self.conf_noops = 0  # committed conf changes invalid at their index (ignored)
        self.votes: dict[int, tuple[int, int]] = {}  # node -> durable (term, vote)
        self.entry_at: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.committed: dict[int, int] = {}
        self.commit_term: dict[int, int] = {}
        self.max_commit = 0
        self.node_commit: dict[int, int] = {}  # node -> highest commit it persisted
        self.chain: dict[int, bytes] = {0: b""}
        self.applied: dict[int, bytes] = {}
        self.commands = 0  # committed entries carrying client data

    def bootstrap(self, index: int, chain: bytes) -> None:
        """Every initial member starts from the same snapshot at `index`, term 1."""
        self.committed[index] = self.commit_term[index] = 1
        self.chain[index] = chain
        self.applied[index] = b"<bootstrap>"
        self.max_commit = index

    # --- elections --------------------------------------------------------
    def on_role(self, node: int, role: StateRole, term: int, storage: MemoryStorage,
                conf: ConfState | None = None, applied: int = 0) -> None:
        """A node's role changed (after its Ready was persisted); `conf` is its config
        (the one at its durable `applied` index)."""
        if role != StateRole.LEADER:
            return
        other = self.leaders.setdefault(term, node)
        if other != node:
            raise Violation("election safety", f"nodes {other} and {node} both lead term {term}")
        if conf is not None:
            self._check_votes(node, term, conf)
            ahead = self.conf_index[bisect.bisect_right(self.conf_index, applied):]
            if len(ahead) > 1:
                raise Violation("configuration lag",
                                f"node {node} leads term {term} in the configuration at its "
                                f"applied index {applied}, {_conf_text(conf)}, but the conf "
                                f"changes at {ahead} are committed already")
        self._check_leader_log(node, term, storage)

    def _check_votes(self, node: int, term: int, conf: ConfState) -> None:
        got = self.ballots.get((term, node), set())
        if joint_vote(conf.voters, conf.voters_outgoing,
                      dict.fromkeys(got, True)) != VoteResult.WON:
            raise Violation("vote quorum", f"node {node} leads term {term} with votes "
                            f"from {sorted(got)}: not a quorum of voters={conf.voters} "
                            f"outgoing={conf.voters_outgoing}")

    def on_vote_granted(self, node: int, candidate: int, term: int, durable: HardState) -> None:
        """`node` sends `candidate` its vote for `term`; `durable` is its persisted state."""
        if durable.term < term or (durable.term == term and durable.vote != candidate):
            raise Violation("vote safety",
                            f"node {node} grants {candidate} its vote in term {term}, but its "
                            f"durable state is term {durable.term} vote {durable.vote}")
        self.ballots.setdefault((term, candidate), set()).add(node)

    def _check_leader_log(self, node: int, term: int, storage: MemoryStorage) -> None:
        first, last = storage.first_index(), storage.last_index()
        for i in range(first, self.max_commit + 1):
            ct = self.commit_term.get(i)
            if ct is None or ct >= term:
                continue
            want = self.committed[i]
            have = storage.term(i) if i <= last else None
            if have != want:
                raise Violation(
                    "leader completeness",
                    f"leader {node} of term {term} has term {have} at {i}, but entry "
                    f"{want}/{i} was committed in term {ct}",
                )

    def on_hard_state(self, node: int, hs: HardState, storage: MemoryStorage,
                      term_now: int) -> None:
        """A node persisted `hs` (entries of the same Ready are already in storage)."""
        old_term, old_vote = self.votes.get(node, (0, 0))
        if hs.term < old_term:
            raise Violation("vote safety", f"node {node} persisted term {hs.term} < {old_term}")
        if hs.term == old_term and old_vote and hs.vote != old_vote:
            raise Violation(
                "vote safety",
                f"node {node} changed its vote in term {hs.term} from {old_vote} to {hs.vote}",
            )
        self.votes[node] = (hs.term, hs.vote)
        if hs.vote:
            self.ballots.setdefault((hs.term, hs.vote), set()).add(node)
        self.on_commit(node, hs.commit, storage, term_now)

    def on_commit(self, node: int, commit: int, storage: MemoryStorage, term_now: int) -> None:
        """Node `node`, now in `term_now`, knows entries up to `commit` are committed."""
        seen = self.node_commit.get(node, 0)
        if commit < seen:
            raise Violation("commit monotonicity", f"node {node}: durable commit {commit} < {seen}")
        self.node_commit[node] = commit
        for i in range(max(storage.first_index(), seen + 1), commit + 1):
            t = storage.term(i)
            known = self.committed.setdefault(i, t)
            if known != t:
                raise Violation(
                    "state machine safety",
                    f"node {node} commits {t}/{i} but {known}/{i} was committed before",
                )
            if term_now < self.commit_term.get(i, term_now + 1):
                self.commit_term[i] = term_now
        self.max_commit = max(self.max_commit, commit)

    # --- logs ---------------------------------------------------------------
    def on_append(self, node: int, entries: list[Entry], storage: MemoryStorage) -> None:
        """`entries` were just appended to `storage`; register and cross-check them."""
        first = storage.first_index()
        for e in entries:
            if e.index < first:
                continue  # already compacted: covered by the snapshot
            prev = storage.term(e.index - 1)
            if e.term < prev:
                raise Violation("log matching",
                                f"node {node}: term goes down at {e.index} ({prev} -> {e.term})")
            key = (e.index, e.term)
            fact = (bytes([e.type]) + e.data, prev)
            known = self.entry_at.setdefault(key, fact)
            if known != fact:
                raise Violation(
                    "log matching",
                    f"node {node} holds {e.term}/{e.index} data={e.data!r} after term {prev}; "
                    f"another log holds it as data={known[0][1:]!r} after term {known[1]}",
                )

    def on_snapshot(self, node: int, snap: Snapshot, chain: bytes) -> None:
        """Node `node` installed `snap`, whose state machine image hashes to `chain`."""
        i, t = snap.meta.index, snap.meta.term
        if i > self.max_commit or self.committed.get(i, t) != t:
            raise Violation("state machine safety",
                            f"node {node} installed snapshot {t}/{i} of uncommitted state "
                            f"(committed {self.committed.get(i)}/{i}, max {self.max_commit})")
        self._check_chain(node, i, chain, b"<snapshot>")
        self._check_conf(node, i, snap.meta.conf_state, "installed a snapshot with")

    # --- state machines -----------------------------------------------------
    def on_apply(self, node: int, e: Entry, chain: bytes) -> None:
        """Node `node` applied `e`; `chain` is its state machine hash after it."""
        t = self.committed.get(e.index)
        if t is not None and t != e.term:
            raise Violation("state machine safety",
                            f"node {node} applies {e.term}/{e.index}, committed was {t}/{e.index}")
        if e.index not in self.applied:
            self.applied[e.index] = e.data
            if e.data and e.type == EntryType.NORMAL:
                self.commands += 1
        self._check_chain(node, e.index, chain, e.data)

    def _check_chain(self, node: int, index: int, chain: bytes, data: bytes) -> None:
        known = self.chain.setdefault(index, chain)
        if known != chain:
            raise Violation(
                "state machine safety",
                f"node {node} applied {data!r} at {index}, other nodes applied "
                f"{self.applied.get(index)!r} (state diverged at or before {index})",
            )

    # --- configurations -------------------------------------------------------
    def conf_at(self, index: int) -> ConfState:
        """The reference configuration in force after applying `index`."""
        return self.conf_states[bisect.bisect_right(self.conf_index, index) - 1]

    def latest_conf(self) -> ConfState:
        return self.conf_states[-1]

    def on_conf_applied(self, node: int, e: Entry, conf: ConfState) -> None:
        """Node `node` applied conf change `e` (after `on_apply`) and now has `conf`."""
        if e.index > self.conf_index[-1]:
            # The first application: every earlier conf change was applied (and
            # registered) before, by this node or by the one whose snapshot it holds.
            try:
                cc = decode_conf_change(e.data)
            except DecodeError as exc:
                raise Violation("configuration safety", f"bad conf change {e.index}: {exc}") \
                    from exc
            prev = TrackerConfig.from_conf_state(self.conf_states[-1])
            new = apply_conf_change(prev, cc)
            if new is None:
                self.conf_noops += 1
            else:
                self.conf_changes += 1
                self.conf_index.append(e.index)
                self.conf_states.append(new.to_conf_state())
        self._check_conf(node, e.index, conf, "applied conf change and has")

    def on_start(self, node: int, applied: int, conf: ConfState) -> None:
        """A (re)started core reads `conf` back at `applied` (empty: a new replica)."""
        if applied or conf != ConfState():
            self._check_conf(node, applied, conf, "restarted with")

    def _check_conf(self, node: int, index: int, conf: ConfState, what: str) -> None:
        want = self.conf_at(index)
        if conf != want:
            raise Violation("configuration safety",
                            f"node {node} {what} {_conf_text(conf)} at {index}, but the "
                            f"configuration there is {_conf_text(want)}")

    # --- end of run -------------------------------------------------------
    def check_logs_match(self, logs: dict[int, MemoryStorage]) -> None:
        """A full pairwise log matching check, once at the end (O(nodes * log))."""
        ids = sorted(logs)
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1:]:
                _check_pair(a, logs[a], b, logs[b])


def _conf_text(cs: ConfState) -> str:
    text = f"voters={cs.voters} learners={cs.learners}"
    if cs.voters_outgoing:
        text += f" outgoing={cs.voters_outgoing} learners_next={cs.learners_next}"
    return text + (" auto_leave" if cs.auto_leave else "")


def _check_pair(a: int, sa: MemoryStorage, b: int, sb: MemoryStorage) -> None:
    lo = max(sa.first_index(), sb.first_index())
    hi = min(sa.last_index(), sb.last_index())
    if lo > hi:
        return
    match = 0
    for i in range(hi, lo - 1, -1):
        if sa.term(i) == sb.term(i):
            match = i
            break
    if match == 0:
        return
    ea = sa.entries(lo, match + 1)
    eb = sb.entries(lo, match + 1)
    for x, y in zip(ea, eb, strict=True):
        if (x.term, x.type, x.data) != (y.term, y.type, y.data):
            raise Violation(
                "log matching",
                f"nodes {a} and {b} agree on {sa.term(match)}/{match} but differ at "
                f"{x.index}: {x.term} {x.data!r} vs {y.term} {y.data!r}",
            )
