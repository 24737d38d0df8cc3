"""The simulation trace: a rolling digest of every event plus the last lines.

It also counts how often each feature ran (crashes, snapshots, reads, ...), so
tests can check that a seed budget really exercises the whole fault mix.

Formatting every delivered message would dominate the run time, so events are
stored raw and formatted only when printed (`tail`, or `echo` with --trace).
The digest folds integers only (message headers, crc32 of text events), so it
is the same in every process regardless of PYTHONHASHSEED: two runs of one seed
are identical iff their digests are (the determinism test relies on it).

Heartbeats are folded into the digest and echoed, but not kept in the tail:
they would crowd out the events that explain a violation.

Invariant: stored `Message` objects are never mutated after sending (the
network hands each delivery its own object when it copies), so a lazily
formatted line shows the message as it was delivered.
"""

from __future__ import annotations

import zlib
from collections import Counter, deque
from collections.abc import Callable

from kvstore.raft import Message, MessageType, describe

Event = tuple[int, str, "Message | str"]

_QUIET = frozenset({MessageType.HEARTBEAT, MessageType.HEARTBEAT_RESP})  # not kept in the tail
_CODES: dict[str, int] = {}  # kind -> crc32: str hashes vary per process, crc32 does not


def format_event(ev: Event) -> str:
    now, kind, what = ev
    text = what if isinstance(what, str) else describe(what)
    return f"t={now // 10}.{now % 10} {kind} {text}"


class Trace:
    """Events of one run: digest of all of them, the last `keep` kept for reports."""

    def __init__(self, keep: int = 40, echo: Callable[[str], None] | None = None) -> None:
        self.digest = 0
        self.count = 0
        self._tail: deque[Event] = deque(maxlen=keep)
        self._echo = echo
        self.stats: Counter[str] = Counter()  # how often each feature was exercised

    def msg(self, now: int, kind: str, m: Message) -> None:
        """Record a message event (deliver, drop, dup, ...)."""
        code = _CODES.get(kind)
        if code is None:
            code = _CODES[kind] = zlib.crc32(kind.encode())
        self.digest = hash((self.digest, now, code, int(m.type), m.frm, m.to, m.term,
                            m.log_term, m.index, m.commit, len(m.entries), m.reject))
        if m.type in _QUIET:
            if self._echo is not None:
                self._echo(format_event((now, kind, m)))
            self.count += 1
            return
        self._add((now, kind, m))

    def note(self, now: int, kind: str, text: str) -> None:
        """Record a host-level event (fault, proposal, ack, role change, ...)."""
        self.digest = hash((self.digest, now, zlib.crc32(f"{kind} {text}".encode())))
        self._add((now, kind, text))

    def _add(self, ev: Event) -> None:
        self.count += 1
        self._tail.append(ev)
        if self._echo is not None:
            self._echo(format_event(ev))

    def tally(self, what: str, n: int = 1) -> None:
        self.stats[what] += n

    def tail(self) -> list[str]:
        return [format_event(ev) for ev in self._tail]
