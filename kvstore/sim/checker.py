"""Raft safety properties, checked incrementally as the simulation runs.

The checker sees what the hosts persist and apply (never the cores' private
state) and keeps global registries, so every check costs O(1) per persisted or
applied entry, except leader completeness which costs O(log) per election:

- election safety: `leaders[term]` holds the one leader of each term;
- vote safety: a node's durable vote never changes within a term, and its
  durable term never goes back (a crash must not forget a vote);
- log matching: `entry_at[(index, term)]` holds the content and predecessor term
  of every persisted entry. Two logs with the same (index, term) must agree on
  the content and on the term at index-1; by induction, on the whole prefix;
- leader completeness: `committed[i]` is the term of the entry committed at i
  and `commit_term[i]` the lowest term in which a node saw it committed. A
  leader of term T must hold every entry with commit_term < T (or have it
  compacted into its snapshot);
- state machine safety: `chain[i]` is the hash chain of the applied commands up
  to i. Every node applying i (or restoring a snapshot at i) must reach the
  same chain value; `applied[i]` keeps the command for readable reports.

A broken property raises `Violation(rule, details)`; the simulation stops at
the first one, so registries never hold contradictory facts.
"""

from __future__ import annotations

from kvstore.raft import Entry, EntryType, HardState, MemoryStorage, Snapshot, StateRole


class Violation(Exception):
    """A broken Raft property (or a broken host/core contract)."""

    def __init__(self, rule: str, details: str) -> None:
        super().__init__(f"{rule}: {details}")
        self.rule = rule
        self.details = details


class SafetyChecker:
    """Global registries and the checks over them (see the module docstring)."""

    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}
        self.votes: dict[int, tuple[int, int]] = {}  # node -> durable (term, vote)
        self.entry_at: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.committed: dict[int, int] = {}
        self.commit_term: dict[int, int] = {}
        self.max_commit = 0
        self.node_commit: dict[int, int] = {}  # node -> highest commit it persisted
        self.chain: dict[int, bytes] = {0: b""}
        self.applied: dict[int, bytes] = {}
        self.commands = 0  # committed entries carrying client data

    # --- elections --------------------------------------------------------
    def on_role(self, node: int, role: StateRole, term: int, storage: MemoryStorage) -> None:
        """A node's role changed (after its Ready was persisted)."""
        if role != StateRole.LEADER:
            return
        other = self.leaders.setdefault(term, node)
        if other != node:
            raise Violation("election safety", f"nodes {other} and {node} both lead term {term}")
        self._check_leader_log(node, term, storage)

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

    # --- end of run -------------------------------------------------------
    def check_logs_match(self, logs: dict[int, MemoryStorage]) -> None:
        """A full pairwise log matching check, once at the end (O(nodes * log))."""
        ids = sorted(logs)
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1:]:
                _check_pair(a, logs[a], b, logs[b])


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
