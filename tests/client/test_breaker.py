"""Circuit breaker state machine with an exact, injected clock."""

from __future__ import annotations

import random

from kvstore.client.breaker import BreakerState, CircuitBreaker
from kvstore.client.retry import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_threshold_and_fails_fast() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, reset_timeout_s=1.0, clock=clock)
    for _ in range(2):
        b.record_failure()
    assert b.allow() and b.state == BreakerState.CLOSED
    b.record_failure()
    assert b.state == BreakerState.OPEN and not b.allow()


def test_half_open_admits_one_trial_then_closes_on_success() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, reset_timeout_s=1.0, clock=clock)
    b.record_failure()
    clock.t = 1.0
    assert b.allow() and b.state == BreakerState.HALF_OPEN
    assert not b.allow()  # only one trial in flight
    b.record_success()
    assert b.state == BreakerState.CLOSED and b.allow()


def test_failed_trial_reopens_with_doubled_timeout_capped() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, reset_timeout_s=1.0, max_reset_timeout_s=3.0,
                       clock=clock)
    b.record_failure()
    for expected in (2.0, 3.0, 3.0):
        clock.t += b.timeout
        assert b.allow()
        b.record_failure()
        assert b.state == BreakerState.OPEN and b.timeout == expected


def test_backoff_has_full_jitter_within_cap() -> None:
    p = RetryPolicy(base_delay_s=0.01, max_delay_s=0.2)
    rng = random.Random(1)
    delays = [p.delay(a, rng) for a in range(12) for _ in range(20)]
    assert all(0 <= d <= 0.2 for d in delays)
    assert max(p.delay(0, rng) for _ in range(50)) <= 0.01
    assert max(delays) > 0.1  # later attempts do back off
