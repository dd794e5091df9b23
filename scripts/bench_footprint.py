#!/usr/bin/env python3
"""Router footprint (issue "appliance on real routers" §5): RSS and PSS of the daemon and of
the web UI process with a 300k-name list, and the query log's writes to the data directory.

It runs the real `dnsfilter serve` on loopback with a router-like config: one 300k-name
compiled list (a HaGeZi Pro + StevenBlack + HaGeZi NSFW mix from ../shared/data, cut to 300k;
generated names when ../shared is absent, which the table then says), `[web]` on, the
neighbour table on, an interface listener (`lo:PORT`, followed by the netlink LAN watcher as
`lan` is on a router) and the query log in `log_mode = "ram"`. A small UDP upstream in this
process answers the allowed names. Everything stays on 127.0.0.1.

Readings (VmRSS and smaps_rollup Pss of each process): idle after start, after a bounded
query mix, after one logged-in page load of the UI. Then the flash estimate: a family's day
(20k queries) is 144 ten-minute flushes of ~139 answers; the run sends that many answers per
flush with a short `log_flush` and reads the daemon's /proc/PID/io write_bytes across flushes.

Usage: bench_footprint.py [BENCH_DIR] [--quick] [--no-write]
(BENCH_DIR: where results/footprint.md goes; without it only BENCHMARKS.md is written).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from footprint_mem import GROUPS, HEAP, OTHER, Reading, io, reading, ui_pid

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
SHARED = ROOT.parent / "shared" / "data"
NAMES = 300_000
DAY_QUERIES = 20_000
RAM_FLUSH = 600  # the ram-mode default of log_flush (docs/querylog.md)
PASSWORD = "footprint-bench-pw"
SECTION = "## Footprint (128 MB router)"
# The budget on a 128 MB router (issue 17), in distinct MB (see table)
DAEMON_MB = 40  # the resident daemon, at every moment
TOTAL_MB = 64  # the daemon and the UI, while the UI is in use
BACK_MB = 2  # the daemon after the UI's exit, against before the UI started
# A family's devices, one per profile, told apart by address: each profile has its own table
# of prebuilt answers, and `fastpath_size` bounds them together.
HOUSEHOLD = (("Kids", "127.0.0.11"), ("Teens", "127.0.0.12"), ("Adults", "127.0.0.13"), ("Guests", "127.0.0.14"))
IP = re.compile(r"[\d.]+|.*:.*")  # the address column of hosts files


# ------------------------------------------------------------------ the list

def build_list(out: Path, n: int) -> str:
    """A domains file of n names, none under another (the compiled set keeps a parent and drops
    the names it covers, and the list should hold n names in force); returns their origin."""
    sources = [SHARED / "hagezi" / "pro.onlydomains.txt", SHARED / "stevenblack" / "hosts",
               SHARED / "hagezi" / "nsfw.onlydomains.txt", SHARED / "hagezi" / "multi.onlydomains.txt"]
    seen: dict[str, None] = {}
    used = []
    for src in sources:
        if not src.exists():
            continue
        used.append(src.relative_to(SHARED).as_posix())
        for line in src.open(errors="replace"):
            parts = line.split("#", 1)[0].split()
            if parts:
                name = parts[-1].lower().rstrip(".")  # hosts lines: "0.0.0.0 name"
                if "." in name and not IP.fullmatch(name) and name not in ("localhost.localdomain", "local"):
                    seen.setdefault(name, None)
    kept = [name for name in seen if not _covered(name, seen)][:n]
    origin = "real lists: " + " + ".join(used) + ", without names under a listed parent" if used else ""
    if len(kept) < n:  # ../shared is absent (or short): generated names make up the rest
        rng = random.Random(7)
        alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
        while len(kept) < n:
            kept.append("".join(rng.choice(alpha) for _ in range(rng.randint(5, 14))) + f"{len(kept)}.com")
        origin = (origin + " + " if origin else "") + "generated names (../shared/data absent or short)"
    out.write_text("\n".join(kept) + "\n")
    return origin


def _covered(name: str, names: dict[str, None]) -> bool:
    dot = name.find(".")
    while dot != -1:
        if name[dot + 1:] in names:
            return True
        dot = name.find(".", dot + 1)
    return False


# ------------------------------------------------------------------ DNS on the wire (no dependency)

def query(name: str, qid: int, qtype: int = 1) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def upstream_answer(pkt: bytes) -> bytes | None:
    """An answer for any A question (192.0.2.1, TTL 300); NODATA for other types."""
    if len(pkt) < 17:
        return None
    i = 12
    while i < len(pkt) and pkt[i]:
        i += pkt[i] + 1
    qend = i + 5
    if qend > len(pkt):
        return None
    qtype = struct.unpack("!H", pkt[i + 1:i + 3])[0]
    flags = 0x8180 | (pkt[2] & 0x01) << 8
    if qtype != 1:
        return pkt[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + pkt[12:qend]
    rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + bytes([192, 0, 2, 1])
    return pkt[:2] + struct.pack("!HHHHH", flags, 1, 1, 0, 0) + pkt[12:qend] + rr


def run_upstream(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            pkt, addr = sock.recvfrom(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        ans = upstream_answer(pkt)
        if ans:
            sock.sendto(ans, addr)


def send_mix(port: int, names: list[str], timeout_s: float, window: int = 32,
             src: str = "127.0.0.1") -> tuple[int, int]:
    """Send the names (windowed, loopback, from `src`), bounded by time; (sent, answered)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(0.5)
    sent = answered = 0
    deadline = time.monotonic() + timeout_s
    try:
        for start in range(0, len(names), window):
            if time.monotonic() > deadline:
                break
            chunk = names[start:start + window]
            for k, name in enumerate(chunk):
                s.sendto(query(name, (start + k) & 0xFFFF), ("127.0.0.1", port))
            sent += len(chunk)
            for _ in chunk:
                try:
                    s.recv(4096)
                    answered += 1
                except TimeoutError:
                    break
    finally:
        s.close()
    return sent, answered


def send_household(port: int, names: list[str], timeout_s: float) -> tuple[int, int]:
    """The names shared out among the household's devices (one profile each), in turn."""
    sent = answered = 0
    deadline = time.monotonic() + timeout_s
    for k, (_profile, ip) in enumerate(HOUSEHOLD):
        s, a = send_mix(port, names[k::len(HOUSEHOLD)], max(0.1, deadline - time.monotonic()), src=ip)
        sent, answered = sent + s, answered + a
    return sent, answered


def serve_dir(d: Path) -> ThreadingHTTPServer:
    """The folder over HTTP on loopback, in a thread (quiet)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(d)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


# ------------------------------------------------------------------ processes

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t.bind(("127.0.0.1", port))
        return port


def http_ok(port: int, path: str = "/login") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


PAGES = ("/devices", "/log")  # after the login's Dashboard: what a parent looks at


def use_ui(port: int) -> int:
    """Log in (the admin exists), which lands on the Dashboard, then load PAGES, as a parent
    checking on the household does; the bytes of HTML received."""
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    html = op.open(f"{base}/login", timeout=10).read().decode()
    tok = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    form = {"password": PASSWORD} | ({"csrf_token": tok.group(1)} if tok else {})
    size = len(op.open(f"{base}/login", data=urllib.parse.urlencode(form).encode(), timeout=10).read())
    for path in PAGES:
        body = op.open(f"{base}{path}", timeout=10).read()
        if b"logout" not in body.lower():
            raise RuntimeError(f"the UI did not log in: {path} is not the logged-in page")
        size += len(body)
    return size


UCI_FILE = ROOT / "deploy" / "openwrt" / "files" / "dnsfilter.config"


def write_config(d: Path, dns: int, web: int, up: int, feed_url: str, flush: float) -> tuple[Path, list[str]]:
    """The OpenWrt package's /etc/config/dnsfilter rendered as its init script renders it
    (dnsfilter/router/uci.py), with only what a run on loopback must change; returns the TOML
    file and those changes, which the table names."""
    from dnsfilter.config import from_dict
    from dnsfilter.router.uci import Section, parse, render, to_toml

    sections = parse(UCI_FILE.read_text())
    main = next(s for s in sections if s.type == "dnsfilter")
    (d / "dhcp.leases").write_text("")
    changed = {"port": str(dns), "upstream": [f"127.0.0.1:{up}"], "data_dir": str(d / "var"), "state_dir": str(d / "state"),
               "web_listen": f"127.0.0.1:{web}", "lease_file": [str(d / "dhcp.leases")]}
    main.options |= changed
    feeds = [s for s in sections if s.type == "feed"]
    sections = [s for s in sections if s.type != "feed"]
    sections.append(Section("feed", "router300k", 0, {"url": feed_url, "format": "domains", "category": "ads"}))
    for profile, ip in HOUSEHOLD:
        sections.append(Section("profile", profile.lower(), 0, {"name": profile}))
        sections.append(Section("device", None, 0, {"name": f"{profile} device", "ip": ip, "profile": profile.lower()}))
    data = render(sections)
    # ram mode with a short flush: the flash rows below need the ram mode's writes; memory is as
    # in the package's disk mode, which writes every 5 s
    data["storage"] |= {"log_mode": "ram", "log_flush": flush}
    cfg = d / "config.toml"
    from_dict(data, str(cfg))  # a config the daemon accepts, or the run stops here
    cfg.write_text(to_toml(data))
    notes = [f"{k} {v if isinstance(v, str) else ', '.join(v)}" for k, v in changed.items() if k not in ("data_dir", "state_dir")]
    notes += [f"the feed {', '.join(repr(f.name) for f in feeds)} replaced by the 300k list",
              "the household's profiles and devices added",
              f"`log_mode = \"ram\"` with `log_flush = {flush:g}` (for the flash rows)"]
    return cfg, notes


def _sizes() -> str:
    """The package config's table sizes, as the table names them."""
    from dnsfilter.router.uci import parse

    main = next(s for s in parse(UCI_FILE.read_text()) if s.type == "dnsfilter").options
    return ", ".join(f"`{k} = {main[k]}`" for k in ("cache_size", "fastpath_size") if k in main)


PYC = Path("/var/tmp/dnsfilter-footprint-pyc")


def bytecode_env() -> dict[str, str]:
    """Run from compiled bytecode, as a router's package installs it. A shell with
    PYTHONDONTWRITEBYTECODE (or a tree others edit) would make every start compile its
    modules from source, which leaves the compiler's garbage in the heap (about 1 MB here);
    the .pyc files go to a cache of their own, outside the working tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(PYC)}


def compile_all() -> None:
    import sysconfig

    dirs = [ROOT / "dnsfilter", ROOT / "feeds", ROOT / "webui", sysconfig.get_path("stdlib"), sysconfig.get_path("purelib")]
    # check=False, output dropped: the stdlib's own test data does not all compile, and a module of
    # ours that does not is the test suite's news, not this script's
    subprocess.run([PY, "-m", "compileall", "-q", "-j0", *map(str, dirs)], env=bytecode_env(), check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start(cfg: Path, log: Path, idle_exit: float) -> subprocess.Popen[bytes]:
    env = bytecode_env() | {"DNSFILTER_WEB_IDLE_EXIT": f"{idle_exit:g}"}
    p = subprocess.Popen([str(ROOT / ".venv/bin/dnsfilter"), "serve", "-c", str(cfg), "--log-level", "info"],
                         stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(log.read_text())
        if "ready: answering" in log.read_text(errors="replace"):
            return p
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("daemon not ready:\n" + log.read_text())


# ------------------------------------------------------------------ the run

Flash = tuple[int, int, int, int, int]  # write_bytes, wchar, flushes, answers per flush, log_flush it stands for


@dataclass
class Moment:
    label: str
    at: Reading
    before_ui: int | None = None  # for a reading after the UI's exit: the row read before it started


@dataclass
class Run:
    rows: list[Moment]
    origin: str
    changes: list[str]
    sent: int
    answered: int
    took: float
    html: int
    pages: tuple[float, float]  # seconds of the first use (starting the UI) and the second
    flash: list[Flash]
    data_kb: int  # data_dir's files: on a router's tmpfs, RAM too


def wait_ui_exit(pid: int, idle_exit: float) -> None:
    deadline = time.monotonic() + idle_exit + 30
    while ui_pid(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    if ui_pid(pid) is not None:
        raise RuntimeError("the UI process did not end after its idle time")
    time.sleep(1.0)  # the daemon's reaping of its child and the control socket's last replies


def measure(quick: bool) -> Run:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="dnsfilter-footprint-", dir="/var/tmp") as tmp:
        d = Path(tmp)
        dlist = d / "router-300k.domains"
        origin = build_list(dlist, NAMES)
        listed = dlist.read_text().split()
        dns, web = free_port(), free_port()
        up_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up_sock.bind(("127.0.0.1", 0))
        stop = threading.Event()
        threading.Thread(target=run_upstream, args=(up_sock, stop), daemon=True).start()
        flush = 5.0
        # the list is served over HTTP, as a feed is: a router (data_dir in RAM) downloads and
        # compiles it after each boot, in the daemon's feed-sync child process
        httpd = serve_dir(d)
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{dlist.name}"
        cfg, changes = write_config(d, dns, web, up_sock.getsockname()[1], url, flush)
        # the admin exists and the code is compiled: the measured run starts as a router boots
        compile_all()
        subprocess.run([PY, "-c", "import sys;from pathlib import Path;from webui.secrets_store import SecretsStore;"
                        "SecretsStore(Path(sys.argv[1])).create_admin(sys.argv[2],'en')",
                        str(d / "var" / "webui"), PASSWORD], check=True, cwd=ROOT)
        idle_exit = 20.0 if quick else 40.0
        p = start(cfg, d / "serve.log", idle_exit)
        try:
            synced = time.monotonic() + 180
            while "reloaded:" not in (d / "serve.log").read_text(errors="replace") and time.monotonic() < synced:
                time.sleep(0.2)
            if "reloaded:" not in (d / "serve.log").read_text(errors="replace"):
                raise RuntimeError("the boot's feed sync did not finish:\n" + (d / "serve.log").read_text())
            time.sleep(2.0 if quick else 5.0)
            rows = [Moment("idle after start and the boot's feed sync", reading(p.pid))]
            # a family's day: 20k queries over 3,000 names, a few popular (Zipf), 10 % of them listed,
            # from four devices in four profiles
            pool = rng.sample(listed, 300) + [f"www.site{i}.example{i % 97}.test" for i in range(2_700)]
            rng.shuffle(pool)
            day = rng.choices(pool, weights=[1 / (r + 1) for r in range(len(pool))], k=DAY_QUERIES // (5 if quick else 1))
            t0 = time.monotonic()
            sent, answered = send_household(dns, day, 60)
            took = time.monotonic() - t0
            time.sleep(flush + 3)  # the writer's flush of these answers
            rows.append(Moment(f"after a family's day: {sent:,} queries over {len(set(day)):,} names", reading(p.pid)))
            t1 = time.monotonic()
            html = use_ui(web)
            first_use = time.monotonic() - t1
            time.sleep(0.5)
            use = "the UI in use (login, Dashboard, " + ", ".join(PAGES) + ")"
            rows.append(Moment("then " + use, reading(p.pid)))
            wait_ui_exit(p.pid, idle_exit)
            rows.append(Moment(f"after the UI's idle exit ({idle_exit:g} s here, 600 s by default)", reading(p.pid), 1))
            # worst case: every query a new name, half of them listed, until both caches are full
            n = 4_000 if quick else 30_000
            burst = rng.sample(listed, n // 2) + [f"host{i}.burst{i % 500}.test" for i in range(n - n // 2)]
            rng.shuffle(burst)
            b_sent, b_answered = send_household(dns, burst, 90)
            sent, answered = sent + b_sent, answered + b_answered
            time.sleep(flush + 3)
            rows.append(Moment(f"then {b_sent:,} queries, each a new name", reading(p.pid)))
            t2 = time.monotonic()
            use_ui(web)
            second_use = time.monotonic() - t2
            time.sleep(0.5)
            rows.append(Moment("then " + use, reading(p.pid)))
            wait_ui_exit(p.pid, idle_exit)
            rows.append(Moment("after the UI's idle exit", reading(p.pid), 4))
            flash = [flash_rows(p.pid, dns, flush, 3 if quick else 6, period) for period in (RAM_FLUSH, 3600)]
            data_kb = sum(f.stat().st_size for f in (d / "var").rglob("*") if f.is_file()) // 1024
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(20)
            stop.set()
            up_sock.close()
            httpd.shutdown()
            httpd.server_close()
        log_text = (d / "serve.log").read_text(errors="replace")
        in_force = re.findall(r"(\d+) names", log_text)
        origin += f"; {int(in_force[-1]):,} names in force" if in_force else ""
        if "Traceback" in log_text:
            raise RuntimeError("the daemon logged an error:\n" + log_text)
    return Run(rows, origin, changes, sent, answered, took, html, (first_use, second_use), flash, data_kb)


def flash_rows(pid: int, port: int, flush: float, flushes: int, period: int) -> Flash:
    """The daemon's writes over `flushes` short flush periods, each with the answers of `period`
    seconds of a family's day (20k a day; distinct names, as browsing makes)."""
    per = DAY_QUERIES * period // 86_400
    time.sleep(flush)  # start on a quiet writer
    before = io(pid)
    for k in range(flushes):
        t = time.monotonic()
        names = [f"www.site{k}-{i}.example{i % 40}.test" for i in range(per)]
        send_mix(port, names, flush)
        time.sleep(max(0.0, flush - (time.monotonic() - t)))
    time.sleep(flush + 2.5)  # the last batch's flush
    after = io(pid)
    return after["write_bytes"] - before["write_bytes"], after["wchar"] - before["wchar"], flushes, per, period


def numbers(m: Moment, rows: list[Moment]) -> dict[str, float]:
    """A moment's figures in MB (threads as counts): what the table shows, per run."""
    d, ui = m.at.all()
    out = {"d_rss": d.rss_kb, "ui_rss": ui.rss_kb, "d_pss": d.pss_kb, "ui_pss": ui.pss_kb, "ui_uss": ui.uss_kb,
           "daemon": d.distinct_kb(), "all": m.at.distinct_kb()}
    out = {k: v / 1024 for k, v in out.items()} | {"d_threads": d.threads, "ui_threads": ui.threads}
    if m.before_ui is not None:
        out["back"] = (d.distinct_kb() - rows[m.before_ui].at.daemon.distinct_kb()) / 1024
    for name in [n for n, _ in GROUPS] + [HEAP, OTHER]:
        out["d:" + name] = d.group_kb(name) / 1024
        out["ui:" + name] = ui.group_kb(name, d.pages) / 1024  # the UI's pages the daemon does not map
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def table(runs: list[Run]) -> list[str]:
    first = runs[0]
    per_run = [[numbers(m, r.rows) for m in r.rows] for r in runs]
    rows = [{k: median([pr[i][k] for pr in per_run if k in pr[i]]) for k in per_run[0][i]} for i in range(len(first.rows))]
    worst = [{k: max(pr[i][k] for pr in per_run if k in pr[i]) for k in per_run[0][i]} for i in range(len(first.rows))]
    mb = lambda v: f"{v:.1f}" if v else "-"  # noqa: E731
    n = len(runs)
    of = f"medians of {n} runs" if n > 1 else "one run"
    with_ui = [i for i, m in enumerate(first.rows) if m.at.ui.rss_kb]
    out = [SECTION, "",
           f"Measured {time.strftime('%Y-%m-%d')} at {provenance()} by `scripts/bench_footprint.py` (part of `make bench`), "
           f"{of} (the machine may be shared: each cell is the median, the budget lines give the worst run too). "
           f"The real `dnsfilter serve` with **the OpenWrt package's config**: `{UCI_FILE.relative_to(ROOT)}` rendered "
           "by `dnsfilter/router/uci.py` as the package's init script renders it (forward mode behind dnsmasq, "
           f"{_sizes()}, the neighbour table), with only what a run on loopback "
           f"needs changed: {'; '.join(first.changes)}. One {NAMES:,}-name list ({first.origin}) served over HTTP on "
           "loopback and downloaded and compiled at start by the daemon's feed sync (a child process), as after a "
           "router's boot with `data_dir` in RAM; a household of four profiles (Kids, Teens, Adults, Guests) with "
           "one device each, which send the day's and the burst's queries in turn; the UI is the daemon's child "
           "process under waitress, started at the first connection and ended after its idle time; both processes "
           "run from compiled bytecode as the package installs them.", "",
           f"**The budget** (issue 17), judged on distinct pages: the daemon ≤ {DAEMON_MB} MB at every moment; the "
           f"daemon and the UI together ≤ {TOTAL_MB} MB while the UI is in use; after the UI exits, the daemon "
           f"within {BACK_MB} MB of where it was before the UI started. *Distinct MB*: the physical pages a process "
           "maps (the daemon's column), or the two map, each page counted once (the union of their /proc/PID/pagemap "
           "frames), which is the RAM they hold. The RSS sum counts a page both map (the interpreter, libc) twice; "
           "the PSS sum divides shared pages with every other process mapping them, on this machine other Pythons "
           "too, so it reads low. Both are shown.", "",
           "| moment | daemon RSS MB | UI RSS MB | sum RSS | daemon PSS MB | UI PSS MB | sum PSS | UI USS MB "
           "| **daemon MB** | **daemon + UI MB** | threads d/UI |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in zip(first.rows, rows, strict=True):
        out.append(f"| {m.label} | {mb(r['d_rss'])} | {mb(r['ui_rss'])} | {mb(r['d_rss'] + r['ui_rss'])} | "
                   f"{mb(r['d_pss'])} | {mb(r['ui_pss'])} | {mb(r['d_pss'] + r['ui_pss'])} | {mb(r['ui_uss'])} | "
                   f"**{mb(r['daemon'])}** | **{mb(r['all']) if r['ui_rss'] else '-'}** | "
                   f"{r['d_threads']:.0f}/{r['ui_threads']:.0f} |".replace("/0 |", "/- |"))
    d_worst = max(range(len(rows)), key=lambda i: rows[i]["daemon"])
    t_worst = max(with_ui, key=lambda i: rows[i]["all"])
    backs = [i for i, m in enumerate(first.rows) if m.before_ui is not None]
    verdict = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    in_use = " and ".join(f"{rows[i]['all']:.1f}" for i in with_ui)
    back = " and ".join(f"{rows[i]['back']:+.1f}" for i in backs)
    out += ["", "Against the budget:", "",
            f"- the daemon ≤ {DAEMON_MB} MB at every moment: {verdict(rows[d_worst]['daemon'] <= DAEMON_MB)} "
            f"(the most: {rows[d_worst]['daemon']:.1f} MB {first.rows[d_worst].label.split(':')[0]}; worst run "
            f"{max(w['daemon'] for w in worst):.1f} MB);",
            f"- the daemon and the UI ≤ {TOTAL_MB} MB while the UI is in use: {verdict(rows[t_worst]['all'] <= TOTAL_MB)} "
            f"({in_use} MB; worst run {max(worst[i]['all'] for i in with_ui):.1f} MB);",
            f"- after the UI exits, the daemon within {BACK_MB} MB of before it started: "
            f"{verdict(all(rows[i]['back'] <= BACK_MB for i in backs))} "
            f"({back} MB; worst run "
            f"{max(worst[i]['back'] for i in backs):+.1f} MB)."]
    cols = [(0, "d:", "daemon, idle"), (d_worst, "d:", "daemon, at its most"), (t_worst, "ui:", "the UI's own, in use")]
    out += ["", "Where the resident pages are (MB, medians; *the UI's own*: its pages the daemon does not map, "
            "so the two columns add up to the daemon + UI figure):", "",
            "| part | " + " | ".join(c for _i, _p, c in cols) + " |", "|---|" + "---|" * len(cols)]
    for name in [HEAP] + [n for n, _ in GROUPS] + [OTHER]:
        out.append(f"| {name} | " + " | ".join(f"{rows[i][p + name]:.1f}" for i, p, _c in cols) + " |")
    tls = [m.label for m in first.rows if m.at.daemon.tls]
    out += ["", "TLS in the daemon (libssl mapped): " + ("at " + "; ".join(tls) if tls else "never (plain upstreams, an http feed)")
            + f". data_dir's files at the end: {first.data_kb / 1024:.1f} MB (on the package's tmpfs `data_dir` "
            "that is RAM as well, outside both processes: the list's download and compiled set, the query log, "
            "the device store)."]
    first_use, second_use = first.pages
    out += ["", f"Queries: {first.sent:,} sent, {first.answered:,} answered (the day's took {first.took:.1f} s; "
            "allowed names from a local upstream); using the UI (login, the Dashboard, "
            f"{', '.join(PAGES)}: {first.html:,} bytes of HTML) took {first_use:.2f} s the first time, starting the "
            f"UI process, and {second_use:.2f} s the second. `-`: the UI process is not running (the daemon holds "
            "its socket and starts it at the first connection; it ends after `DNSFILTER_WEB_IDLE_EXIT` seconds "
            "without requests).", "",
            f"Flash writes with the query log in RAM mode, for a family's {DAY_QUERIES:,} queries a day: the "
            "daemon's /proc/PID/io `write_bytes` (what reaches the block layer, before the filesystem's journal; "
            "`wchar`: bytes in write calls) over several flushes, each with the answers of one `log_flush` period "
            f"({'the first run' if n > 1 else 'this run'}):", "",
            "| log_flush | answers per write | KiB per write | wchar KiB per write | MB a day |", "|---|---|---|---|---|",
            *(f"| {period} s{' (default)' if period == RAM_FLUSH else ''} | {per} | {wb / k / 1024:.1f} | "
              f"{wc / k / 1024:.1f} | **{wb / k * 86_400 / period / 2**20:.1f}** |" for wb, wc, k, per, period in first.flash),
            "",
            "Before and after the footprint work, and what a router should set: "
            "[docs/deploy.md](docs/deploy.md#footprint-on-a-128-mb-router).", ""]
    return out


def provenance() -> str:
    """The commit measured, and which of the daemon's and UI's files differed from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "dnsfilter", "feeds", "webui"],
                           capture_output=True, text=True).stdout.split("\n")
    files = sorted(line[3:] for line in dirty if line.strip() and line[3:].endswith(".py"))
    return f"commit {head}" + (f" (with uncommitted changes to {', '.join(files)})" if files else "")


def write_section(path: Path, section: list[str]) -> None:
    """Replace (or add, before "How to reproduce") only this section of BENCHMARKS.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    body = "\n".join(section).rstrip() + "\n"
    pat = re.compile(r"^" + re.escape(SECTION) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _m: body + "\n", text, count=1)
    elif "## How to reproduce" in text:
        text = text.replace("## How to reproduce", body + "\n## How to reproduce", 1)
    else:
        text = text.rstrip() + "\n\n" + body
    path.write_text(text)


NS_ENV = "DNSFILTER_FOOTPRINT_NETNS"


def in_own_netns() -> None:
    """Re-run this script in a fresh network namespace (as root) with a router's `br-lan`: a
    veth (its peer in the same namespace) with 192.168.77.1/24 and fd77::1/64, so the LAN watcher binds real
    interface addresses over netlink and no packet can leave the namespace."""
    if os.environ.get(NS_ENV) or os.geteuid() != 0:
        return
    env = os.environ | {NS_ENV: "1"}
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv], env)


def set_up_netns() -> None:
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "br-lan", "type", "veth", "peer", "name", "lan-peer"],
                ["ip", "link", "set", "lan-peer", "up"],
                ["ip", "addr", "add", "192.168.77.1/24", "dev", "br-lan"],
                ["ip", "addr", "add", "fd77::1/64", "dev", "br-lan", "nodad"], ["ip", "link", "set", "br-lan", "up"]):
        subprocess.run(cmd, check=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir", nargs="?")
    ap.add_argument("--quick", action="store_true", help="fewer queries and flushes (development)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--runs", type=int, default=3, help="runs whose medians the table shows (default 3)")
    ap.add_argument("--json", help="also write every run's figures here (for comparing changes)")
    a = ap.parse_args()
    in_own_netns()
    if os.environ.get(NS_ENV):
        set_up_netns()
    runs = [measure(a.quick) for _ in range(max(1, a.runs))]
    section = table(runs)
    if a.json:
        Path(a.json).write_text(json.dumps([[{"label": m.label} | numbers(m, r.rows) for m in r.rows] for r in runs], indent=1))
    print("\n".join(section))
    if a.bench_dir:
        results = Path(a.bench_dir) / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "footprint.md").write_text("\n".join(section))
    if not a.no_write and not a.quick:
        write_section(ROOT / "BENCHMARKS.md", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
