#!/usr/bin/env python3
"""Feed benchmarks (issue "feeds" §8), written to .bench/results/feeds.md for BENCHMARKS.md:

- compile time per million lines, on the harness's 1M list and a generated 5M list;
- peak RSS of a compile against the size of the compiled set;
- daemon RSS per listed name (1M-name feed against an empty config);
- start-up time with an already compiled 1M set;
- in-process lookup time per name;
- lost queries across reloads under dnsperf load (loopback only, bounded by -l).

Usage: bench_feeds.py BENCH_DIR [--only compile,daemon,lookup,reload]
(BENCH_DIR: the harness copy made by scripts/bench.sh, with its data/).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, results_table, start_daemon, status_kb, write_results

PY = str(ROOT / ".venv" / "bin" / "python")


def compile_in_child(src: Path, out: Path) -> dict:
    """Compile in a fresh process so its VmHWM is the compile's own peak."""
    code = (
        "import json,resource,sys;from feeds.compile_rules import compile_feed;"
        "base=int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0]);"
        f"s=compile_feed({str(src)!r},'domains',{str(out)!r});"
        "hwm=int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]);"
        "print(json.dumps({'seconds':s.seconds,'entries':s.entries,'size':s.size,'covered':s.covered,"
        "'base_kb':base,'hwm_kb':hwm}))")
    out_text = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out_text)


def gen_list(path: Path, n: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
    tlds = ["com", "net", "org", "ru", "kz", "xa", "xb"]
    with open(path, "w") as f:
        for i in range(n):
            host = "".join(rng.choice(alpha) for _ in range(rng.randint(4, 12)))
            f.write(f"{host}{i}.{rng.choice(tlds)}\n")


def config(d: Path, port: int, feed: Path | None) -> Path:
    text = f'[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.77.1:5300"]\n[storage]\ndata_dir = "{d}/var"\n'
    if feed:
        text += f'[[feeds]]\nname = "big"\nurl = "{feed}"\nformat = "domains"\ncategory = "ads"\n'
    cfg = d / ("with.toml" if feed else "empty.toml")
    cfg.write_text(text)
    return cfg


PARTS = ("compile", "daemon", "lookup", "reload")


def compile_rows(d: Path, one_m: Path) -> tuple[list[str], int]:
    """Compile time and peak RSS on the harness's 1M list and a generated 5M list."""
    rows, entries = [], 0
    five_m = d / "gen-5m.domains"
    gen_list(five_m, 5_000_000)
    for label, src in (("1M (harness)", one_m), ("5M (generated)", five_m)):
        r = compile_in_child(src, d / "set.frs")
        lines = sum(1 for _ in open(src))
        entries = entries or r["entries"]
        rows.append(f"| compile {label} | {r['seconds']:.2f} s ({r['seconds'] / lines * 1e6:.2f} s per 1M lines) | "
                    f"{r['entries']} entries, {r['size'] / 1e6:.1f} MB file; peak RSS {(r['hwm_kb'] - r['base_kb']) / 1024:.1f} MB "
                    f"above the idle interpreter = {(r['hwm_kb'] - r['base_kb']) * 1024 / r['size']:.2f}x the set |")
    five_m.unlink()
    return rows, entries


def daemon_rows(d: Path, cfg: Path, port: int, entries: int) -> list[str]:
    """Daemon RSS per listed name, and start-up with the set already compiled."""
    p0, _ = start_daemon(config(d, port, None), d / "empty.log")
    time.sleep(0.5)
    empty = status_kb(p0.pid, "VmRSS")
    p0.send_signal(signal.SIGTERM)
    p0.wait(10)
    p1, first = start_daemon(cfg, d / "first.log")  # compiles the feed
    p1.send_signal(signal.SIGTERM)
    p1.wait(10)
    starts = []
    for i in range(5):
        p2, t = start_daemon(cfg, d / f"start{i}.log")
        starts.append(t)
        time.sleep(0.3)
        full = status_kb(p2.pid, "VmRSS")
        p2.send_signal(signal.SIGTERM)
        p2.wait(10)
    return [f"| daemon RSS, 1M-name list | {(full - empty) * 1024 / entries:.1f} bytes per listed name | "
            f"{full / 1024:.1f} MB with the list, {empty / 1024:.1f} MB empty; {entries} names in force |",
            f"| start-up with the compiled 1M set | {statistics.median(starts):.3f} s (median of 5) | "
            f"process start to 'ready'; the first start, which compiles, took {first:.2f} s |"]


def lookup_row(dset: Path, one_m: Path) -> str:
    """In-process lookup: Keys from the wire name and Matcher.block, as the slow path does."""
    code = ("import time,random;from feeds.compile_rules import load_feed;from dnsfilter.core.policy.matcher import Matcher,Keys;"
            "from dnsfilter.core.dns.wire import text_to_wire;"
            f"m=Matcher({{'b':load_feed({str(dset)!r})}});"
            f"names=[l.strip() for l in open({str(one_m)!r}) if not l.startswith('#')][:200000:2];"
            "names+=['www.example%d.com'%i for i in range(100000)];random.seed(1);random.shuffle(names);"
            "ws=[text_to_wire(n) for n in names];best=1e9\n"
            "for _ in range(3):\n"
            " t=time.perf_counter();hits=sum(m.block(Keys(w)) is not None for w in ws);best=min(best,time.perf_counter()-t)\n"
            "print(best/len(ws)*1e6, hits, len(ws))")
    us, hits, n = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    return (f"| lookup in process | {float(us):.2f} µs per name | {n} names, {hits} listed (best of 3 passes): "
            "Keys from the wire name and Matcher.block, as the slow path does |")


def reload_row(bench: Path, d: Path, cfg: Path, port: int) -> str:
    """Lost queries under dnsperf load while SIGHUP reloads swap the 1M set."""
    import bench as h  # the harness: nsd upstream and dnsperf runner

    h.start_upstream_detached()
    p3, _ = start_daemon(cfg, d / "reload.log")
    qfile = bench / "data" / "queries" / "blocked.txt"
    perf = subprocess.Popen(["taskset", "-c", h.LOAD_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d",
                             str(qfile), "-c", "4", "-q", "100", "-Q", "20000", "-l", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(5):
        time.sleep(1.5)
        p3.send_signal(signal.SIGHUP)
    text = perf.communicate(timeout=60)[0]
    p3.send_signal(signal.SIGTERM)
    p3.wait(10)
    r = h.parse_dnsperf(text)
    reloads = (d / "reload.log").read_text().count("reloaded")
    return (f"| reloads under load | {r.get('lost')} lost of {r.get('sent')} | dnsperf at 20k qps for 10 s "
            f"(blocked workload) while {reloads} SIGHUP reloads of the 1M list swapped sets |")


def main() -> int:
    bench = Path(sys.argv[1]).resolve()  # the feed url in the config must be absolute
    # --only compile,lookup runs some parts and prints them without touching results/feeds.md.
    only = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[2] == "--only" else list(PARTS)
    if set(only) - set(PARTS):
        raise SystemExit(f"parts are {', '.join(PARTS)}")
    sys.path.insert(0, str(bench))
    rows: list[str] = []
    one_m = bench / "data" / "lists" / "block-1m.domains"
    port = 5399
    with tempfile.TemporaryDirectory(prefix="dnsfilter-feeds-") as tmp:
        d = Path(tmp)
        cfg = config(d, port, one_m)
        entries = 0
        if "compile" in only:
            more, entries = compile_rows(d, one_m)
            rows += more
        dset = d / "var" / "feeds" / "big.dset"
        if "daemon" in only:
            rows += daemon_rows(d, cfg, port, entries or compile_in_child(one_m, d / "set.frs")["entries"])
        if not dset.exists() and ("lookup" in only or "reload" in only):
            subprocess.run([str(ROOT / ".venv/bin/dnsfilter"), "feeds", "sync", "-c", str(cfg)], check=True,
                           cwd=ROOT, stdout=subprocess.DEVNULL)
        if "lookup" in only:
            rows.append(lookup_row(dset, one_m))
        if "reload" in only:
            rows.append(reload_row(bench, d, cfg, port))
    text = results_table("Feeds (compiled sets)", "Measured by `scripts/bench_feeds.py` (part of `make bench`).", rows)
    if only == list(PARTS):
        write_results(bench, "feeds", text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
