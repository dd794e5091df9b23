"""Per-client token buckets: a client beyond its rate gets REFUSED instead of an answer."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one. Refills at `rate` per second up to `burst`."""
        t = self.tokens + (now - self.last) * self.rate
        if t > self.burst:
            t = self.burst
        self.last = now
        if t < 1.0:
            self.tokens = t
            return False
        self.tokens = t - 1.0
        return True
