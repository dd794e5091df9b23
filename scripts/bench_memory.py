#!/usr/bin/env python3
"""What the daemon's bounded tables cost per entry, measured, and what that makes on the
shipped config (config.example.toml) and the OpenWrt package's: the figures docs/performance.md
gives, and the budget BENCHMARKS.md holds the harness's RSS peaks against.

In one process, the real engine built from the shipped config with the harness's 100k list,
each table filled with N entries of its own kind (tracemalloc: the Python objects each entry
holds, the table's own slots included; RSS: the process's resident growth, allocator
slack included — the larger of the two is the per-entry cost used):
- the fast path: blocked answers (first sights), and cached answers with their TTL patch;
- the cache: negative answers (NXDOMAIN with an SOA, the miss workload's) and A/AAAA answers
  (the cached workload's 4,000 questions), as the harness's upstream gives them;
- clients: one address each (identity, rate-limit bucket, fast slot, the loop's address text);
- the query log's rings: full (a flood between two drains).

    bench_memory.py BENCH_DIR [--n N] [--md FILE]
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def per_entry(n: int, fill: Callable[[], object]) -> tuple[float, float]:
    """(traced bytes, RSS bytes) per entry that `fill` adds (it adds n and returns what holds them)."""
    gc.collect()
    r0 = rss()
    tracemalloc.start()
    t0 = tracemalloc.get_traced_memory()[0]
    keep = fill()
    gc.collect()
    t1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    gc.collect()
    r1 = rss()
    del keep
    return (t1 - t0) / n, max(0, r1 - r0) / n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--md", type=Path)
    a = ap.parse_args()
    bench_dir = a.bench.resolve()
    sys.path.insert(0, str(bench_dir))
    import bench as h  # the harness: its upstream (nsd) and data
    from bench_config import config
    from bench_slowpath import names, query

    from dnsfilter import config as cfgmod
    from dnsfilter.assemble import build_engine
    from dnsfilter.core.cache import Cache, cache_key
    from dnsfilter.core.dns import wire
    from dnsfilter.core.doorkeeper import Doorkeeper
    from dnsfilter.shell.lists import load_matcher

    h.start_upstream_detached()
    n = a.n
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="dnsfilter-memory-") as tmp:
        d = Path(tmp)
        cfg_path = d / "config.toml"
        cfg_path.write_text(config("defaults", "127.0.0.1:0", f"{h.UP_ADDR}:{h.UP_PORT}",
                                   str(bench_dir / "data" / "lists" / "block-1m.domains"), str(d / "var"), 1))
        subprocess.run([str(ROOT / ".venv" / "bin" / "dnsfilter"), "feeds", "sync", "-c", str(cfg_path)],
                       check=True, stdout=subprocess.DEVNULL)
        cfg = cfgmod.load(cfg_path)
        matcher = load_matcher(cfg)

        def engine():  # room for every entry measured; the client's slot made by its first query
            e = build_engine(cfg, matcher)
            e.fast.max_entries = e.cache.size = 10 * n
            e.on_query(query("probe.invalid", "A", 1), "127.0.0.1", "c", 0.0)
            return e

        blocked = [query(x, t, i & 0xFFFF) for i, (x, t) in enumerate(names(bench_dir, "unique", n))]
        e = engine()
        slot = e.fast.clients["127.0.0.1"]
        for b in blocked:  # first sights, not kept: the answers are kept from their second sight
            e.first_sight(slot, b[2:], 1.0)
        rows.append(("fast path: a blocked answer", *per_entry(
            n, lambda: [e.first_sight(slot, b[2:], 1.0) for b in blocked] and e.fast)))

        def answers(workload: str) -> dict[bytes, bytes]:
            """The upstream's answers to the first n questions of `workload`, read beforehand."""
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            out: dict[bytes, bytes] = {}
            asked: set[tuple[str, str]] = set()
            for i, (x, t) in enumerate(names(bench_dir, workload, n)):
                if (x, t) in asked:  # each question once: one entry each
                    continue
                asked.add((x, t))
                data = query(x, t, i & 0xFFFF)
                q = wire.parse_query(data)
                s.sendto(wire.build_query(i & 0xFFFF, q.qname, q.qtype, q.qclass), (h.UP_ADDR, h.UP_PORT))
                out[data] = s.recv(65535)
            s.close()
            return out

        for label, workload in (("NXDOMAIN with SOA", "miss"), ("A/AAAA records", "cached")):
            got = answers(workload)
            if len(got) < 1000:
                continue
            parsed = [(wire.parse_query(q), ans, wire.parse_response(ans)) for q, ans in got.items()]

            def fill_cache(c, parsed=parsed):  # type: ignore[no-untyped-def]
                for q, ans, r in parsed:
                    c.store(cache_key(q.qname, q.qtype, q.qclass, q.do, q.cd), c.make_entry(ans, r, 1.0))
                return c

            c = Cache(10 * n)  # made before: its doorkeeper is counted apart (below)
            rows.append((f"cache: an answer ({label})", *per_entry(len(parsed), lambda c=c: fill_cache(c))))
            e = engine()
            # not measured: only the prebuilt answers made from it below. The slow ring's records
            # (QueryLog.answer) hold no object of their own: the name is the entry's, in place.
            e.cache = fill_cache(Cache(10 * n))

            def hits(e=e, got=got):
                for data in got:
                    e.on_query(data, "127.0.0.1", "c", 2.0)
                return e

            rows.append((f"fast path: a cached answer ({label}, TTLs patched)", *per_entry(len(got), hits)))

        e = engine()
        ips = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(1, n + 1)]
        ips_text: dict[bytes, str] = {}

        def clients():  # each asks the same blocked name: one prebuilt answer for them all
            for ip in ips:
                e.on_query(blocked[0], ip, "c", 1.0)
                ips_text[socket.inet_aton(ip)] = ip  # the batched loop's address text
            return e

        rows.append(("a client (identity, rate limit, fast slot, address text)", *per_entry(n, clients)))
        e = engine()
        size = e.qlog.size

        def flood():  # a full slow ring of first-sight records and a full fast ring
            e.qlog.slow._use(size)  # both rings at their full size, as after a burst's first take
            for i in range(size):
                e.qlog.record(1.0, "10.0.0.1", "dev", e.qlog.info("Default", blocked[i % n][12:-4], 1, "blocked", None))
            e.qlog._use(size)
            return e

        rows.append(("query log: one ring record (both rings full)", *per_entry(size, flood)))
    cost = {label: max(t, r) for label, t, r in rows}

    def mb(x: float) -> str:
        return f"{x / 2**20:.1f}"

    fast_b = max(v for k, v in cost.items() if k.startswith("fast path"))
    cache_b = max(v for k, v in cost.items() if k.startswith("cache"))
    client_b = cost["a client (identity, rate limit, fast slot, address text)"]
    from dnsfilter.core.querylog import RING_SIZE

    ring_b = cost["query log: one ring record (both rings full)"] * RING_SIZE
    lines = ["## Memory: what the tables cost", "",
             f"Measured by `scripts/bench_memory.py` (part of `make bench`): the real engine on the shipped config, "
             f"each table filled with {n:,} entries of one kind; per entry, the Python objects it holds (tracemalloc) "
             "and the process's resident growth (RSS, allocator slack included).", "",
             "| entry | traced bytes | RSS bytes |", "|---|---|---|"]
    lines += [f"| {label} | {t:,.0f} | {r:,.0f} |" for label, t, r in rows]
    door_b = 2 * (Doorkeeper(50_000).mask + 1) / 50_000  # two generations, per entry of the bound
    lines += [f"| admission (doorkeeper), per entry of the configured size | {door_b:.0f} | {door_b:.0f} |"]
    lines += ["", "Budget (the larger of the two figures per entry, every table at its bound):", "",
              "| config | fast path | cache | admission | 65,536 clients | query log rings | total above idle MB |",
              "|---|---|---|---|---|---|---|"]
    for label, fast_n, cache_n in (("shipped (config.example.toml)", 50_000, 20_000), ("OpenWrt package", 5_000, 2_500)):  # deploy/openwrt/files/dnsfilter.config
        door = (fast_n + cache_n) * door_b
        total = fast_n * fast_b + cache_n * cache_b + door + 65536 * client_b + ring_b
        lines.append(f"| {label} | {fast_n:,} × {fast_b:,.0f} B = {mb(fast_n * fast_b)} MB | {cache_n:,} × {cache_b:,.0f} B"
                     f" = {mb(cache_n * cache_b)} MB | {mb(door)} MB | {mb(65536 * client_b)} MB | {mb(ring_b)} MB "
                     f"| **{mb(total)}** |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.md is not None:
        a.md.write_text(text)
        (a.md.parent / "memory.json").write_text(__import__("json").dumps(
            {"fast": fast_b + door_b, "cache": cache_b + door_b, "client": client_b, "ring": ring_b}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
