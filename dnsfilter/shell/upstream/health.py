"""One upstream and its health: latency average, failures, and the back-off that keeps a failing
one from client queries (the rules are in pool.py's docstring)."""

from __future__ import annotations

from dataclasses import dataclass

from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.upstream.base import Transport

EWMA_ALPHA = 0.3
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0


@dataclass(slots=True)
class Health:
    ewma: float | None = None  # seconds; None until first measured
    queries: int = 0
    failures: int = 0
    streak: int = 0  # consecutive failures that bench it; 0: up
    retry_at: float = 0.0
    backoff: float = BACKOFF_MIN
    down_since: float = 0.0  # when it last went down (or its back-off last grew)
    last_error: str = ""
    refused: bool = False  # the last failure was its certificate or TLS handshake: no use asking before retry_at
    overdue: int = 0  # its attempts still running past the hedge delay: ranked last meanwhile
    probing: bool = False
    probes: int = 0
    hedged: int = 0  # times another upstream was asked too because this one was slow

    def success(self, latency: float) -> bool:
        """Count an answer; True if that brings the upstream back up."""
        self.ewma = latency if self.ewma is None else self.ewma + EWMA_ALPHA * (latency - self.ewma)
        back = self.streak > 0
        self.streak = 0
        self.refused = False
        self.backoff = BACKOFF_MIN
        return back

    def failure(self, why: str, now: float, started: float, bench: bool, refused: bool = False) -> bool:
        """Count a failure of an attempt sent at `started`; True if that takes the upstream down."""
        self.failures += 1
        self.last_error = why
        self.refused = refused
        if not bench or (self.streak and started < self.down_since):
            return False  # sent before it went down: that failure is already counted
        down = self.streak == 0
        self.streak += 1
        self.down_since = now
        self.retry_at = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        return down


@dataclass(slots=True)
class Upstream:
    spec: UpstreamSpec
    transport: Transport
    health: Health
