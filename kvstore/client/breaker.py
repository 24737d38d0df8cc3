"""Per-node circuit breaker: closed -> open -> half-open -> closed.

CLOSED: calls flow; `failure_threshold` consecutive failures open it.
OPEN: calls fail fast (the router picks another replica) until
`reset_timeout_s` passed; then one trial call is let through (HALF_OPEN).
HALF_OPEN: one success closes it; a failure re-opens it with the timeout
doubled (capped), so a dead node costs almost nothing.
Time comes from an injectable clock so tests are exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 3, reset_timeout_s: float = 1.0,
                 max_reset_timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.base_timeout = reset_timeout_s
        self.max_timeout = max_reset_timeout_s
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.timeout = reset_timeout_s
        self._trial_in_flight = False

    def allow(self) -> bool:
        """May a call go to this node now? (Claims the half-open trial slot.)"""
        if self.state == BreakerState.CLOSED:
            return True
        if self.state == BreakerState.OPEN:
            if self.clock() - self.opened_at < self.timeout:
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.timeout = self.base_timeout
        self._trial_in_flight = False

    def record_failure(self) -> None:
        if self.state == BreakerState.HALF_OPEN:
            self.timeout = min(self.timeout * 2, self.max_timeout)
            self._open()
            return
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = self.clock()
        self._trial_in_flight = False
