"""One node's Raft clock: logical ticks that follow the monotonic clock.

A stopped or starved process (SIGSTOP, a VM freeze, a long GC pause) delivers
no ticks while the rest of the cluster's clocks run on. Raft time must follow
real time, or a resumed leader would trust a lease that expired while it was
stopped: so the host delivers every tick real time owes (`advance`), and
leases are not trusted while ticks are overdue (`lease_ok`). `set_rate`
skews this node's clock for chaos tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator


class RaftClock:
    def __init__(self, tick_ms: int) -> None:
        self.tick_ms = tick_ms
        self.period = tick_ms / 1000  # seconds per tick, at the current rate
        self.ticks = 0  # ticks delivered so far
        self._t0 = time.monotonic()

    def due(self) -> int:
        """Ticks the monotonic clock says have elapsed but were not delivered yet."""
        return int((time.monotonic() - self._t0) / self.period) - self.ticks

    def advance(self, max_catchup: int) -> Iterator[int]:
        """Deliver the due ticks, yielding each new tick count.

        After a very long stop, more than `max_catchup` ticks change nothing
        (every timer has fired): the excess is skipped, not spun through."""
        due = self.due()
        if due > max_catchup:
            self.ticks += due - max_catchup
            due = max_catchup
        for _ in range(due):
            self.ticks += 1
            yield self.ticks

    def set_rate(self, rate: float) -> None:
        """Run at `rate` x real time, rebased so that delivered ticks stay delivered."""
        self.period = self.tick_ms / 1000 / rate
        self._t0 = time.monotonic() - self.ticks * self.period

    def lease_ok(self) -> bool:
        """May leases be trusted right now? Not while ticks are overdue."""
        return self.due() <= 1
