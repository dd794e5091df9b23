"""Drains the engine's query-log ring into SQLite, off the event loop.

Every few seconds the rings are taken on the loop (reference copies only: the engine is not
thread-safe), then the records are turned into rows and rollups and written in one
transaction in a thread, so the DNS path never waits on disk. That thread pauses between
chunks of its counting so the event loop never waits long for the interpreter lock. In `log_mode = "ram"` (flash storage) the
records wait in memory and reach the disk every `log_flush` seconds (default 10 minutes).
Retention and the size cap are applied after writes, at most once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dnsfilter.config import Config
from dnsfilter.core.engine import Engine
from dnsfilter.core.logbatch import batch
from dnsfilter.core.querylog import Drained
from dnsfilter.shell.priority import lower_priority
from dnsfilter.storage.logstore import FILE, LogStore

log = logging.getLogger("dnsfilter.querylog")

DRAIN = 2.0  # seconds between ring drains: the full ring (65536) then holds 30k queries/s
DISK_FLUSH = 5.0
RAM_FLUSH = 600.0
# Records held in ram mode before an early write: a first-sight answer's record costs about
# 195 bytes until written (its place in the ring's lists 24, its LogInfo 104 and the name's
# bytes about 65: a one-off tracemalloc reading; 270 with the tuple per record before the
# rings were preallocated), so 10k are under 2 MB, which a 128 MB router can spare.
# A family's ten minutes are a few hundred records, so only a burst of new names reaches it
# (then one write per 10k answers).
RAM_PENDING = 10_000
PRUNE_EVERY = 60.0
# Seconds the writer sleeps between chunks of counting (see _pause). Spreading a flood's
# counting over a few hundred ms rather than running it back to back kept the event loop's
# p99 at 95k offered qps at 1.4-2.4 ms, against 5-6 ms with 0.2 ms sleeps (0.6-1.3 ms with
# the log off): a one-off check, not part of make bench.
PAUSE = 0.005
ROWS_PER_DRAIN = 1_000  # rows written per drain (500/s, far above a home); a flood beyond is only counted


def _pause() -> None:
    """Let the event loop have the interpreter lock: a sleep releases it at once, where the
    switch interval would make the loop wait up to its length, and spaces the chunks out so
    a busy loop keeps most of the CPU."""
    time.sleep(PAUSE)


class QueryLogWriter:
    def __init__(self, cfg: Callable[[], Config], engine: Callable[[], Engine]) -> None:
        self._cfg = cfg  # callables: a reload replaces the config, and tests swap engines
        self._engine = engine
        self.store: LogStore | None = None
        self.pending: list[tuple[float, Drained]] = []  # (wall offset, records) per drain
        self.task: asyncio.Task[None] | None = None
        self.written = 0
        self.shed = 0  # records counted in the rollups but not written as rows (floods)
        self.lost = 0  # drains that found the ring full (the oldest records were overwritten)
        # every answer logged (fast path included) for metrics, as written: in ram mode it lags
        self.answers: Counter[str] = Counter()
        self._seen_cfg: Config | None = None
        self._privacy: dict[str, str] = {}
        self._last_write = time.monotonic()
        self._last_prune = 0.0
        self._thread = ThreadPoolExecutor(1, "querylog", initializer=lower_priority)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        cfg = self._cfg()
        try:
            path = cfg.data_path()
            path.mkdir(parents=True, exist_ok=True)
            self.store = LogStore(path / FILE)
        except Exception as e:  # the DNS service runs on without a log
            log.warning("query log unavailable: %s", e)
        self.refresh()
        self.task = loop.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        # a write the cancelled task started goes on in the thread: let it end before the last
        # flush, which uses the same SQLite connection (a stop waits at most one batch)
        self._thread.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self.drain()
            self.flush()
        if self.store is not None:
            self.store.close()
            self.store = None

    def refresh(self) -> None:
        """Follow the config (privacy per profile) and the feeds in force (which are hashed)."""
        cfg, engine = self._cfg(), self._engine()
        if cfg is not self._seen_cfg:
            self._seen_cfg = cfg
            self._privacy = {p.name: p.privacy for p in cfg.profiles}
            engine.qlog.off = frozenset(n for n, m in self._privacy.items() if m == "off")
        engine.qlog.hashed_feeds = frozenset(n for n, s in engine.policy.matcher.sets.items() if s.hashed)

    def drain(self) -> None:
        """Move the ring's records to `pending` (on the loop)."""
        engine = self._engine()
        records = engine.qlog.take()
        if records.full:
            self.lost += 1
        off = engine.wall_offset  # records carry the monotonic clock; rows the wall clock
        self.pending.append((off, records))

    def _take(self) -> list[tuple[float, Drained]]:
        out, self.pending = self.pending, []
        return out

    def _pending_count(self) -> int:
        return sum(len(r) for _o, r in self.pending)

    def due(self, now: float) -> bool:
        """Whether the pending records are written now: their flush period is over, or they
        reached RAM_PENDING (a burst in ram mode: written early rather than held in memory)."""
        st = self._cfg().storage
        every = st.log_flush or (RAM_FLUSH if st.log_mode == "ram" else DISK_FLUSH)
        return now - self._last_write >= every or self._pending_count() >= RAM_PENDING

    async def write_now(self) -> None:
        """Drain and write what is pending now, in the writer's thread (after any write it is
        doing): for a reader that must see every answer so far (the weekly report sent now)."""
        self.drain()
        self._last_write = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, self._take())

    def flush(self) -> None:
        """Write what is pending (in the caller's thread)."""
        self._write(self._take())

    def _write(self, chunks: list[tuple[float, Drained]]) -> None:
        if self.store is None:
            return
        engine = self._engine()
        for wall_offset, records in chunks:
            if len(records):
                b = batch(records, wall_offset, self._privacy, engine.qlog.hashed_feeds, ROWS_PER_DRAIN,
                          pause=_pause)
                self.store.write(b)
                records.release()  # the ring's lists go back to it
                self.written += len(b.rows)
                self.shed += b.shed
                for key, n in b.rollup.items():  # from the rollup: a few keys, not a pass over records
                    self.answers[key[4]] += n
        now = time.time()
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            st = self._cfg().storage
            self.store.prune(now, st.log_days, int(st.log_max_mb * (1 << 20)))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(DRAIN)
            try:
                self.refresh()
                self.drain()
                now = time.monotonic()
                if self.due(now):
                    self._last_write = now
                    # SQLite off the loop, in the writer's own low-priority thread
                    await asyncio.get_running_loop().run_in_executor(self._thread, self._write, self._take())
            except Exception:  # the boundary: a failed write costs that batch, never the loop
                log.exception("writing the query log failed")
