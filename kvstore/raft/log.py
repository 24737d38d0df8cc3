"""The Raft log as the core sees it: stable storage plus an unstable tail.

`Unstable` holds entries (and possibly an incoming snapshot) that the core has
accepted but the host has not yet persisted. `RaftLog` stitches storage and
unstable together and tracks `committed` and `applied`.

Invariants:
- applied <= committed <= last_index();
- unstable.offset == storage.last_index() + 1 once the host has persisted
  everything handed out (stable_to), and entries[i].index == offset + i;
- committed never decreases and never points past the last entry.
"""

from __future__ import annotations

from kvstore.raft.errors import CompactedError, UnavailableError
from kvstore.raft.storage import Storage, limit_size
from kvstore.raft.types import Entry, Snapshot


class Unstable:
    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        return self.snapshot.meta.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        return self.snapshot.meta.index if self.snapshot is not None else None

    def maybe_term(self, i: int) -> int | None:
        if i < self.offset:
            if self.snapshot is not None and self.snapshot.meta.index == i:
                return self.snapshot.meta.term
            return None
        last = self.maybe_last_index()
        if last is None or i > last:
            return None
        if not self.entries:  # i == snapshot index == offset - 1 handled above
            return None
        return self.entries[i - self.offset].term

    def stable_to(self, i: int, t: int) -> None:
        # Only if the entry at i still has term t: a newer leader may have
        # replaced it since the Ready that carried it.
        if self.maybe_term(i) == t and i >= self.offset:
            del self.entries[: i + 1 - self.offset]
            self.offset = i + 1

    def stable_snap_to(self, i: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == i:
            self.snapshot = None

    def restore(self, s: Snapshot) -> None:
        self.offset = s.meta.index + 1
        self.entries = []
        self.snapshot = s

    def truncate_and_append(self, ents: list[Entry]) -> None:
        after = ents[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(ents)
        elif after <= self.offset:
            # Replaces the whole unstable tail; storage is truncated by the host's append.
            self.offset = after
            self.entries = list(ents)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(ents)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        return self.entries[lo - self.offset : hi - self.offset]


class RaftLog:
    __slots__ = ("applied", "committed", "max_next_ents_size", "storage", "unstable")

    def __init__(self, storage: Storage, max_next_ents_size: int) -> None:
        self.storage = storage
        self.max_next_ents_size = max_next_ents_size
        first, last = storage.first_index(), storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1

    # --- indexes and terms -------------------------------------------------
    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def term_or_none(self, i: int) -> int | None:
        """Term of entry i, or None if it was compacted away or does not exist."""
        if i < self.first_index() - 1 or i > self.last_index():
            return None
        t = self.unstable.maybe_term(i)
        if t is not None:
            return t
        try:
            return self.storage.term(i)
        except (CompactedError, UnavailableError):
            return None

    def last_term(self) -> int:
        t = self.term_or_none(self.last_index())
        return t if t is not None else 0

    def match_term(self, i: int, term: int) -> bool:
        return self.term_or_none(i) == term

    def is_up_to_date(self, lasti: int, term: int) -> bool:
        """Raft §5.4.1: is a candidate's log at least as up-to-date as ours?"""
        last_term = self.last_term()
        return term > last_term or (term == last_term and lasti >= self.last_index())

    # --- appending ---------------------------------------------------------
    def maybe_append(self, index: int, log_term: int, committed: int,
                     ents: list[Entry]) -> int | None:
        """Follower side of AppendEntries. Returns the new last index, or None on mismatch."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                return None  # would rewrite committed entries: refuse, never corrupt
            self.append(ents[ci - index - 1 :])
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, ents: list[Entry]) -> int:
        if ents:
            self.unstable.truncate_and_append(ents)
        return self.last_index()

    def find_conflict(self, ents: list[Entry]) -> int:
        """Index of the first entry that is new or has a different term; 0 if none."""
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Fast backtracking: the largest (i, t) with i <= index and term t <= term."""
        while index > 0:
            t = self.term_or_none(index)
            if t is None:
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    # --- commit / apply / stable --------------------------------------------
    def commit_to(self, to_commit: int) -> None:
        if self.committed < to_commit <= self.last_index():
            self.committed = to_commit

    def applied_to(self, i: int) -> None:
        if self.applied < i <= self.committed:
            self.applied = i

    def stable_to(self, i: int, t: int) -> None:
        self.unstable.stable_to(i, t)

    def stable_snap_to(self, i: int) -> None:
        self.unstable.stable_snap_to(i)

    def restore(self, s: Snapshot) -> None:
        self.committed = s.meta.index
        self.unstable.restore(s)

    # --- reading -----------------------------------------------------------
    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable.entries)

    def next_committed_entries(self) -> list[Entry]:
        off = max(self.applied + 1, self.first_index())
        if self.committed + 1 > off:
            return self.slice(off, self.committed + 1, self.max_next_ents_size)
        return []

    def has_next_committed_entries(self) -> bool:
        # The cheap test first: first_index() may ask storage.
        return self.committed > self.applied and self.committed + 1 > self.first_index()

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def entries(self, i: int, max_size: int | None) -> list[Entry]:
        """Entries from i to the end (size-limited). Raises CompactedError if i is compacted."""
        if i > self.last_index():
            return []
        return self.slice(i, self.last_index() + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int | None) -> list[Entry]:
        if lo < self.first_index():
            raise CompactedError(f"slice from {lo} < first {self.first_index()}")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"slice to {hi} > last {self.last_index()}")
        if lo == hi:
            return []
        ents: list[Entry] = []
        off = self.unstable.offset
        if lo < off:
            stored = self.storage.entries(lo, min(hi, off), max_size)
            if len(stored) < min(hi, off) - lo:
                return stored  # size-limited already
            ents = stored
        if hi > off:
            unstable = self.unstable.slice(max(lo, off), hi)
            ents = [*ents, *unstable] if ents else unstable
        return limit_size(ents, max_size)
