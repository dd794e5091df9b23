#!/usr/bin/env python3
"""Instructions per query, whole server, counted by valgrind's callgrind: a figure the
machine's noise does not move, beside the µs of the throughput tables.

Each system runs under `valgrind --tool=callgrind` on the harness's addresses with the 100k
list (dnsfilter on the shipped config, as bench-serve.sh writes it; dnsmasq and Unbound as the
harness starts them). Per kind of query, the counters are zeroed (`callgrind_control -z`), N
queries are sent from this process (64 outstanding) and answered, the window waits `--tail`
seconds more (dnsfilter writes its query log every few seconds: the rows of the window's
answers are written within it), and the counters are dumped (`-d`): the instructions executed
in user space by every thread of the server over the window, less what an idle window of the
same length costs (timers, ticks), divided by N. At the rate valgrind allows (a few hundred
queries a second) every answer of dnsfilter's becomes a query-log row, as in a home; under a
flood most are only counted (querylog_writer.ROWS_PER_DRAIN), so the tables' µs carry less
of it. The kernel's share (the system calls, the loopback) is not counted; dnsfilter
batches its system calls and dnsmasq does one per packet, so a kernel-heavy path looks cheaper
here than it is for dnsmasq. One run each: counts repeat within a fraction of a percent.

Kinds, in this order (each server started once):
- blocked, first sight: the first N distinct names of the `blocked` workload, each once;
- blocked, replayed: the same names a third time (after two passes);
- allowed, cache miss: N names of the `miss` workload (new random labels, NXDOMAIN upstream);
- allowed, replayed: the `cached` workload's names, a third time (after two passes).

    bench_instructions.py BENCH_DIR [--system dnsfilter|dnsmasq|unbound] [--repo CHECKOUT]
                          [--label NAME] [--n N] [--md FILE [--append]] [--keep DIR]

--keep DIR keeps the server's callgrind dumps in DIR (cg.PID.2-01 is the first-sight window's
serving thread, .3- the blocked replay, .4- the miss, .5- the allowed replay) for
scripts/callgrind_funcs.py, which reads them per function.

Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
QT = {"A": 1, "AAAA": 28}
OUTSTANDING = 64
KINDS = ("blocked, first sight", "blocked, replayed", "allowed, cache miss", "allowed, replayed")


def query(name: str, qtype: str, qid: int) -> bytes:
    """A query as dnsperf sends it: RD, no EDNS."""
    out = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + struct.pack(">HH", QT[qtype], 1)


def distinct(bench: Path, workload: str, n: int) -> list[bytes]:
    seen: set[str] = set()
    out = []
    with open(bench / "data" / "queries" / f"{workload}.txt") as f:
        for line in f:
            if len(out) >= n:
                break
            if line in seen:
                continue
            seen.add(line)
            name, qtype = line.split()
            out.append(query(name, qtype, len(out) & 0xFFFF))
    return out


def exchange(addr: tuple[str, int], queries: list[bytes]) -> int:
    """Send every query, at most OUTSTANDING unanswered at a time; returns the answers read.
    An answer not come within 10 s is given up (the window moves on without it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10.0)
    sent = settled = answered = 0  # settled: answered or given up
    try:
        while settled < len(queries):
            while sent < len(queries) and sent - settled < OUTSTANDING:
                s.sendto(queries[sent], addr)
                sent += 1
            try:
                s.recv(4096)
            except TimeoutError:  # nothing more is coming for the ones sent so far
                settled = sent
                continue
            settled += 1
            answered += 1
    finally:
        s.close()
    return answered


def control(pid: int, flag: str) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=120)


def dumped(prefix: str, pid: int, index: int, poke: Callable[[], object], timeout: float = 300.0) -> tuple[int, int]:
    """The instruction counts of dump number `index` of process `pid`: its first thread (the
    event loop: dnsfilter's, dnsmasq's and Unbound's one serving thread) and all its others
    (dnsfilter's query-log writer, feed sync). Valgrind acts on a dump request when the
    process next runs: an idle server is sent a query every few seconds until the dump is
    there (a query's count is far below a window's)."""
    end = time.monotonic() + timeout
    next_poke = time.monotonic() + 5.0
    while time.monotonic() < end:
        files = glob.glob(f"{prefix}.{pid}.{index}-*")
        counts = {}
        for f in files:
            m = re.search(r"^(?:summary|totals): (\d+)", Path(f).read_text(), re.M)
            if m:
                counts[int(f.rsplit("-", 1)[1])] = int(m.group(1))
        if files and len(counts) == len(files):
            time.sleep(1.0)  # every thread's file is written before the next glob
            if len(glob.glob(f"{prefix}.{pid}.{index}-*")) == len(files):
                first = min(counts)
                return counts[first], sum(v for k, v in counts.items() if k != first)
        if time.monotonic() >= next_poke:
            poke()
            next_poke = time.monotonic() + 5.0
        time.sleep(0.5)
    raise SystemExit(f"no callgrind dump {prefix}.{pid}.{index}")


def server_argv(h: object, system: str, repo: Path, tmp: Path) -> tuple[list[str], dict[str, str], Path]:
    bench = h  # the harness module
    if system == "dnsfilter":
        sys.path.insert(0, str(ROOT / "scripts"))
        from bench_config import config

        cfg = tmp / "config.toml"
        cfg.write_text(config("defaults", f"{bench.SUT_ADDR}:{bench.SUT_PORT}", f"{bench.UP_ADDR}:{bench.UP_PORT}",
                              str(bench.listfile("100k", "domains")), str(tmp / "var"), 1, root=repo))
        env = {**os.environ, "PYTHONPATH": str(repo)}
        subprocess.run([PY, "-m", "dnsfilter", "feeds", "sync", "-c", str(cfg)], check=True, cwd=repo, env=env,
                       stdout=subprocess.DEVNULL, timeout=600)
        return [PY, "-m", "dnsfilter", "serve", "-c", str(cfg), "--log-level", "warning"], env, repo
    return bench.system_argv(system, "100k"), dict(os.environ), tmp


def measure(h: object, system: str, repo: Path, n: int, tail: float, keep: Path | None = None) -> dict[str, float]:
    bench = h
    blocked = distinct(Path(bench.HERE), "blocked", n)
    miss = distinct(Path(bench.HERE), "miss", n)
    cached = distinct(Path(bench.HERE), "cached", n)
    addr = (bench.SUT_ADDR, bench.SUT_PORT)
    with tempfile.TemporaryDirectory(prefix="dnsfilter-instr-") as t:
        tmp = Path(t)
        if keep is not None:  # the dumps (and the config, feeds and log) outlive the run
            keep.mkdir(parents=True, exist_ok=True)
            tmp = keep
        argv, env, cwd = server_argv(h, system, repo, tmp)
        prefix = str(tmp / "cg")
        vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p", "--dump-instr=no", "--separate-threads=yes",
              "--trace-children=no"]
        log = open(tmp / "server.log", "wb")
        proc = subprocess.Popen(vg + argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        out: dict[str, float] = {}
        try:
            bench.wait_ready(bench.SUT_ADDR, bench.SUT_PORT, bench.list_probe("100k"), "A", bench.is_blocked,
                             900, proc)
            exchange(addr, cached)  # the cache and tables are filled by the passes below, not this one
            time.sleep(tail)
            # What the server does on its own over a window (timers, ticks): taken off every window.
            control(proc.pid, "-z")
            time.sleep(tail)
            control(proc.pid, "-d")
            poke = partial(exchange, addr, cached[:1])
            idle = dumped(prefix, proc.pid, 1, poke)
            plan = ((KINDS[0], blocked, 0), (KINDS[1], blocked, 1), (KINDS[2], miss, 0), (KINDS[3], cached, 1))
            for i, (kind, qs, warm) in enumerate(plan, 2):
                for _ in range(warm):
                    exchange(addr, qs)
                    time.sleep(tail)
                control(proc.pid, "-z")
                t0 = time.monotonic()
                got = exchange(addr, qs)
                # the query log is written every few seconds: the window waits for these answers'
                # rows, as long as the idle window lasted
                time.sleep(tail)
                control(proc.pid, "-d")
                scale = (time.monotonic() - t0) / tail
                loop, rest = dumped(prefix, proc.pid, i, poke)
                out[kind] = (loop - idle[0] * scale) / max(got, 1)
                out[kind + " (others)"] = max(rest - idle[1] * scale, 0) / max(got, 1)
                if got < len(qs) * 0.99:
                    out[kind + " (lost)"] = len(qs) - got
        finally:
            bench.stop_pid(proc.pid, 60, proc)
            log.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--system", default="dnsfilter", choices=("dnsfilter", "dnsmasq", "unbound"))
    ap.add_argument("--repo", type=Path, default=ROOT)
    ap.add_argument("--label", default="")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tail", type=float, default=12.0, help="seconds a window waits after its last answer")
    ap.add_argument("--md", type=Path)
    ap.add_argument("--append", action="store_true", help="keep the rows already in --md")
    ap.add_argument("--keep", type=Path, help="keep the callgrind dumps in this directory")
    a = ap.parse_args()
    bench_dir, repo = a.bench.resolve(), a.repo.resolve()
    sys.path.insert(0, str(bench_dir))
    import bench as h  # the harness: nsd upstream, list files, readiness

    h.start_upstream_detached()
    r = measure(h, a.system, repo, a.n, a.tail, a.keep.resolve() if a.keep else None)
    label = a.label or a.system
    def cell(k: str) -> str:
        other = r[k + " (others)"]
        return f"{r[k] / 1000:,.1f}k" + (f" (+{other / 1000:,.1f}k)" if other >= 50 else "")

    row = f"| {label} | " + " | ".join(cell(k) for k in KINDS) + " |"
    lost = {k: v for k, v in r.items() if k.endswith("(lost)")}
    print(row + (f"  lost: {lost}" if lost else ""))
    if a.md is not None:
        head = ["## Instructions per query (callgrind)", "",
                "Measured by `scripts/bench_instructions.py` (part of `make bench`): each server under valgrind's "
                f"callgrind with the 100k list (dnsfilter on the shipped config), {a.n:,} queries per kind sent 64 at a "
                "time from one client, and the instructions its threads executed in user space over that window "
                "divided by the queries answered. A count, not a timing: the serving thread's repeats within about 1 % "
                "from run to run whatever the machine's load (the writer's, in brackets, within about 15 %: it "
                "depends on how the answers fall into its drains). The "
                "kernel's share is not counted (dnsfilter batches its system calls, dnsmasq and Unbound make one or "
                "two per packet). Each window waits for the query log's writes and has an idle window's count taken "
                "off; at this rate every dnsfilter answer is written as a query-log row (as in a home; a flood's are "
                "mostly only counted). Blocked names are answered by dnsmasq from its hosts table and by Unbound from its "
                "local zones; a replay is the third pass over the same names (seconds apart at this rate, so an allowed "
                "replay also counts its answer's TTLs down, once a second at most). Each cell is the serving thread's "
                "count; in brackets, dnsfilter's other threads (the query-log writer: at this rate a row per answer).",
                "",
                "| server | " + " | ".join(KINDS) + " |", "|---|---|---|---|---|"]
        old = a.md.read_text().splitlines() if a.append and a.md.exists() else head
        a.md.write_text("\n".join((old if old[: len(head)] == head else head) + [row]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
