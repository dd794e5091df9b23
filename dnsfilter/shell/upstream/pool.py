"""The upstream pool: which resolver to ask, failover, health and latency tracking.

Choice: among the healthy upstreams the one with the lowest latency EWMA (never-measured ones
first, in config order, so each gets measured); 1 query in 20 goes to another healthy one so
that the others' latencies stay fresh. A failure (timeout, refused, unusable answer, REFUSED)
takes an upstream out of rotation for a back-off that doubles from 1 s to 30 s; one success
brings it back. When nothing is healthy we still ask — the soonest to recover first — because
a late answer beats SERVFAIL.

Within one `resolve` a failed attempt fails over to the next upstream, at most `attempts`
times and within `timeout * attempts` overall. SERVFAIL is that upstream's failure for this
name (the next one is asked) but does not bench it: it usually means the name's servers are
broken, not the resolver.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.upstream.base import Question, Transport, UpstreamError, tls_context
from dnsfilter.shell.upstream.doh import DohTransport
from dnsfilter.shell.upstream.plain import DnsTransport
from dnsfilter.shell.upstream.tls import TlsTransport

__all__ = ["UpstreamError", "UpstreamPool"]

MAX_INFLIGHT = 1024  # queries in flight in the whole pool; more are refused at once
EXPLORE = 0.05  # share of queries sent to a non-best healthy upstream
EWMA_ALPHA = 0.3
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0
# Answers that mean "this upstream will not help": REFUSED/NOTIMP benches it, SERVFAIL/FORMERR only
# moves on to the next one for this query.
HARD_RCODES = {wire.RCODE_REFUSED: "REFUSED", wire.RCODE_NOTIMP: "NOTIMP"}
SOFT_RCODES = {wire.RCODE_SERVFAIL: "SERVFAIL", wire.RCODE_FORMERR: "FORMERR"}


@dataclass(slots=True)
class Health:
    ewma: float | None = None  # seconds; None until first measured
    queries: int = 0
    failures: int = 0
    streak: int = 0  # consecutive failures that bench it
    retry_at: float = 0.0
    backoff: float = BACKOFF_MIN
    last_error: str = ""

    def eligible(self, now: float) -> bool:
        return self.streak == 0 or now >= self.retry_at

    def success(self, latency: float) -> None:
        self.ewma = latency if self.ewma is None else self.ewma + EWMA_ALPHA * (latency - self.ewma)
        self.streak = 0
        self.backoff = BACKOFF_MIN

    def failure(self, why: str, now: float, bench: bool) -> None:
        self.failures += 1
        self.last_error = why
        if bench:
            self.streak += 1
            self.retry_at = now + self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)


@dataclass(slots=True)
class Upstream:
    spec: UpstreamSpec
    transport: Transport
    health: Health


class UpstreamPool:
    def __init__(self, specs: list[UpstreamSpec], *, timeout: float = 2.0, attempts: int = 3,
                 tls_ca_file: str | None = None, max_inflight: int = MAX_INFLIGHT, explore: float = EXPLORE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not specs:
            raise ValueError("at least one upstream is needed")
        if timeout <= 0 or attempts < 1:
            raise ValueError("timeout must be positive and attempts at least 1")
        self.timeout = timeout
        self.attempts = attempts
        self.max_inflight = max_inflight
        self.explore = explore
        self.clock = clock
        self.inflight = 0
        self.closed = False
        self.rng = random.Random()  # only spreads load: IDs come from `secrets`
        kinds = {s.kind for s in specs}
        # One context per kind, built once: loading the CA store is the slow part.
        dot_ctx = tls_context(tls_ca_file) if "tls" in kinds else None
        doh_ctx = tls_context(tls_ca_file, ["http/1.1"]) if "https" in kinds else None
        self.upstreams: list[Upstream] = []
        for s in specs:
            t: Transport
            if s.kind == "tls":
                assert dot_ctx is not None
                t = TlsTransport(s, dot_ctx)
            elif s.kind == "https":
                assert doh_ctx is not None
                t = DohTransport(s, doh_ctx)
            elif s.kind == "dns":
                t = DnsTransport(s)
            else:
                raise ValueError(f"unknown upstream kind {s.kind!r}")
            self.upstreams.append(Upstream(s, t, Health()))

    async def resolve(self, qname: bytes, qtype: int, qclass: int, *, do: bool = False, cd: bool = False) -> bytes:
        """The raw, validated answer for the question from the best upstream that gives one."""
        if self.closed:
            raise UpstreamError("upstream pool is closed")
        if self.inflight >= self.max_inflight:
            raise UpstreamError(f"too many upstream queries in flight ({self.inflight})")
        self.inflight += 1
        try:
            return await self._resolve(Question(qname.lower(), qtype, qclass, do, cd))
        finally:
            self.inflight -= 1

    async def _resolve(self, q: Question) -> bytes:
        start = self.clock()
        deadline = start + self.timeout * self.attempts
        queue = self.order(start)  # an upstream that timed out goes to the back, to be retried
        errors: list[str] = []
        for _ in range(self.attempts):
            left = deadline - self.clock()
            if left <= 0.001 or not queue:
                break
            up = queue.pop(0)
            h = up.health
            h.queries += 1
            t0 = self.clock()
            try:
                data = await up.transport.exchange(q, min(self.timeout, left))
            except (UpstreamError, OSError, EOFError) as e:
                why = str(e) or f"{up.spec.text}: {type(e).__name__}"
                h.failure(why, self.clock(), bench=True)
                errors.append(why)
                queue.append(up)
                continue
            rcode = data[3] & 0xF
            bad = HARD_RCODES.get(rcode) or SOFT_RCODES.get(rcode)
            if bad is None:
                h.success(self.clock() - t0)
                return data
            why = f"{up.spec.text}: answered {bad}"
            h.failure(why, self.clock(), bench=rcode in HARD_RCODES)
            errors.append(why)  # it answered: asking it again would not help
        raise UpstreamError("; ".join(errors) if errors else "no time left to ask an upstream")

    def order(self, now: float) -> list[Upstream]:
        """Upstreams in the order to try them for one query."""
        ready = [u for u in self.upstreams if u.health.eligible(now)]
        # Stable sort: config order breaks ties; never-measured upstreams come first.
        ready.sort(key=lambda u: (u.health.ewma is not None, u.health.ewma or 0.0))
        if len(ready) > 1 and self.rng.random() < self.explore:
            ready.insert(0, ready.pop(self.rng.randrange(1, len(ready))))
        benched = sorted((u for u in self.upstreams if not u.health.eligible(now)),
                         key=lambda u: u.health.retry_at)
        return ready + benched

    async def close(self) -> None:
        self.closed = True
        await asyncio.gather(*(u.transport.close() for u in self.upstreams), return_exceptions=True)

    def status(self) -> list[dict]:
        now = self.clock()
        out = []
        for u in self.upstreams:
            h = u.health
            out.append({
                "text": u.spec.text,
                "kind": u.spec.kind,
                "healthy": h.streak == 0,
                "latency_ms": None if h.ewma is None else round(h.ewma * 1000, 2),
                "queries": h.queries,
                "failures": h.failures,
                "last_error": h.last_error,
                "connections": u.transport.connections,
                "retry_in": round(max(0.0, h.retry_at - now), 2) if h.streak else 0.0,
            })
        return out
