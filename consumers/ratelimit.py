"""A token bucket per connection: how many client frames we accept, how fast."""

from __future__ import annotations

import time


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per frame."""

    def __init__(self, *, rate: float, burst: int, clock=time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()
        # Frames refused since the last accepted one: the flood detector.
        self.refused_in_a_row = 0

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            self.refused_in_a_row = 0
            return True
        self.refused_in_a_row += 1
        return False
