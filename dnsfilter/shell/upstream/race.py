"""One query's attempts racing: the upstreams asked for it so far, as tasks, and a wait for the
first of them to end or for the hedge delay to run out (pool.py decides what happens then)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dnsfilter.shell.upstream.health import Upstream

Outcome = tuple[bytes | None, str, bool]  # the answer, or why not and whether to ask it again


@dataclass(slots=True)
class Attempt:
    up: Upstream
    started: float  # pool clock
    sent: float  # loop time, for the hedge delay
    overdue: bool = False


class Race:
    """The attempts of one query running as tasks, and a wait for the first to end or the
    hedge delay (asyncio.wait does the same with more work per call: this is on every query)."""

    __slots__ = ("running", "finished", "newest", "waiter")

    def __init__(self) -> None:
        self.running: dict[asyncio.Task[Outcome], Attempt] = {}
        self.finished: list[asyncio.Task[Outcome]] = []
        self.newest: Attempt
        self.waiter: asyncio.Future[None] | None = None

    def start(self, task: asyncio.Task[Outcome], a: Attempt) -> None:
        self.running[task] = a
        self.newest = a
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Outcome]) -> None:
        self.finished.append(task)
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, loop: asyncio.AbstractEventLoop, delay: float | None) -> bool:
        """True once an attempt ended; False when `delay` (seconds) ran out first."""
        if self.finished:
            return True
        if delay is not None and delay <= 0:
            return False
        self.waiter = loop.create_future()
        timer = None if delay is None else loop.call_later(delay, self._wake)
        try:
            await self.waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        return bool(self.finished)


def next_free(queue: list[Upstream], busy: dict[asyncio.Task[Outcome], Attempt],
              also: Upstream | None = None) -> Upstream | None:
    """The first upstream in `queue` that no attempt in `busy` is asking already (nor `also`)."""
    for u in queue:
        if u is not also and all(a.up is not u for a in busy.values()):
            return u
    return None
