#!/usr/bin/env python3
"""The slow path on its own: CPU per query for a blocked name seen for the first time and for
an allowed name missing from the cache, on the shipped config (config.example.toml's sizes).

Two readings of each, one-off (CPU time, so a busy machine inflates them less than qps):
- in process: what the UDP loop calls for such a query, timed over N queries (best of 3
  passes, a fresh engine each): `Engine.first_sight` (or `on_query` where a checkout has no
  first_sight) for the blocked name; for the allowed one, the same up to its Forward plus
  `on_upstream` with the upstream's real answer, read beforehand (the network is not timed);
- whole daemon: `dnsfilter serve` pinned to one CPU, dnsperf sending N such queries once each
  (8 clients × 200 outstanding, the harness's nsd as the upstream), the daemon's CPU time
  (utime + stime, every thread) per answered query.

    bench_slowpath.py BENCH_DIR [--repo CHECKOUT] [--label NAME] [--n N] [--md FILE [--append]]

--repo measures another checkout's dnsfilter with this script (e.g. the commit before a
change, exported with `git archive`): its package is imported instead of this one's.
Loopback only; every dnsperf run is bounded by -l.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
QT = {"A": 1, "AAAA": 28}


def query(name: str, qtype: str, qid: int) -> bytes:
    """A query as dnsperf sends it: RD, no EDNS."""
    out = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + struct.pack(">HH", QT[qtype], 1)


def names(bench: Path, workload: str, n: int) -> list[tuple[str, str]]:
    out = []
    with open(bench / "data" / "queries" / f"{workload}.txt") as f:
        for line in f:
            if len(out) >= n:
                break
            name, qtype = line.split()
            out.append((name, qtype))
    return out


IN_PROCESS = r"""
import json, socket, struct, sys, time
sys.path.insert(0, sys.argv[1])  # the checkout measured
from dnsfilter import config as cfgmod
from dnsfilter.assemble import build_engine
from dnsfilter.shell.lists import load_matcher
from dnsfilter.core.engine import Forward

cfg = cfgmod.load(sys.argv[2])
upstream = tuple(sys.argv[3].rsplit(":", 1))
queries = json.load(open(sys.argv[4]))
blocked = [bytes.fromhex(h) for h in queries["blocked"]]
allowed = [bytes.fromhex(h) for h in queries["allowed"]]
matcher = load_matcher(cfg)
IP = "127.0.0.1"

def engine():
    e = build_engine(cfg, matcher)
    e.on_query(blocked[0], IP, "c", 0.0)  # the client's slot, as its first query makes it
    return e

def loop_calls(e, data, now):
    # what the UDP loop calls for a question missing from the fast table
    slot = e.fast.clients.get(IP)
    first = getattr(e, "first_sight", None)
    if slot is not None and first is not None:
        r = first(slot, data[2:], now)
        if r is None:
            return e.on_query(data, IP, "c", now)
        if type(r) is tuple:
            return r
        return e.go_on(r, data[0] << 8 | data[1], "c", now)
    return e.on_query(data, IP, "c", now)

# the upstream's real answers to the allowed questions, read before the clock starts
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
answers = {}
probe = build_engine(cfg, matcher)
for data in allowed:
    fw = [a for a in probe.on_query(data, IP, "c", 0.0) if isinstance(a, Forward)]
    if not fw:
        continue
    f = fw[0]
    from dnsfilter.core.dns import wire
    q = wire.build_query(4242, f.qname, f.qtype, f.qclass, do=f.do, cd=f.cd)
    s.sendto(q, (upstream[0], int(upstream[1])))
    answers[data] = s.recv(65535)
    probe.on_upstream(f, answers[data], 0.0)

def run_blocked():
    e = engine()
    t0 = time.process_time()
    for data in blocked[1:]:
        loop_calls(e, data, 1.0)
    return (time.process_time() - t0) / (len(blocked) - 1)

def run_allowed():
    e = engine()
    n = 0
    t0 = time.process_time()
    for data, ans in answers.items():
        acts = loop_calls(e, data, 1.0)
        fw = [a for a in acts if isinstance(a, Forward)]
        if fw:
            e.on_upstream(fw[0], ans, 1.0)
            n += 1
    return (time.process_time() - t0) / max(n, 1)

b = min(run_blocked() for _ in range(3))
a = min(run_allowed() for _ in range(3))
print(json.dumps({"blocked_us": b * 1e6, "allowed_us": a * 1e6, "blocked_n": len(blocked) - 1,
                  "allowed_n": len(answers), "first_sight": hasattr(build_engine(cfg, matcher), "first_sight")}))
"""


def in_process(repo: Path, cfg: Path, upstream: str, blocked: list[bytes], allowed: list[bytes]) -> dict:
    import json

    qs = cfg.parent / "queries.json"
    qs.write_text(json.dumps({"blocked": [b.hex() for b in blocked], "allowed": [b.hex() for b in allowed]}))
    out = subprocess.run([PY, "-c", IN_PROCESS, str(repo), str(cfg), upstream, str(qs)],
                         capture_output=True, text=True, check=True, cwd=repo,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def daemon(h: object, repo: Path, cfg: Path, qfile: Path, n: int) -> dict:
    """CPU per answered query of the whole daemon for `n` queries of `qfile`, each once."""
    bench = h  # the harness module
    log = cfg.parent / "daemon.log"
    env = {**os.environ, "PYTHONPATH": str(repo)}
    argv = ["taskset", "-c", bench.SUT_CPU, PY, "-m", "dnsfilter", "serve", "-c", str(cfg), "--log-level", "warning"]
    proc = subprocess.Popen(argv, stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=repo, env=env,
                            start_new_session=True)
    try:
        host, port = bench.SUT_ADDR, bench.SUT_PORT
        bench.wait_ready(host, port, bench.list_probe("1m"), "A", bench.is_blocked, 300, proc)
        time.sleep(0.5)
        c0 = bench.tree_cpu_s(proc.pid)
        r, _ = bench.dnsperf(qfile, ["-n", "1", "-c", "8", "-q", "200", "-t", "3", "-l", "120"], timeout_s=200)
        c1 = bench.tree_cpu_s(proc.pid)
    finally:
        bench.stop_pid(proc.pid, 15, proc)
    done = r.get("completed", 0)
    return {"us": 1e6 * (c1 - c0) / max(done, 1), "answered": done, "sent": r.get("sent", 0), "qps": r.get("qps", 0)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--repo", type=Path, default=ROOT)
    ap.add_argument("--label", default="")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--md", type=Path)
    ap.add_argument("--append", action="store_true", help="keep the rows already in --md (before/after)")
    a = ap.parse_args()
    bench_dir, repo = a.bench.resolve(), a.repo.resolve()
    sys.path.insert(0, str(bench_dir))
    import bench as h  # the harness: nsd upstream, dnsperf runner, /proc readings

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_config import config

    h.start_upstream_detached()
    upstream = f"{h.UP_ADDR}:{h.UP_PORT}"
    blocked_q = names(bench_dir, "unique", a.n)
    allowed_q = names(bench_dir, "miss", a.n)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="dnsfilter-slowpath-") as tmp:
        d = Path(tmp)
        cfg = d / "config.toml"
        cfg.write_text(config("defaults", f"{h.SUT_ADDR}:{h.SUT_PORT}", upstream,
                              str(bench_dir / "data" / "lists" / "block-1m.domains"), str(d / "var"), 1, root=repo))
        subprocess.run([PY, "-m", "dnsfilter", "feeds", "sync", "-c", str(cfg)], check=True, cwd=repo,
                       env={**os.environ, "PYTHONPATH": str(repo)}, stdout=subprocess.DEVNULL)
        small = min(a.n, 20_000)  # in process: enough for a steady figure
        rows["in"] = in_process(repo, cfg, upstream,
                                [query(n, t, i & 0xFFFF) for i, (n, t) in enumerate(blocked_q[:small])],
                                [query(n, t, i & 0xFFFF) for i, (n, t) in enumerate(allowed_q[:small])])
        for wl, qs in (("unique", blocked_q), ("miss", allowed_q)):
            qfile = d / f"{wl}.txt"
            qfile.write_text("".join(f"{n} {t}\n" for n, t in qs))
            runs = [daemon(h, repo, cfg, qfile, a.n) for _ in range(a.reps)]
            rows[wl] = {"us": statistics.median(r["us"] for r in runs), "all": [round(r["us"], 1) for r in runs],
                        "answered": min(r["answered"] for r in runs), "sent": runs[0]["sent"]}
    label = a.label or (subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip() or str(repo))
    i = rows["in"]
    lines = [
        f"| {label} | blocked, first sight | {i['blocked_us']:.1f} | {rows['unique']['us']:.1f} "
        f"({', '.join(map(str, rows['unique']['all']))}) | {rows['unique']['answered']:,} of {rows['unique']['sent']:,} |",
        f"| {label} | allowed, cache miss | {i['allowed_us']:.1f} | {rows['miss']['us']:.1f} "
        f"({', '.join(map(str, rows['miss']['all']))}) | {rows['miss']['answered']:,} of {rows['miss']['sent']:,} |",
    ]
    print("\n".join(lines))
    if a.md is not None:  # rows under a header, added to those of earlier runs with --append
        head = ["## The slow path on its own", "",
                "Measured by `scripts/bench_slowpath.py` (part of `make bench`, which also measures "
                "an earlier commit from `git archive`, named in the first column): CPU per query for a blocked name asked for the first time "
                "(the `unique` workload's names) and an allowed name missing from the cache (the `miss` workload's), "
                "on the shipped config. In process: what the UDP loop calls for such a query (the engine alone; for "
                "the cache miss up to its upstream query, then the upstream's real answer, read beforehand), best of 3 "
                f"passes. Whole daemon: `dnsfilter serve` on one CPU, dnsperf sending {a.n:,} such queries once each "
                "(8 × 200 outstanding), the daemon's CPU time (every thread) per answered query, median of the runs.",
                "", "| code | query | in process µs | whole daemon µs (runs) | answered |", "|---|---|---|---|---|"]
        old = a.md.read_text().splitlines() if a.append and a.md.exists() else head
        a.md.write_text("\n".join((old if old[: len(head)] == head else head) + lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
