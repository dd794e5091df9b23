"""The upstream stage: questions the core cannot answer wait here for one upstream query.

Identical questions in flight (the same cache key) are merged: the first asker makes the engine
emit a Forward, later ones wait on it, and the answer (or the failure) is fanned out to all of
them. Both bounds answer "busy" rather than queue without end: `max_inflight` waiting clients
in all, `max_waiters` on one question. The I/O (sockets, failover between upstreams) is the
shell's UpstreamPool; this only keeps the books.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from dnsfilter.core.dns.wire import Query
from dnsfilter.core.model import Reason
from dnsfilter.core.policy.decide import NO_TIME_STATE, TimeState

FIRST: Final = 0  # what join() did with a waiter
MERGED: Final = 1
BUSY: Final = 2


@dataclass(init=False, slots=True)
class Waiter:
    """A client waiting for an upstream answer, with what its reply depends on."""

    q: Query
    to: Any  # the client's address; not `object`: mypyc 2.4 fails on such a dataclass field
    profile: str
    ip: str
    max_size: int
    fast_key: bytes | None  # the UDP question bytes to install the answer under
    exempt: bool = False  # explicitly allowed: only authority lists filter its answer
    rewrite: bytes | None = None  # safe search: the client asked for another name
    ede: tuple[int, str] | None = None  # a rewrite by a policy zone's local CNAME: its block's EDE
    state: TimeState = NO_TIME_STATE
    device: str = ""  # for the query log
    reason: Reason | None = None

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, q: Query, to: Any, profile: str, ip: str, max_size: int, fast_key: bytes | None,
                 exempt: bool = False, rewrite: bytes | None = None, ede: tuple[int, str] | None = None,
                 state: TimeState = NO_TIME_STATE, device: str = "", reason: Reason | None = None) -> None:
        self.q = q
        self.to = to
        self.profile = profile
        self.ip = ip
        self.max_size = max_size
        self.fast_key = fast_key
        self.exempt = exempt
        self.rewrite = rewrite
        self.ede = ede
        self.state = state
        self.device = device
        self.reason = reason


class InFlight:
    __slots__ = ("queries", "waiting", "max_inflight", "max_waiters")

    def __init__(self, max_inflight: int = 2048, max_waiters: int = 64) -> None:
        self.queries: dict[bytes, list[Waiter]] = {}  # cache key -> its waiters ([] for a prefetch)
        self.waiting = 0
        self.max_inflight = max_inflight
        self.max_waiters = max_waiters

    def join(self, key: bytes, w: Waiter) -> int:
        """FIRST: forward the question; MERGED: it is already asked; BUSY: over a bound (the
        waiter was not taken)."""
        waiters = self.queries.get(key)
        if self.waiting >= self.max_inflight or (waiters is not None and len(waiters) >= self.max_waiters):
            return BUSY
        self.waiting += 1
        if waiters is not None:
            waiters.append(w)
            return MERGED
        self.queries[key] = [w]
        return FIRST

    def prefetch(self, key: bytes) -> bool:
        """Start a refresh that no client waits for, unless the question is already asked."""
        if key in self.queries:
            return False
        self.queries[key] = []
        return True

    def finish(self, key: bytes) -> list[Waiter]:
        """The question's answer came (or every upstream failed): everyone who waited for it."""
        waiters = self.queries.pop(key, [])
        self.waiting -= len(waiters)
        return waiters

    def __len__(self) -> int:
        return len(self.queries)
