"""A one-shot loop timer for the host's delayed work (notices.py, apply_delay.py).

At most one timer is pending; `arm` keeps an earlier one. Its owner re-arms
after each turn for whatever is still waiting, so a timer that fires early
(uvloop's timers have 1 ms resolution) only costs one more turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

# uvloop's clock and timers have 1 ms resolution: a timer may fire that early, so
# owners count work as due this much before its time.
SLACK_S = 0.001


class WakeTimer:
    def __init__(self, on_fire: Callable[[], None]) -> None:
        self._on_fire = on_fire
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Fire at loop time `when`, unless a timer is already pending."""
        if self._timer is None:
            self._timer = loop.call_at(when, self._fire)

    def arm_earliest(self, loop: asyncio.AbstractEventLoop, since: Mapping[int, float],
                     delay_s: float) -> None:
        """Fire `delay_s` after the oldest of `since` (key -> loop time), if any."""
        if since:
            self.arm(loop, min(since.values()) + delay_s)

    def _fire(self) -> None:
        self._timer = None
        self._on_fire()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
