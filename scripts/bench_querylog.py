#!/usr/bin/env python3
"""Query log benchmark: generate N log rows (default 10M, over 7 days) straight into a
SQLite query log with their rollups, then time the dashboard and tail queries the web UI
makes (median of several runs each), and the writer's batch cost.

    .venv/bin/python scripts/bench_querylog.py [--rows 10000000] [--db /tmp/querylog-bench.db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from dnsfilter.core.logbatch import Batch, batch
from dnsfilter.core.querylog import log_info
from dnsfilter.storage.logstore import LogStore
from dnsfilter.storage.report import weekly

NOW = time.time()
DEVICES = [f"aa:bb:cc:00:00:{i:02x}" for i in range(20)]
PROFILES = ["Adults", "Kids", "Teens"]
IPS = [f"192.168.1.{i}" for i in range(20)]
CATEGORIES = ["ads", "trackers", "adult", "gambling", "malware"]


def generate(store: LogStore, rows: int, days: float = 7.0, chunk: int = 200_000) -> float:
    rnd = random.Random(7)
    names = [f"host{i}.example{i % 97}.test" for i in range(20_000)]
    t0 = time.perf_counter()
    start = NOW - days * 86400
    step = days * 86400 / rows
    for base in range(0, rows, chunk):
        out, rollup, blocked = [], Counter(), Counter()
        for k in range(base, min(base + chunk, rows)):
            ts = start + k * step
            dev = DEVICES[k % 20]
            prof = PROFILES[k % 3]
            name = names[int(rnd.paretovariate(1.2)) % len(names)]
            if k % 5 == 0:
                cat = CATEGORIES[k % 7 % 5]
                row = (ts, dev, IPS[k % 20], prof, name, 1, "blocked", "category", cat, cat, "")
                blocked[(int(ts // 3600), prof, name)] += 1
            else:
                cat = ""
                row = (ts, dev, IPS[k % 20], prof, name, 1, "cached" if k % 3 else "resolved",
                       "", "", "", "")
            rollup[(int(ts // 3600), dev, prof, cat, row[6])] += 1
            out.append(row)
        store.write(Batch(out, rollup, blocked))
    return time.perf_counter() - t0


def median_ms(fn: Callable[[], object], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--db", default="/tmp/querylog-bench.db")
    ap.add_argument("--keep", action="store_true", help="reuse an existing database of the same path")
    ap.add_argument("--md", help="also write the figures as a BENCHMARKS.md section to this file")
    a = ap.parse_args()
    made = ""
    path = Path(a.db)
    if not a.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    store = LogStore(path)
    if not a.keep:
        took = generate(store, a.rows)
        made = (f"generated {a.rows:,} rows in {took:.1f} s ({a.rows / took:,.0f} rows/s); "
                f"file {path.stat().st_size / 1e6:,.0f} MB")
        print(made)
    n = store.db.execute("SELECT count(*) FROM queries").fetchone()[0]
    r = store.db.execute("SELECT count(*) FROM rollup").fetchone()[0]
    print(f"{n:,} rows, {r:,} rollup rows")
    tz = "Asia/Almaty"
    cases: list[tuple[str, Callable[[], object]]] = [
        ("summary (today: totals, top names/categories, devices)", lambda: store.summary(NOW, tz)),
        ("series 24h", lambda: store.series("24h", NOW, tz)),
        ("series 7d", lambda: store.series("7d", NOW, tz)),
        ("series 24h, one device", lambda: store.series("24h", NOW, tz, device=DEVICES[3])),
        ("tail 100", lambda: store.tail(100)),
        ("tail 100, one device", lambda: store.tail(100, device=DEVICES[5])),
        ("tail 100, blocked", lambda: store.tail(100, outcome="blocked")),
        ("tail 100, name contains 'example5'", lambda: store.tail(100, name="example5")),
        # issue 18: the weekly report, every profile and device over 7 days, from the rollups
        ("weekly report (7 days, per profile and device)",
         lambda: weekly(log=store, requests=None, devices=[], privacy=dict.fromkeys(PROFILES, "full"), labels={},
                        now=NOW, tz=tz)),
    ]
    figures: list[tuple[str, float]] = []
    for label, fn in cases:
        figures.append((label, median_ms(fn)))
        print(f"  {figures[-1][1]:8.2f} ms  {label}")
    # the writer's cost per batch: 10k records through privacy + rows + rollups + one transaction
    info = log_info("Kids", "www.example.test", 1, "cached")
    recs = [(float(i), "192.168.1.5", DEVICES[i % 20], info) for i in range(10_000)]
    ms = median_ms(lambda: store.write(batch(recs, NOW - 10_000, {"Kids": "full"})), runs=5)
    print(f"  {ms:8.2f} ms  writer: one batch of 10,000 records (in the writer thread)")
    figures.append(("writer: one batch of 10,000 records (in the writer thread)", ms))
    store.close()
    if a.md:
        rows = "\n".join(f"| {label} | {v:.2f} |" for label, v in figures)
        Path(a.md).write_text(
            f"## Query log with {n:,} rows\n\n`scripts/bench_querylog.py` (part of `make bench`): "
            f"{n:,} rows over 7 days written straight into a SQLite query log with their rollups "
            f"({r:,} rollup rows; {made or 'an existing database'}), then the reads the Dashboard and "
            "the Query log page make, median of several runs each, in process (the pages add "
            "template rendering).\n\n| what | ms |\n|---|---|\n" + rows + "\n")
    if not a.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
