"""Retry policy: exponential backoff with full jitter, bounded by a deadline.

What is safe to retry is decided by the caller (`kvstore.client.core`):
reads always; writes only because every write carries (client_id, seq), so
the server's session table answers a duplicate with the original result
instead of applying it twice (Raft thesis §6.3).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class RetryPolicy:
    base_delay_s: float = 0.01
    max_delay_s: float = 0.5
    max_attempts: int = 100_000  # the op's deadline is the real bound

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)]."""
        cap = min(self.max_delay_s, self.base_delay_s * (2 ** min(attempt, 20)))
        return rng.uniform(0, cap)
