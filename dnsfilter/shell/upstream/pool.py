"""The upstream pool: which resolver to ask, failover, health and latency tracking.

Choice: among the upstreams that are up, the one with the lowest latency EWMA (never-measured
ones first, in config order, so each gets measured); 1 query in 20 goes to another one so that
the others' latencies stay fresh. An upstream that has not answered a query within the hedge
delay is ranked last until that query ends.

A failure (timeout, refused, unusable answer, REFUSED, a certificate not accepted) takes an
upstream down for a back-off that doubles from 1 s to 30 s. Client queries never wait on an
upstream that is down: when its back-off has run out, one probe at a time — a copy of a
client's question, sent aside while that client is answered by the others — tests it, and
only its success brings it back (a failed probe doubles the back-off). Failures of queries sent
before it went down do not count again, so a burst of timeouts benches it once. Only when every
upstream is down are they asked anyway, the soonest to recover first: a late answer beats
SERVFAIL.

Within one `resolve`, an upstream that has not answered after the hedge delay (a fraction of
the timeout) is joined by the next one, and the first usable answer wins; the slow attempt
runs on to its timeout in the background, so that its outcome still counts. A failed attempt
moves on to the next upstream at once. At most `attempts` attempts, within `timeout *
attempts`. SERVFAIL is that upstream's failure for this name (the next one is asked) but does
not bench it: it usually means the name's servers are broken, not the resolver. A certificate
or TLS handshake failure is never retried within a query, and is logged as a security event
(rate-limited), also when another upstream answered instead.

State changes (down, up again) are logged once each, rate-limited per upstream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.logs import RateLimitedLog
from dnsfilter.shell.upstream.base import Question, TlsRefused, Transport, UpstreamError, tls_context
from dnsfilter.shell.upstream.bootstrap import Bootstrap
from dnsfilter.shell.upstream.doh import DohTransport
from dnsfilter.shell.upstream.health import Health, Upstream
from dnsfilter.shell.upstream.plain import DnsTransport
from dnsfilter.shell.upstream.race import Attempt, Outcome, Race, next_free
from dnsfilter.shell.upstream.tls import TlsTransport

__all__ = ["UpstreamError", "UpstreamPool"]

MAX_INFLIGHT: Final = 1024  # queries in flight in the whole pool; more are refused at once
EXPLORE: Final = 0.05  # share of queries sent to a non-best upstream
HEDGE: Final = 0.125  # of the timeout: how long one upstream has before the next is asked too (250 ms at 2 s)
POLICIES: Final = ("any", "encrypted-only")
# Answers that mean "this upstream will not help": REFUSED/NOTIMP benches it, SERVFAIL/FORMERR only
# moves on to the next one for this query.
HARD_RCODES: Final = {wire.RCODE_REFUSED: "REFUSED", wire.RCODE_NOTIMP: "NOTIMP"}
SOFT_RCODES: Final = {wire.RCODE_SERVFAIL: "SERVFAIL", wire.RCODE_FORMERR: "FORMERR"}
STATE_LOG: Final = (5, 60.0)  # state changes logged per upstream per window (seconds)
SECURITY_LOG: Final = (1, 300.0)  # certificate failures logged per upstream per window

log = logging.getLogger("dnsfilter")


def _rank(u: Upstream) -> tuple[bool, bool, float]:
    h = u.health
    return (h.overdue > 0, h.ewma is not None, h.ewma or 0.0)


class UpstreamPool:
    def __init__(self, specs: list[UpstreamSpec], *, timeout: float = 2.0, attempts: int = 3,
                 tls_ca_file: str | None = None, max_inflight: int = MAX_INFLIGHT, explore: float = EXPLORE,
                 clock: Callable[[], float] = time.monotonic, bootstrap: Sequence[UpstreamSpec] = (),
                 policy: str = "any", hedge: float | None = None, logger: logging.Logger = log,
                 batch_io: bool = True) -> None:
        if not specs:
            raise ValueError("at least one upstream is needed")
        if timeout <= 0 or attempts < 1:
            raise ValueError("timeout must be positive and attempts at least 1")
        if policy not in POLICIES:
            raise ValueError(f"unknown upstream policy {policy!r}")
        if policy == "encrypted-only" and any(s.kind == "dns" for s in specs):
            raise ValueError("upstream_policy = encrypted-only: plain DNS upstreams are not allowed")
        self.timeout = timeout
        self.attempts = attempts
        self.hedge = timeout * HEDGE if hedge is None else hedge
        self.max_inflight = max_inflight
        self.explore = explore
        self.clock = clock
        self.policy = policy
        self.inflight = 0
        self.closed = False
        self.rng = random.Random()  # only spreads load: IDs come from `secrets`
        self.background: set[asyncio.Task[Any]] = set()  # probes, and attempts that lost a race
        self.next_probe = float("inf")  # the soonest a down upstream is due for a probe
        self.notes = RateLimitedLog(logger, *STATE_LOG)
        self.alarms = RateLimitedLog(logger, *SECURITY_LOG)
        self.bootstrap = Bootstrap(list(bootstrap))
        kinds = {s.kind for s in specs}
        # One context per kind, built once: loading the CA store is the slow part.
        dot_ctx = tls_context(tls_ca_file) if "tls" in kinds else None
        doh_ctx = tls_context(tls_ca_file, ["http/1.1"]) if "https" in kinds else None
        self.upstreams: list[Upstream] = []
        for s in specs:
            t: Transport
            if s.kind == "tls":
                assert dot_ctx is not None
                t = TlsTransport(s, dot_ctx, resolve=self.bootstrap.address)
            elif s.kind == "https":
                assert doh_ctx is not None
                t = DohTransport(s, doh_ctx, resolve=self.bootstrap.address)
            elif s.kind == "dns":
                t = DnsTransport(s, batch_io=batch_io)
            else:
                raise ValueError(f"unknown upstream kind {s.kind!r}")
            self.upstreams.append(Upstream(s, t, Health()))
        self.plain = [u.spec.text for u in self.upstreams if u.spec.kind == "dns"]

    async def resolve(self, qname: bytes, qtype: int, qclass: int, *, do: bool = False, cd: bool = False,
                      last: Upstream | None = None) -> bytes:
        """The raw, validated answer for the question from the best upstream that gives one.
        `last`: an upstream asked already (the Lane's first attempt), asked again only after
        the others."""
        if self.closed:
            raise UpstreamError("upstream pool is closed")
        if self.inflight >= self.max_inflight:
            raise UpstreamError(f"too many upstream queries in flight ({self.inflight})")
        self.inflight += 1
        try:
            return await self._resolve(Question(qname.lower(), qtype, qclass, do, cd), last)
        finally:
            self.inflight -= 1

    async def _resolve(self, q: Question, last: Upstream | None = None) -> bytes:
        loop = asyncio.get_running_loop()
        start = self.clock()
        deadline = start + self.timeout * self.attempts
        queue = self.order(start)  # an upstream that timed out goes to the back, to be asked again
        if last is not None and last in queue and len(queue) > 1:
            queue.remove(last)
            queue.append(last)
        if not queue:
            raise UpstreamError("; ".join(u.health.last_error for u in self.upstreams))
        if queue[0].health.streak == 0 and start >= self.next_probe:  # something is up: probe the due aside
            self._probe_due(q, start)
        errors: list[str] = []
        race = Race()
        launched = 0
        launch = True
        try:
            while True:
                if launch and launched < self.attempts:
                    up = next_free(queue, race.running)
                    left = deadline - self.clock()
                    if up is not None and left > 0.001:
                        queue.remove(up)
                        launched += 1
                        a = Attempt(up, self.clock(), loop.time())
                        coro = self._ask(a, q, min(self.timeout, left))
                        if race.running or (launched < self.attempts and next_free(queue, race.running, up) is not None):
                            race.start(loop.create_task(coro), a)
                        else:  # nobody to hedge to: no task needed
                            data, why, again = await coro
                            if data is not None:
                                return data
                            errors.append(why)
                            if again:
                                queue.append(up)
                            continue
                launch = False
                if not race.running:
                    break
                newest = race.newest
                wait = None
                if launched < self.attempts and next_free(queue, race.running) is not None:
                    wait = newest.sent + self._hedge_delay(newest.up) - loop.time()
                if not await race.wait(loop, wait):  # too slow: rank them last for now, ask the next too
                    for r in race.running.values():
                        if not r.overdue:
                            r.overdue = True
                            r.up.health.overdue += 1
                            r.up.health.hedged += 1
                    launch = True
                    continue
                while race.finished:
                    t = race.finished.pop()
                    r = race.running.pop(t)
                    data, why, again = t.result()
                    if data is not None:
                        return data
                    errors.append(why)
                    if again:
                        queue.append(r.up)
                    launch = True
        finally:
            for t in race.running:  # the slower ones run on: their outcome still counts
                self._keep(t)
        raise UpstreamError("; ".join(errors) if errors else "no time left to ask an upstream")

    async def _ask(self, a: Attempt, q: Question, timeout: float) -> Outcome:
        """One attempt; its outcome goes into the upstream's health."""
        up, h = a.up, a.up.health
        h.queries += 1
        try:
            data = await up.transport.exchange(q, timeout)
        except TlsRefused as e:
            self._failed(a, str(e), bench=True, alarm=True)
            return None, str(e), False  # the same handshake would fail the same way
        except (UpstreamError, OSError, EOFError) as e:
            why = str(e) or f"{up.spec.text}: {type(e).__name__}"
            self._failed(a, why, bench=True)
            return None, why, True
        finally:
            if a.overdue:
                a.overdue = False
                h.overdue -= 1
        rcode = data[3] & 0xF
        bad = HARD_RCODES.get(rcode) or SOFT_RCODES.get(rcode)
        if bad is None:
            latency = self.clock() - a.started
            if h.success(latency):
                self.notes(f"upstream {up.spec.text}", f"up again ({latency * 1000:.1f} ms)", logging.INFO)
            return data, "", False
        why = f"{up.spec.text}: answered {bad}"
        self._failed(a, why, bench=rcode in HARD_RCODES)
        return None, why, False  # it answered: asking it again would not help

    def attempt_failed(self, up: Upstream, started: float, why: str, *, rcode: int | None) -> None:
        """An attempt made outside `resolve` (the Lane's) failed: no answer (`rcode` None) or an
        unusable one; its health counts it as `_ask` would."""
        if rcode is not None:
            why = f"{up.spec.text}: answered {HARD_RCODES.get(rcode) or SOFT_RCODES.get(rcode) or f'rcode {rcode}'}"
        self._failed(Attempt(up, started, 0.0), why, bench=rcode is None or rcode in HARD_RCODES)

    def _failed(self, a: Attempt, why: str, *, bench: bool, alarm: bool = False) -> None:
        text = a.up.spec.text
        reason = why.removeprefix(f"{text}: ").rstrip(".")
        if alarm:  # a security event, whatever else answered
            fallback = (f"; answers come unencrypted from {', '.join(self.plain)} meanwhile" if self.plain
                        else "; nothing is sent in the clear")
            self.alarms(f"security: upstream {text}", reason + fallback, logging.WARNING)
        now = self.clock()
        went_down = a.up.health.failure(why, now, a.started, bench, refused=alarm)
        if a.up.health.streak:
            self.next_probe = min(self.next_probe, a.up.health.retry_at)
        if went_down:
            others = [u.spec.text for u in self.upstreams if u is not a.up and u.health.streak == 0]
            self.notes(f"upstream {text}", f"down: {reason}; "
                       + (f"asking {', '.join(others)} meanwhile" if others else "no other upstream is up")
                       + f"; tried again in {a.up.health.retry_at - now:.0f} s, aside from client queries",
                       logging.WARNING)

    def _hedge_delay(self, up: Upstream) -> float:
        """How long `up` has before the next upstream is asked too: the hedge fraction of the
        timeout, longer for an upstream that is slow as a rule (so it is not doubled every time)."""
        return min(max(self.hedge, 2 * (up.health.ewma or 0.0)), self.timeout / 2)

    def _probe_due(self, q: Question, now: float) -> None:
        soonest = float("inf")
        for u in self.upstreams:
            h = u.health
            if h.streak and not h.probing:
                if now >= h.retry_at:
                    h.probing = True
                    h.probes += 1
                    self._keep(asyncio.get_running_loop().create_task(self._probe(u, q)))
                else:
                    soonest = min(soonest, h.retry_at)
        self.next_probe = soonest  # a probe's end or a new failure sets it again

    async def _probe(self, u: Upstream, q: Question) -> None:
        try:
            await self._ask(Attempt(u, self.clock(), asyncio.get_running_loop().time()), q, self.timeout)
        finally:
            u.health.probing = False
            if u.health.streak:
                self.next_probe = min(self.next_probe, u.health.retry_at)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self.background.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:  # a bug: say so, never silently
            log.error("upstream attempt failed: %r", task.exception())

    def order(self, now: float) -> list[Upstream]:
        """Upstreams in the order to try them for one query: those that are up (the slow ones of
        the moment last); only when none is up, the others, the soonest due first, except those
        whose certificate was refused and whose back-off runs still (the same handshake would
        fail the same way)."""
        ready = [u for u in self.upstreams if u.health.streak == 0]
        if not ready:
            return sorted((u for u in self.upstreams if not (u.health.refused and now < u.health.retry_at)),
                          key=lambda u: u.health.retry_at)
        return self._ranked(ready, self.rng.random() < self.explore)

    def _ranked(self, ready: list[Upstream], explore: bool) -> list[Upstream]:
        # Stable sort: config order breaks ties; never-measured upstreams come first.
        ready.sort(key=_rank)
        prompt = sum(1 for u in ready if not u.health.overdue)
        if prompt > 1 and explore:
            ready.insert(0, ready.pop(self.rng.randrange(1, prompt)))
        return ready

    def first_up(self) -> Upstream | None:
        """What `order(now)[0]` is while every upstream is up (the same choice, exploration
        included, without sorting the list for the 19 queries in 20 that do not explore); None
        while one is down, whose probes and back-off are `resolve`'s business."""
        ups = self.upstreams
        if len(ups) == 1:
            u = ups[0]
            return u if u.health.streak == 0 else None
        best: Upstream | None = None
        key: tuple[bool, bool, float] = (True, True, 0.0)
        for u in ups:
            if u.health.streak:
                return None
            k = _rank(u)
            if best is None or k < key:  # the first of equals, as the stable sort keeps it
                best, key = u, k
        if self.rng.random() < self.explore:
            return self._ranked(list(ups), True)[0]
        return best

    async def settle(self) -> None:
        """Wait for the probes and slower attempts still running (tests, and a clean close)."""
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)

    async def close(self) -> None:
        self.closed = True
        for t in list(self.background):
            t.cancel()
        await asyncio.gather(*list(self.background), return_exceptions=True)
        await asyncio.gather(*(u.transport.close() for u in self.upstreams), self.bootstrap.close(),
                             return_exceptions=True)

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
                "probes": h.probes,
                "hedged": h.hedged,
            })
        return out
