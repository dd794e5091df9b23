"""Logging for events that a client can trigger at will (malformed packets, rate limits):
a few lines per kind per window, then one line saying how many were left out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WARN_KINDS = frozenset({"upstream", "busy", "internal"})


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, per_window: int = 5, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self._state: dict[str, list[float]] = {}  # kind -> [window start, logged, suppressed]

    def __call__(self, kind: str, msg: str) -> None:
        now = self.clock()
        st = self._state.get(kind)
        if st is None or now - st[0] >= self.window:
            if st is not None and st[2]:
                self.logger.warning("%s: %d more messages suppressed", kind, int(st[2]))
            st = self._state[kind] = [now, 0, 0]
        if st[1] < self.per_window:
            st[1] += 1
            level = logging.WARNING if kind in WARN_KINDS else logging.INFO
            self.logger.log(level, "%s: %s", kind, msg)
        else:
            st[2] += 1
