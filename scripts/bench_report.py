#!/usr/bin/env python3
"""Write BENCHMARKS.md from the harness's results: every workload on the shipped config and
the OpenWrt package's, a household, the peers, the server's CPU per answered query, and the
ratios issue 15 states its goals in (medians over the repetitions of each system's latest
batch)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

WORKLOADS = ["blocked", "cached", "mixed", "unique", "miss"]
SETUPS = {  # system name -> what it runs
    "dnsfilter": "the shipped config.example.toml (cache_size 20000, fastpath_size 50000); the query path "
                 "compiled with mypyc, as `make run` builds it",
    "dnsfilter-openwrt": "the OpenWrt package's /etc/config/dnsfilter (cache_size 2500, fastpath_size 5000); "
                         "the query path interpreted (DNSFILTER_PURE=1), as the package runs it",
    "dnsfilter-household": "the shipped config with 4 profiles, 50 devices, 2 schedules and a daily budget; "
                           "the load comes from one of the Teens' devices",
}
PEERS = ["dnsmasq", "unbound"]
# (workload, peer it must match or beat): the goals
GOALS = [("blocked", "dnsmasq"), ("unique", "dnsmasq"), ("miss", "unbound"), ("cached", "dnsmasq"),
         ("cached", "unbound"), ("mixed", "dnsmasq"), ("mixed", "unbound")]


def load(path: Path) -> list[dict]:
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            continue
    return recs


def med(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def us_per_query(r: dict) -> float | None:
    """Server CPU µs per answered query: the harness samples the server's CPU share (%) over
    the run's steady window and dnsperf counts answers per second."""
    cpu, qps = r.get("server_cpu_pct"), r.get("qps")
    if cpu is None or not qps:
        return None
    return cpu / 100 / qps * 1e6


def main() -> int:
    bench, out = Path(sys.argv[1]), Path(sys.argv[2])
    recs = [r for r in load(bench / "results" / "results.jsonl") if r.get("workload") in WORKLOADS]
    if not recs:
        print("no results", file=sys.stderr)
        return 1
    latest: dict[str, str] = {}  # each system's latest batch, as the harness's own table takes it
    for r in recs:
        b = r.get("batch", r["ts"])
        latest[r["system"]] = max(latest.get(r["system"], b), b)
    by: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in recs:
        if r.get("batch", r["ts"]) == latest[r["system"]]:
            by[(r["system"], r["list"], r["workload"])].append(r)
    systems = sorted({k[0] for k in by}, key=lambda s: (not s.startswith("dnsfilter"), s))
    lists = sorted({k[1] for k in by}, key=lambda x: (len(x), x))

    def q(system: str, lst: str, wl: str) -> float | None:
        return med([r.get("qps") for r in by.get((system, lst, wl), [])])

    def us(system: str, lst: str, wl: str) -> float | None:
        return med([us_per_query(r) for r in by.get((system, lst, wl), [])])

    def f(v: float | None, d: int = 0) -> str:
        return "-" if v is None else f"{v:,.{d}f}"

    host = next((r.get("host") for r in recs if r.get("host")), None) or {}
    batches = sorted({latest[s] for s in systems})
    reps = max((len(v) for v in by.values()), default=0)
    duration = next((r.get("duration") for r in recs if r.get("duration")), None)
    lines = ["# Benchmarks", "",
             f"Measured with `make bench` (scripts/bench.sh), batches {batches[0]} to {batches[-1]}: the shared "
             "harness (`../shared/bench`, copied to `.bench/`) runs each system pinned to CPU 1 with dnsperf "
             "(8 clients, 200 outstanding) and the nsd upstream on CPU 0, on loopback only, "
             f"{reps} repetitions of {duration} s per workload; medians. These machines are shared and noisy: "
             "read ratios and CPU per query, not absolutes.", "",
             f"Host: {host.get('cpus')} CPUs, {host.get('cpu_model')}, kernel {host.get('kernel')}; "
             f"{host.get('dnsmasq')}; {host.get('unbound')}; {host.get('dnsperf')}.", "",
             "dnsfilter runs with no setting made for the benchmark (`scripts/bench-serve.sh`, "
             "`scripts/bench_config.py`: only the addresses, the harness's list as the one feed, `data_dir` and "
             "`workers` are written):", ""]
    lines += [f"- `{s}`: {d}" for s, d in SETUPS.items() if s in systems]
    lines += ["", "Workloads (`../shared/bench/README.md`): `blocked` (the 100k list's names, uniform, 112,778 "
              "distinct questions), `cached` (4,000 hot allowed questions), `mixed` (30 % blocked, 70 % allowed, "
              "Zipf), `unique` (every name of the 1m list once: nothing can be replayed; 1m list only), `miss` (a new "
              "random name under an allowed domain each time, NXDOMAIN from the upstream: every query a cache miss; "
              "100k list only).", "",
              "## Throughput and CPU per answered query", "",
              "qps, and in brackets the server's CPU µs per answered query (its CPU share over the run's steady "
              "window divided by the qps: it does not depend on how fast dnsperf can send).", "",
              "| system | list | " + " | ".join(WORKLOADS) + " | lost b/c/m/u/x | p99 ms @1000 qps b/c/m/u/x "
              "| load s | RSS idle MB | RSS peak MB |",
              "|---|---|" + "---|" * len(WORKLOADS) + "---|---|---|---|---|"]
    for s in systems:
        for lst in lists:
            rows = [r for w in WORKLOADS for r in by.get((s, lst, w), [])]
            if not rows:
                continue
            cells = [f"{f(q(s, lst, w))} ({f(us(s, lst, w), 1)})" if (s, lst, w) in by else "-" for w in WORKLOADS]
            lost = "/".join(f(med([r.get("lost") for r in by.get((s, lst, w), [])])) for w in WORKLOADS)
            p99 = "/".join(f(med([r.get("p99_ms") for r in by.get((s, lst, w), [])]), 2) for w in WORKLOADS)
            lines.append(f"| {s} | {lst} | " + " | ".join(cells) + f" | {lost} | {p99} | "
                         f"{f(med([r.get('load_s') for r in rows]), 2)} | {f(med([r.get('rss_idle_mb') for r in rows]))} | "
                         f"{f(max((r.get('rss_peak_mb') or 0) for r in rows) or None)} |")
    lines += ["", "## Against the goals", "",
              "qps ratio (µs ratio: the peer's CPU per answered query over dnsfilter's; above 1 is less CPU than "
              "the peer). Goal: every qps ratio at least 1.00x.", "",
              "| candidate | list | " + " | ".join(f"{w} / {p}" for w, p in GOALS) + " |",
              "|---|---|" + "---|" * len(GOALS)]
    misses = []
    for s in (x for x in systems if x in SETUPS and x != "dnsfilter-household"):
        for lst in lists:
            cells = []
            for w, p in GOALS:
                a, b, ua, ub = q(s, lst, w), q(p, lst, w), us(s, lst, w), us(p, lst, w)
                if a is None or not b:
                    cells.append("-")
                    continue
                cells.append(f"{a / b:.2f}x ({ub / ua:.2f}x)" if ua and ub else f"{a / b:.2f}x")
                if a / b < 1.0:
                    misses.append(f"{s} {lst} {w} / {p}: {a / b:.2f}x")
            if any(c != "-" for c in cells):
                lines.append(f"| {s} | {lst} | " + " | ".join(cells) + " |")
    lines += ["", ("**Short of a goal:** " + "; ".join(misses) + ".") if misses
              else "Every qps ratio above is at least 1.00x."]
    if "dnsfilter-household" in systems and "dnsfilter" in systems:
        lines += ["", "## A household against one profile", "",
                  "Goal: `blocked` and `unique` within 10 % of the single-profile figures.", "",
                  "| list | workload | household qps (µs) | one profile qps (µs) | change |", "|---|---|---|---|---|"]
        for lst in lists:
            for w in WORKLOADS:
                a, b = q("dnsfilter-household", lst, w), q("dnsfilter", lst, w)
                if a is None or not b:
                    continue
                lines.append(f"| {lst} | {w} | {f(a)} ({f(us('dnsfilter-household', lst, w), 1)}) | {f(b)} "
                             f"({f(us('dnsfilter', lst, w), 1)}) | {(a / b - 1) * 100:+.1f} % |")
    budget = bench / "results" / "memory.json"
    if budget.exists() and "dnsfilter" in systems:
        cost = json.loads(budget.read_text())
        lines += ["", "## Memory against the tables' cost", "",
                  "RSS peak of each run against the idle RSS plus what the configured bounds cost at the measured "
                  "per-entry figures (`scripts/bench_memory.py`, below): fast path, cache, 65,536 clients and the "
                  "query log's two full rings.", "",
                  "| system | list | RSS idle MB | RSS peak MB | budget above idle MB | peak within idle + budget |",
                  "|---|---|---|---|---|---|"]
        # (fastpath_size, cache_size) as each setup ships them (the OpenWrt package's in
        # deploy/openwrt/files/dnsfilter.config)
        sizes = {"dnsfilter": (50_000, 20_000), "dnsfilter-household": (50_000, 20_000),
                 "dnsfilter-openwrt": (5_000, 2_500)}
        for s, (fast_n, cache_n) in sizes.items():
            for lst in lists:
                rows = [r for w in WORKLOADS for r in by.get((s, lst, w), [])]
                if not rows:
                    continue
                idle = med([r.get("rss_idle_mb") for r in rows]) or 0.0
                peak = max((r.get("rss_peak_mb") or 0) for r in rows)
                total = (fast_n * cost["fast"] + cache_n * cost["cache"] + 65536 * cost["client"] + cost["ring"]) / 2**20
                lines.append(f"| {s} | {lst} | {idle:.0f} | {peak:.0f} | {total:.0f} | "
                             f"{'yes' if peak <= idle + total else '**no**'} |")
    notes = Path(__file__).with_name("bench_notes.md")
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    for extra in ("slowpath.md", "instructions.md", "memory.md", "extra.md", "feeds.md", "profiles.md", "querylog.md", "footprint.md",
                  "authority.md", "rpz.md", "fuzz.md"):
        path = bench / "results" / extra
        if path.exists():
            lines += ["", path.read_text().strip()]
    lines += ["", "## How to reproduce", "", "```sh",
              "make bench                       # REPS=3 DURATION=20 LISTS=100k,1m",
              "WORKERS=2 make bench             # SO_REUSEPORT workers (the harness pins the server to one CPU)",
              "REPS=1 DURATION=10 make bench    # a quicker look", "```", "",
              "Raw records: `.bench/results/results.jsonl`; the harness's own tables: "
              "`.bench/results/last-table*.md`.", ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out} ({time.strftime('%Y-%m-%d %H:%M')})")
    if len(sys.argv) > 3:  # README's headline: the shipped config's figures of this batch
        readme = Path(sys.argv[3])
        text = readme.read_text()
        start, end = text.find(README_START), text.find(README_END)
        if 0 <= start < end:
            block = headline(q, us, lists, reps, duration, batches[-1])
            readme.write_text(text[: start + len(README_START)] + "\n" + block + "\n" + text[end:])
            print(f"updated the headline of {readme}")
    return 0


README_START, README_END = "<!-- bench:start (scripts/bench_report.py) -->", "<!-- bench:end -->"


def headline(q, us, lists: list[str], reps: int, duration: object, batch: str) -> str:  # type: ignore[no-untyped-def]
    """One paragraph for README: the shipped config's and the OpenWrt config's ratios."""
    def span(system: str, wl: str, peer: str) -> str:
        rs = [a / b for lst in lists if (a := q(system, lst, wl)) is not None and (b := q(peer, lst, wl))]
        if not rs:
            return "-"
        lo, hi = min(rs), max(rs)
        return f"{lo:.2f}×" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}×"

    def cpu(system: str, wl: str) -> str:
        vals = [v for lst in lists if (v := us(system, lst, wl)) is not None]
        return "-" if not vals else f"{min(vals):.0f}" if round(min(vals)) == round(max(vals)) else \
            f"{min(vals):.0f}–{max(vals):.0f}"

    out = (f"On the shared 2-CPU benchmark machine (`make bench`, batch {batch}, {reps} × {duration} s per workload), "
           "one dnsfilter process on the shipped config (`config.example.toml`, no setting changed; the query path "
           "compiled with mypyc, as `make run` builds it) answers blocked "
           f"names at {span('dnsfilter', 'blocked', 'dnsmasq')} dnsmasq's rate, names never asked before "
           f"(`unique`, 1M list) at {span('dnsfilter', 'unique', 'dnsmasq')}, cache misses (`miss`) at "
           f"{span('dnsfilter', 'miss', 'unbound')} Unbound's, cached names at {span('dnsfilter', 'cached', 'dnsmasq')} "
           f"dnsmasq's and the mixed workload at {span('dnsfilter', 'mixed', 'unbound')} Unbound's. Server CPU per "
           f"answered query: {cpu('dnsfilter', 'blocked')} µs blocked (dnsmasq {cpu('dnsmasq', 'blocked')}), "
           f"{cpu('dnsfilter', 'unique')} µs unique (dnsmasq {cpu('dnsmasq', 'unique')}), {cpu('dnsfilter', 'miss')} µs "
           f"per miss (Unbound {cpu('unbound', 'miss')}). With the OpenWrt package's smaller tables, interpreted as "
           "the package runs it: blocked "
           f"{span('dnsfilter-openwrt', 'blocked', 'dnsmasq')}, unique {span('dnsfilter-openwrt', 'unique', 'dnsmasq')}, "
           f"miss {span('dnsfilter-openwrt', 'miss', 'unbound')}.")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
