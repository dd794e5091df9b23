"""The UDP loop's way to the upstreams: a question's first attempt without a task.

`UpstreamPool.resolve` is a coroutine, so each question it answers costs a task, a future and
their scheduling: more than the rest of a cache miss. While every upstream is up and the one
the pool would ask first (`order`, its exploration included) is plain DNS, `Lane.submit` asks
that one by callback on its long-lived UDP sockets (shell/upstream/plain.py), and a usable
answer (NOERROR or NXDOMAIN, not truncated) counts into its health as the pool counts it; a
truncated one is asked again of the same upstream over TCP, as the pool's own attempt would.
Everything else is the pool's own business, in a task running `resolve`: an upstream down (its
probes and back-off live there), an encrypted first choice, an answer that is not usable
(SERVFAIL, REFUSED, an ICMP error, TCP failing after a truncated answer), or no answer within the wait. With other
upstreams to turn to, the wait is a fraction of the timeout (longer for an upstream slow as a
rule), as the pool's patience with one upstream is when it can ask another; with one upstream
it is the whole timeout, and a question it never answers can then take one timeout more than
the pool alone would give it before SERVFAIL.

Per question, the lane does no more than it must: the first choice is `pool.first_up()` (no
sort unless the question explores), and the hedge delays of the questions in flight wait in
one heap under one timer, rather than a timer each set and cancelled.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Final

from dnsfilter.shell.upstream.base import Question, UpstreamError
from dnsfilter.shell.upstream.plain import DnsTransport
from dnsfilter.shell.upstream.pool import Upstream, UpstreamPool

WAIT: Final = 0.125  # of the timeout: how long the first attempt has before the pool takes over
USABLE: Final = frozenset((0, 3))  # NOERROR, NXDOMAIN: any other rcode is the pool's to judge

Done = Callable[[bytes | None, str], None]  # (answer, "") or (None, why)


class _Attempt:
    """One question's first attempt. The question's `done` is called exactly once (`finish`);
    the attempt's own outcome counts into its upstream's health as the pool's attempts do,
    even when the pool answered the question first (a hedge)."""

    __slots__ = ("lane", "q", "done", "up", "sent", "hedge", "handed", "finished", "overdue")

    def __init__(self, lane: Lane, q: Question, done: Done, up: Upstream | None, sent: float) -> None:
        self.lane, self.q, self.done, self.up, self.sent = lane, q, done, up, sent
        self.hedge = False  # waits in the lane's hedge heap: `slow` when its delay passes first
        self.handed = False  # the pool's `resolve` has the question too
        self.finished = False
        self.overdue = False  # counted in the upstream's health.overdue (ranked last meanwhile)

    def finish(self, data: bytes | None, why: str) -> None:
        if not self.finished:
            self.finished = True
            self.lane.waiting -= 1
            self.done(data, why)

    def slow(self) -> None:
        """The hedge delay passed without an answer: the pool asks the others meanwhile, and
        this upstream ranks last until its attempt ends, as the pool's own race does."""
        if not self.hedge or self.finished or self.handed or self.up is None:
            return  # answered meanwhile
        self.hedge = False
        self.overdue = True
        self.up.health.overdue += 1
        self.up.health.hedged += 1
        self.lane.spawn(self)

    def answer(self, data: bytes | None, why: str) -> None:
        """The attempt's outcome, from the transport's reader or its timeout sweep."""
        lane, up = self.lane, self.up
        assert up is not None
        pool = lane.pool
        self.hedge = False  # its entry in the heap is skipped when its time comes
        if self.overdue:
            self.overdue = False
            up.health.overdue -= 1
        if data is not None and data[3] & 0xF in USABLE and not data[2] & 0x02:
            up.health.success(pool.clock() - self.sent)
            if not self.handed:
                pool.inflight -= 1
                lane.direct += 1
            self.finish(data, "")
            return
        if data is None or data[3] & 0xF not in USABLE:  # no answer, or SERVFAIL, REFUSED…
            pool.attempt_failed(up, self.sent, why, rcode=None if data is None else data[3] & 0xF)
        if self.handed or self.finished:
            return  # the pool has the question: only the health counted
        if data is not None and data[2] & 0x02 and isinstance(up.transport, DnsTransport):
            lane.over_tcp(self)  # truncated: the same upstream over TCP, as DnsTransport.exchange does
        else:  # the pool asks the others (this one last)
            lane.spawn(self)


class Lane:
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting = 0  # questions not answered yet
        self.direct = 0  # questions answered by their first attempt, without a task
        self.handed = 0  # questions the pool's `resolve` took over
        self.loop: asyncio.AbstractEventLoop | None = None
        self.hedges: list[tuple[float, int, _Attempt]] = []  # (loop time its delay ends, seq, attempt)
        self.hedger: asyncio.TimerHandle | None = None  # fires at the heap's first delay end
        self.seq = itertools.count()  # ties in the heap, so that attempts are never compared

    def submit(self, qname: bytes, qtype: int, qclass: int, do: bool, cd: bool, done: Done) -> None:
        """Ask the question; `done(answer or None, why)` is called once, from the event loop."""
        pool = self.pool
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
        if pool.closed or pool.inflight >= pool.max_inflight:
            why = "upstream pool is closed" if pool.closed else f"too many upstream queries in flight ({pool.inflight})"
            loop.call_soon(done, None, why)
            return
        pool.inflight += 1  # so that the pool's bound holds for both ways
        self.waiting += 1
        q = Question(qname.lower(), qtype, qclass, do, cd)
        now = pool.clock()
        first = pool.first_up()
        if first is None or not isinstance(first.transport, DnsTransport):
            self.spawn(_Attempt(self, q, done, None, now))
            return
        first.health.queries += 1
        a = _Attempt(self, q, done, first, now)
        if len(pool.upstreams) > 1:  # the pool's hedge: another one is asked too when this one is slow
            wait = min(max(pool.timeout * WAIT, 2 * (first.health.ewma or 0.0)), pool.timeout / 2)
            a.hedge = True
            at = loop.time() + wait
            hedges = self.hedges
            if not hedges or at < hedges[0][0]:
                if self.hedger is not None:
                    self.hedger.cancel()
                self.hedger = loop.call_at(at, self._hedge)
            heapq.heappush(hedges, (at, next(self.seq), a))
        first.transport.udp_sockets.send(q, pool.timeout, a.answer)

    def _hedge(self) -> None:
        """The hedge delays that have passed: `slow` for each attempt still unanswered."""
        assert self.loop is not None
        self.hedger = None
        hedges, now = self.hedges, self.loop.time() + 0.001  # the loop may run a timer a little early
        while hedges and hedges[0][0] <= now:
            heapq.heappop(hedges)[2].slow()
        if hedges:
            self.hedger = self.loop.call_at(hedges[0][0], self._hedge)

    def spawn(self, a: _Attempt) -> None:
        assert self.loop is not None
        a.handed = True
        self.handed += 1
        task = self.loop.create_task(self._resolve(a))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def over_tcp(self, a: _Attempt) -> None:
        assert self.loop is not None
        task = self.loop.create_task(self._tcp(a))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _tcp(self, a: _Attempt) -> None:
        """A truncated first answer asked again over TCP in the time the pool allows one
        upstream; a failure there goes to the pool like any other."""
        pool = self.pool
        assert a.up is not None
        transport = a.up.transport
        assert isinstance(transport, DnsTransport)
        left = pool.timeout - (pool.clock() - a.sent)
        try:
            if left <= 0.001:
                raise UpstreamError(f"{transport.spec.text}: truncated answer and no time left for TCP")
            data = await transport.tcp(a.q, left)
        except UpstreamError as e:
            pool.attempt_failed(a.up, a.sent, str(e), rcode=None)
            a.handed = True
            self.handed += 1
            await self._resolve(a)
            return
        a.up.health.success(pool.clock() - a.sent)
        pool.inflight -= 1
        self.direct += 1
        a.finish(data, "")

    async def _resolve(self, a: _Attempt) -> None:
        q = a.q
        self.pool.inflight -= 1  # `resolve` counts itself
        try:
            data: bytes | None = await self.pool.resolve(q.qname, q.qtype, q.qclass, do=q.do, cd=q.cd, last=a.up)
            why = ""
        except UpstreamError as e:
            data, why = None, str(e)
        except Exception as e:  # never lose the question: its askers get SERVFAIL
            data, why = None, f"internal error: {e!r}"
        a.finish(data, why)

    async def drain(self, timeout: float) -> None:
        """Let the questions in flight finish (graceful shutdown)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.waiting and loop.time() < end:
            await asyncio.sleep(0.01)
