#!/usr/bin/env python3
"""Measurements the shared harness does not make, with its own functions and data:

- loss and latency at 80 % of the measured peak (the target: no lost queries there);
- the footprint of the idle daemon (RSS) for each list.

Usage: bench_extra.py BENCH_DIR CANDIDATE_CMD NAME [LIST ...]; appends to results/extra.md.
Loopback only (the harness refuses anything else); every dnsperf run is bounded by -l.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path


def pct(sorted_s: list[float], f: float) -> float:
    """The f-quantile in milliseconds of sorted latencies in seconds (-1 when there are none)."""
    if not sorted_s:
        return -1.0
    return sorted_s[min(len(sorted_s) - 1, int(f * len(sorted_s)))] * 1000


def main() -> int:
    bench_dir, cmd, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    lists = sys.argv[4:] or ["100k"]
    sys.path.insert(0, str(bench_dir))
    import bench  # the harness (copied into .bench/)

    recs = [json.loads(line) for line in (bench.RESULTS / "results.jsonl").read_text().splitlines() if line.strip()]
    q = bench.DATA / "queries"
    rows = []
    bench.start_upstream_detached()
    for label in lists:
        peaks = {}
        for wl in ("blocked", "cached", "mixed", "unique", "miss"):
            if bench.LIST_ONLY.get(wl, label) != label:
                continue
            mine = [r["qps"] for r in recs if r.get("system") == name and r.get("list") == label
                    and r.get("workload") == wl and r.get("qps")]
            if mine:
                peaks[wl] = sorted(mine)[len(mine) // 2]
        if not peaks:
            continue
        argv = bench.system_argv("candidate", label, cmd)
        srv = bench.Server(name, argv, bench.SUT_CPU, bench.RUN / "logs" / f"{name}-extra.log")
        try:
            bench.wait_ready(bench.SUT_ADDR, bench.SUT_PORT, bench.list_probe(label), "A", bench.is_blocked,
                             bench.READY_TIMEOUT, srv.proc)
            time.sleep(0.5)
            rss_idle, _ = bench.tree_mem_mb(srv.pid)
            for wl, peak in peaks.items():
                if wl == "cached":
                    bench.dnsperf(q / "cached-warm.txt", ["-n", "1", "-c", "1", "-q", "20", "-l", "30"], timeout_s=40)
                elif wl == "mixed":
                    bench.dnsperf(q / "mixed.txt", ["-n", "1", "-c", "8", "-q", "200", "-l", "20", "-t", "2"],
                                  timeout_s=40)
                rate = int(peak * 0.8)
                r, text = bench.dnsperf(q / f"{wl}.txt", ["-c", "8", "-q", "500", "-Q", str(rate), "-l", "10",
                                                          "-t", "2", "-v"], timeout_s=60)
                lats = sorted(float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", text, re.M))
                rows.append((label, wl, rate, r.get("qps", 0), r.get("sent", 0), r.get("lost", -1),
                             pct(lats, 0.5), pct(lats, 0.99)))
            rss, hwm = bench.tree_mem_mb(srv.pid)
            rows.append((label, "rss", rss_idle, rss, hwm, 0, 0, 0))
        finally:
            srv.stop()
    out = ["## At 80 % of the measured peak (loss and latency)", "",
           f"`{name}`, one run per workload: dnsperf -Q at 80 % of the median peak qps above, 10 s, "
           "8 clients × 500 outstanding, latencies from dnsperf -v.", "",
           "| list | workload | offered qps | answered qps | sent | lost | p50 ms | p99 ms |", "|---|---|---|---|---|---|---|---|"]
    for label, wl, rate, qps, sent, lost, p50, p99 in rows:
        if wl != "rss":
            out.append(f"| {label} | {wl} | {rate} | {qps:.0f} | {sent} | {lost} | {p50:.2f} | {p99:.2f} |")
    out += ["", "Footprint of the same process (MB): idle after load, after the runs, peak (VmHWM).", "",
            "| list | RSS idle | RSS after | RSS peak |", "|---|---|---|---|"]
    for label, wl, idle, rss, hwm, *_ in rows:
        if wl == "rss":
            out.append(f"| {label} | {idle:.1f} | {rss:.1f} | {hwm:.1f} |")
    (bench.RESULTS / "extra.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
