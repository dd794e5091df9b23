#!/usr/bin/env python3
"""Write BENCHMARKS.md from the harness's results: the side-by-side table plus the ratios
the project's targets are stated in (medians over repetitions of the latest batch)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path


def load(path: Path) -> list[dict]:
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            continue
    return recs


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main() -> int:
    bench, out = Path(sys.argv[1]), Path(sys.argv[2])
    recs = [r for r in load(bench / "results" / "results.jsonl") if r.get("workload") != "start"]
    if not recs:
        print("no results", file=sys.stderr)
        return 1
    # Keep, per system, only its latest batch: the records of the 3 hours before its last one.
    latest: dict[str, str] = {}
    for r in recs:
        latest[r["system"]] = max(latest.get(r["system"], ""), r["ts"])
    by: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in recs:
        if r["ts"] >= _hours_before(latest[r["system"]], 3):
            by[(r["system"], r["list"], r["workload"])].append(r)
    systems = sorted({k[0] for k in by}, key=lambda s: (not s.startswith("dnsfilter"), s))
    lists = sorted({k[1] for k in by})
    wls = ["blocked", "cached", "mixed"]

    def q(system: str, lst: str, wl: str, key: str = "qps") -> float | None:
        return med([r.get(key) for r in by.get((system, lst, wl), [])])

    lines = ["# Benchmarks", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `make bench` (scripts/bench.sh): the shared harness "
             "(`../shared/bench`, copied to `.bench/`) runs each system pinned to CPU 1 with dnsperf "
             "(8 clients, 200 outstanding) and the nsd upstream on CPU 0, on loopback only. Medians over the "
             "repetitions; these machines are shared and noisy, so read ratios, not absolutes.", "",
             "Candidate command: `scripts/bench-serve.sh {listen} {upstream} {domains} {list} WORKERS` "
             "(writes a config with the harness's list as one `domains` feed and `cache_size = 250000`, "
             "then runs `dnsfilter serve`).", ""]
    host = next((r.get("host") for r in recs if r.get("host")), None)
    if host:
        lines += [f"Host: {host.get('cpus')} CPUs, {host.get('cpu_model')}, kernel {host.get('kernel')}; "
                  f"{host.get('dnsmasq')}; {host.get('unbound')}; {host.get('dnsperf')}.", ""]
    lines += ["## Throughput (qps, median)", "",
              "| system | list | blocked | cached | mixed | lost b/c/m | p50 ms b/c/m @1000 qps | p99 ms b/c/m @1000 qps | load s | RSS idle MB | RSS peak MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in systems:
        for lst in lists:
            if not any((s, lst, w) in by for w in wls):
                continue
            f = lambda v, d=0: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
            lines.append("| " + " | ".join([
                s, lst, *(f(q(s, lst, w)) for w in wls),
                "/".join(f(q(s, lst, w, "lost")) for w in wls),
                "/".join(f(q(s, lst, w, "p50_ms"), 2) for w in wls),
                "/".join(f(q(s, lst, w, "p99_ms"), 2) for w in wls),
                f(q(s, lst, "blocked", "load_s"), 2), f(q(s, lst, "blocked", "rss_idle_mb")),
                f(max((r.get("rss_peak_mb") or 0) for w in wls for r in by.get((s, lst, w), [])) or None),
            ]) + " |")
    lines += ["", "## Ratios against the targets", "",
              "| candidate | list | blocked / dnsmasq | cached / dnsmasq | mixed / unbound | blocked / dnslib | cached / dnslib | mixed / dnslib |",
              "|---|---|---|---|---|---|---|---|"]
    for s in systems:
        if not s.startswith("dnsfilter"):
            continue
        for lst in lists:
            def ratio(wl: str, peer: str, s: str = s, lst: str = lst) -> str:
                a, b = q(s, lst, wl), q(peer, lst, wl)
                return "-" if a is None or not b else f"{a / b:.2f}x"
            lines.append(f"| {s} | {lst} | {ratio('blocked', 'dnsmasq')} | {ratio('cached', 'dnsmasq')} | "
                         f"{ratio('mixed', 'unbound')} | {ratio('blocked', 'dnslib-baseline')} | "
                         f"{ratio('cached', 'dnslib-baseline')} | {ratio('mixed', 'dnslib-baseline')} |")
    notes = Path(__file__).with_name("bench_notes.md")
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    for extra in ("extra.md", "feeds.md", "profiles.md", "querylog.md", "footprint.md", "authority.md", "rpz.md"):
        path = bench / "results" / extra
        if path.exists():
            lines += ["", path.read_text().strip()]
    lines += ["", "## How to reproduce", "", "```sh", "make bench                       # REPS=3 DURATION=20 LISTS=100k,1m",
              "WORKERS=2 make bench             # SO_REUSEPORT workers (the harness pins the server to one CPU)",
              "REPS=1 DURATION=10 make bench    # a quicker look", "```", "",
              "Raw records: `.bench/results/results.jsonl`; the harness's own table: "
              "`.bench/results/last-table.md`.", ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


def _hours_before(ts: str, hours: int) -> str:
    t = time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%S")) - hours * 3600
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


if __name__ == "__main__":
    raise SystemExit(main())
