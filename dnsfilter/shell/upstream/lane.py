"""The UDP loop's way to the upstreams: a question's first attempt without a task.

`UpstreamPool.resolve` is a coroutine, so each question it answers costs a task, a future and
their scheduling: more than the rest of a cache miss. While every upstream is up and the one
the pool would ask first (`order`, its exploration included) is plain DNS, `Lane.submit` asks
that one by callback on its long-lived UDP sockets (shell/upstream/plain.py), and a usable
answer (NOERROR or NXDOMAIN, not truncated) counts into its health as the pool counts it.
Everything else is the pool's own business, in a task running `resolve`: an upstream down (its
probes and back-off live there), an encrypted first choice, an answer that is not usable
(SERVFAIL, REFUSED, truncated, an ICMP error), or no answer within the wait. With other
upstreams to turn to, the wait is a fraction of the timeout (longer for an upstream slow as a
rule), as the pool's patience with one upstream is when it can ask another; with one upstream
it is the whole timeout, and a question it never answers can then take one timeout more than
the pool alone would give it before SERVFAIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dnsfilter.shell.upstream.base import Question, UpstreamError
from dnsfilter.shell.upstream.plain import DnsTransport
from dnsfilter.shell.upstream.pool import Upstream, UpstreamPool

WAIT = 0.125  # of the timeout: how long the first attempt has before the pool takes over
USABLE = frozenset((0, 3))  # NOERROR, NXDOMAIN: any other rcode is the pool's to judge

Done = Callable[[bytes | None, str], None]  # (answer, "") or (None, why)


class _Attempt:
    """One question's first attempt; its callback is called exactly once."""

    __slots__ = ("lane", "q", "done", "up", "sent")

    def __init__(self, lane: Lane, q: Question, done: Done, up: Upstream, sent: float) -> None:
        self.lane, self.q, self.done, self.up, self.sent = lane, q, done, up, sent

    def answer(self, data: bytes | None, why: str) -> None:
        """The attempt's outcome, from the transport's reader or its timeout sweep."""
        lane = self.lane
        if data is not None and data[3] & 0xF in USABLE and not data[2] & 0x02:
            self.up.health.success(lane.pool.clock() - self.sent)
            lane.pool.inflight -= 1
            lane.waiting -= 1
            lane.direct += 1
            self.done(data, "")
        else:  # the pool decides what a failure means and whom to ask next
            lane.spawn(self.q, self.done)


class Lane:
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting = 0  # questions not answered yet
        self.direct = 0  # questions answered by their first attempt, without a task
        self.handed = 0  # questions the pool's `resolve` took over
        self.loop: asyncio.AbstractEventLoop | None = None

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
        first = pool.order(now)[0] if all(u.health.streak == 0 for u in pool.upstreams) else None
        if first is None or not isinstance(first.transport, DnsTransport):
            self.spawn(q, done)
            return
        first.health.queries += 1
        if len(pool.upstreams) > 1:  # the pool soon asks another one too when this one is slow
            wait = min(max(pool.timeout * WAIT, 2 * (first.health.ewma or 0.0)), pool.timeout / 2)
        else:  # nobody else to ask: as patient as the pool is
            wait = pool.timeout
        first.transport.udp_sockets.send(q, wait, _Attempt(self, q, done, first, now).answer)

    def spawn(self, q: Question, done: Done) -> None:
        assert self.loop is not None
        self.handed += 1
        task = self.loop.create_task(self._resolve(q, done))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _resolve(self, q: Question, done: Done) -> None:
        self.pool.inflight -= 1  # `resolve` counts itself
        try:
            data: bytes | None = await self.pool.resolve(q.qname, q.qtype, q.qclass, do=q.do, cd=q.cd)
            why = ""
        except UpstreamError as e:
            data, why = None, str(e)
        except Exception as e:  # never lose the question: its askers get SERVFAIL
            data, why = None, f"internal error: {e!r}"
        self.waiting -= 1
        done(data, why)

    async def drain(self, timeout: float) -> None:
        """Let the questions in flight finish (graceful shutdown)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.waiting and loop.time() < end:
            await asyncio.sleep(0.01)
