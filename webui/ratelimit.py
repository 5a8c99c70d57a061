"""Per-visitor rate limiting for the hosted demo: a token bucket per visitor."""

from __future__ import annotations

import threading
import time

from webui.request import RequestError


class RateLimited(RequestError):
    """Too many jobs from one visitor; the message says when to come back. (A
    ``RequestError``, so the UI shows it as a plain error; the API answers 429.)"""


class RateLimiter:
    """Allow ``per_minute`` jobs a minute per visitor, with bursts up to ``burst``."""

    def __init__(self, per_minute: float, burst: int = 2, clock=time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, visitor: str) -> None:
        """Spend one token for ``visitor`` or raise ``RateLimited``."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(visitor, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                wait = (1 - tokens) / self.rate
                self._buckets[visitor] = (tokens, now)
                raise RateLimited(f"Too many requests: this demo allows "
                                  f"{self.rate * 60:g} images a minute per visitor; try again "
                                  f"in {wait:.0f} s.")
            self._buckets[visitor] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle visitors
                cutoff = now - 3600
                self._buckets = {k: v for k, v in self._buckets.items() if v[1] > cutoff}
