"""The query log writer's thread (shell/querylog_writer.py): its priority, and that it
writes what the rings held, on a real SQLite store."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from dnsfilter.config import load
from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.fastpath import Slot
from dnsfilter.core.querylog import RING_SIZE, log_info
from dnsfilter.shell.priority import NICER
from dnsfilter.shell.querylog_writer import RAM_PENDING, ROWS_PER_DRAIN, QueryLogWriter
from dnsfilter.storage.logstore import LogStore
from tests.support.engine import make


def _nice(tid: int) -> int:
    # field 19 of /proc/PID/task/TID/stat, counted after the command's closing parenthesis
    return int(Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_writer_thread_runs_nicer_than_the_daemon_and_writes_a_flood(tmp_path: Path) -> None:
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(f'[storage]\ndata_dir = "{tmp_path}/var"\n')
    cfg, eng = load(cfg_path), make()
    w = QueryLogWriter(lambda: cfg, lambda: eng)
    w.store = LogStore(tmp_path / "log.sqlite")
    try:
        ql, slot = eng.qlog, Slot({}, None, "tablet", "10.0.0.9")
        now = time.time() - eng.wall_offset  # the ring's clock (rows older than log_days are pruned)
        flood = 0
        for _ in range(2):  # the first burst fills the small ring and makes it grow to full size
            flood += ql.mask + 1  # a whole ring: handed over, not copied
            for k in range(ql.mask + 1):
                j = ql.pos & ql.mask
                ql.times[j], ql.slots[j], ql.infos[j] = now + k / 1e5, slot, log_info(
                    "Kids", b"\x03ads\x04test\x00", 1, "blocked", "category", "ads", "ads", "")
                ql.pos += 1
            w.drain()
        assert ql.mask + 1 == RING_SIZE
        mine = _nice(threading.get_native_id())
        theirs = w._thread.submit(lambda: _nice(threading.get_native_id())).result(10)
        if os.name == "posix" and mine + NICER <= 19:
            assert theirs == mine + NICER
        w._thread.submit(w._write, w._take()).result(30)
        assert w.shed == flood - 2 * ROWS_PER_DRAIN and w.answers["blocked"] == flood  # rows of each drain
        assert ql.spare  # the ring's lists came back after the write
        rows = w.store.tail(5)
        assert rows and rows[0]["name"] == "ads.test"
    finally:
        w.store.close()
        w._thread.shutdown()


def test_ram_mode_writes_early_at_the_pending_cap_and_lets_the_records_go(tmp_path: Path) -> None:
    """In ram mode (a flush every hour here) records wait in memory, but never more than
    RAM_PENDING of them: a burst of new names is written at the cap, and the written records
    are released (the writer keeps nothing of them). The cap is what a 128 MB router's budget
    leaves for them (docs/deploy.md): under 2 MB at about 195 bytes a record."""
    assert RAM_PENDING * 195 < 2 << 20
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(f'[storage]\ndata_dir = "{tmp_path}/var"\nlog_mode = "ram"\nlog_flush = 3600\n')
    cfg, eng = load(cfg_path), make()
    w = QueryLogWriter(lambda: cfg, lambda: eng)
    w.store = LogStore(tmp_path / "log.sqlite")
    try:
        now = time.monotonic()
        w._last_write = now

        def burst(n: int, start: int) -> None:
            for i in range(start, start + n):
                info = eng.qlog.info("Kids", text_to_wire(f"host{i}.burst.test"), 1, "forwarded", None)
                eng.qlog.record(now, "10.0.0.9", "tablet", info)
                if i % 2000 == 1999:  # the writer drains every 2 s: 1k new names a second here
                    w.drain()
            w.drain()

        burst(RAM_PENDING - 1, 0)
        assert not w.due(now + 60)  # a family's records wait for the hour
        burst(1, RAM_PENDING)
        assert w.due(now + 60)  # the cap: written now
        chunks = w._take()
        assert w.pending == [] and sum(len(c) for _o, c in chunks) == RAM_PENDING
        w._write(chunks)
        assert all(len(c) == 0 for _o, c in chunks)  # released once written
        assert w.written == 5 * ROWS_PER_DRAIN + 1  # the rows of each drain (five of ~2,000 records, one of 1); the rest counted
        assert w.answers["forwarded"] == RAM_PENDING
        assert not w.due(now + 60)
        assert w.due(w._last_write + 3601)  # and the hour (from that write) still brings a write
    finally:
        w.store.close()
        w._thread.shutdown()
