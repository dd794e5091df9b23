"""Keeping the interpreter from pausing the UDP loop: the garbage collector's thresholds and
schedule, and how long another thread may hold the interpreter lock.

CPython's collector runs where an allocation happens to trip it, on whichever thread. A
full (generation 2) pass walks every tracked object: with a 250k-entry cache that took 85-170
ms on this project's bench machine, during which no query is answered. So:

- start-up and reloads end in `settle()`: a full collection while nothing is being
  answered, then `gc.freeze()`, so what they built (config, policy, lists) is never walked
  again;
- automatic full passes are off (generation 2's threshold is out of reach); `FullCollections`
  runs them instead at a quiet moment (few queries in the last check) every `EVERY` seconds,
  or after `LATEST` seconds whatever the load, so cyclic garbage that outlived the young
  generations is still freed;
- the young generations stay small (`YOUNG` allocations), so their passes take about a
  millisecond, not the 15-50 ms that a 20,000-object young generation took;
- the switch interval is 1 ms, not 5: the query log's writer thread then hands the lock
  back to the loop within a millisecond when it holds it in Python code.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("dnsfilter")

YOUNG = 2000  # allocations between young passes (CPython's default: 700)
MIDDLE = 10  # young passes per generation-1 pass (the default)
NEVER = 1 << 30  # generation 2's threshold: automatic full passes never come
SWITCH_INTERVAL = 0.001  # seconds (CPython's default: 0.005)
CHECK = 30.0  # seconds between looks at the load
EVERY = 600.0  # a full collection at the first quiet check after this many seconds
LATEST = 3600.0  # ... and after this many, quiet or not
QUIET = 50.0  # queries per second below which the daemon counts as quiet


def settle() -> None:
    """Collect everything (the frozen generation too: a reload drops the old policy, which
    start-up froze), then freeze what is left and set the thresholds."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, NEVER)
    sys.setswitchinterval(SWITCH_INTERVAL)


@dataclass
class Schedule:
    """When the next full collection is due. Pure: the caller passes the clock and the
    number of queries answered so far (any counter that only grows)."""

    last_full: float
    last_check: float
    last_count: int = 0

    def due(self, now: float, count: int) -> bool:
        """Whether to collect now; call it every CHECK seconds."""
        span = max(now - self.last_check, 1e-9)
        rate = (count - self.last_count) / span
        self.last_check, self.last_count = now, count
        age = now - self.last_full
        if age >= LATEST or (age >= EVERY and rate < QUIET):
            self.last_full = now
            return True
        return False


async def full_collections(answered: Callable[[], int], clock: Callable[[], float] = time.monotonic,
                           check: float = CHECK) -> None:
    """Run full collections on `Schedule` until cancelled."""
    now = clock()
    sched = Schedule(now, now, answered())
    while True:
        await asyncio.sleep(check)
        if sched.due(clock(), answered()):
            t0 = time.perf_counter()
            found = gc.collect()
            log.debug("full collection: %d unreachable objects, %.1f ms", found, (time.perf_counter() - t0) * 1000)
