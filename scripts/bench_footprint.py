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
import os
import random
import re
import signal
import socket
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

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
SHARED = ROOT.parent / "shared" / "data"
NAMES = 300_000
DAY_QUERIES = 20_000
RAM_FLUSH = 600  # the ram-mode default of log_flush (docs/querylog.md)
PASSWORD = "footprint-bench-pw"
SECTION = "## Footprint (128 MB router)"
TARGET_MB = 48  # daemon + UI on a 128 MB router (the footprint target)
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


@dataclass
class Mem:
    rss_kb: int
    pss_kb: int
    uss_kb: int  # Private_Clean + Private_Dirty: what ending this process alone would free
    threads: int
    pages: frozenset[int]  # the physical page frames it maps (root: /proc/PID/pagemap)


NONE = Mem(0, 0, 0, 0, frozenset())
PAGE = os.sysconf("SC_PAGE_SIZE")


def mem(pid: int) -> Mem:
    rss = threads = pss = uss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            rss = int(line.split()[1])
        elif line.startswith("Threads"):
            threads = int(line.split()[1])
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            uss += int(line.split()[1])
    return Mem(rss, pss, uss, threads, frames(pid))


def frames(pid: int) -> frozenset[int]:
    """The page frame numbers of every resident page of the process (empty without root: the
    kernel hides them). The union over dnsfilter's processes counts each page of RAM they hold
    once, whoever else maps it: RSS counts a shared page in each process, PSS divides it among
    every process that maps it, on this machine other Pythons too."""
    out: set[int] = set()
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo >= 1 << 47:  # [vsyscall]: not in the pagemap
                    continue
                pm.seek(lo // PAGE * 8)
                for (e,) in struct.iter_unpack("<Q", pm.read((hi - lo) // PAGE * 8)):
                    if e >> 63 and e & (1 << 55) - 1:  # present, with its frame number shown
                        out.add(e & (1 << 55) - 1)
    except OSError:
        return frozenset()
    return frozenset(out)


@dataclass
class Reading:
    """One moment: the daemon and, when it runs, the UI process (the daemon's child)."""
    daemon: Mem
    ui: Mem

    def all(self) -> tuple[Mem, Mem]:
        return self.daemon, self.ui

    def distinct_kb(self) -> int:
        return len(self.daemon.pages | self.ui.pages) * PAGE // 1024


def ui_running(pid: int) -> bool:
    return bool(children(pid))


def reading(pid: int) -> Reading:
    kids = children(pid)
    return Reading(mem(pid), mem(kids[0]) if kids else NONE)


def io(pid: int) -> dict[str, int]:
    out = {}
    for line in open(f"/proc/{pid}/io"):
        k, v = line.split(":")
        out[k] = int(v)
    return out


def children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(x) for x in f.read().split()]
    return kids


def http_ok(port: int, path: str = "/login") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def page_load(port: int) -> int:
    """Log in (the admin exists) and load the devices page; the page's size in bytes."""
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    html = op.open(f"{base}/login", timeout=10).read().decode()
    tok = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    form = {"password": PASSWORD} | ({"csrf_token": tok.group(1)} if tok else {})
    op.open(f"{base}/login", data=urllib.parse.urlencode(form).encode(), timeout=10).read()
    body = op.open(f"{base}/devices", timeout=10).read()
    if b"logout" not in body.lower():
        raise RuntimeError("the UI did not log in: the devices page is not the logged-in one")
    return len(body)


def write_config(d: Path, dns: int, lan: int, web: int, up: int, dlist: str, flush: float) -> Path:
    cfg = d / "config.toml"
    lan_spec = f', "br-lan:{lan}"' if os.environ.get(NS_ENV) else ""
    cfg.write_text(f"""# written by scripts/bench_footprint.py: a router's shape on loopback
[dns]
listen = ["127.0.0.1:{dns}"{lan_spec}]
upstreams = ["127.0.0.1:{up}"]
# the caches of deploy/openwrt/files/dnsfilter.config ("a router has little memory")
cache_size = 5000
fastpath_size = 10000

[storage]
data_dir = "{d}/var"
log_mode = "ram"
log_flush = {flush}

[web]
listen = "127.0.0.1:{web}"

[network]
neighbours = true

[[feeds]]
name = "router-300k"
url = "{dlist}"
format = "domains"
category = "ads"
""" + "".join(f'\n[[profiles]]\nname = "{p}"\n' for p, _ in HOUSEHOLD)
      + "".join(f'\n[[devices]]\nname = "{p} device"\nip = "{ip}"\nprofile = "{p}"\n' for p, ip in HOUSEHOLD))
    return cfg


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

def measure(quick: bool) -> list[str]:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="dnsfilter-footprint-", dir="/var/tmp") as tmp:
        d = Path(tmp)
        dlist = d / "router-300k.domains"
        origin = build_list(dlist, NAMES)
        listed = dlist.read_text().split()
        dns, lan, web = free_port(), free_port(), free_port()
        up_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up_sock.bind(("127.0.0.1", 0))
        stop = threading.Event()
        threading.Thread(target=run_upstream, args=(up_sock, stop), daemon=True).start()
        flush = 5.0
        # the list is served over HTTP, as a feed is: a router (data_dir in RAM) downloads and
        # compiles it after each boot, in the daemon's feed-sync child process
        httpd = serve_dir(d)
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{dlist.name}"
        cfg = write_config(d, dns, lan, web, up_sock.getsockname()[1], url, flush)
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
            rows: list[tuple[str, Reading]] = [("idle after start and the boot's feed sync", reading(p.pid))]
            # a family's day: 20k queries over 3,000 names, a few popular (Zipf), 10 % of them listed,
            # from four devices in four profiles
            pool = rng.sample(listed, 300) + [f"www.site{i}.example{i % 97}.test" for i in range(2_700)]
            rng.shuffle(pool)
            day = rng.choices(pool, weights=[1 / (r + 1) for r in range(len(pool))], k=DAY_QUERIES // (5 if quick else 1))
            t0 = time.monotonic()
            sent, answered = send_household(dns, day, 60)
            took = time.monotonic() - t0
            time.sleep(flush + 3)  # the writer's flush of these answers
            rows.append((f"after a family's day: {sent:,} queries over {len(set(day)):,} names", reading(p.pid)))
            t1 = time.monotonic()
            size = page_load(web)
            first_page = time.monotonic() - t1
            time.sleep(0.5)
            rows.append(("then the UI in use (login + /devices)", reading(p.pid)))
            # worst case: every query a new name, half of them listed, until both caches are full
            n = 4_000 if quick else 30_000
            burst = rng.sample(listed, n // 2) + [f"host{i}.burst{i % 500}.test" for i in range(n - n // 2)]
            rng.shuffle(burst)
            b_sent, b_answered = send_household(dns, burst, 90)
            sent, answered = sent + b_sent, answered + b_answered
            time.sleep(flush + 3)
            t2 = time.monotonic()
            page_load(web)
            warm_page = time.monotonic() - t2
            time.sleep(0.5)
            rows.append((f"then {b_sent:,} queries, each a new name, and a page load", reading(p.pid)))
            flash = [flash_rows(p.pid, dns, flush, 3 if quick else 6, period) for period in (RAM_FLUSH, 3600)]
            deadline = time.monotonic() + idle_exit + 30
            while ui_running(p.pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            rows.append((f"after the UI's idle exit ({idle_exit:g} s here, 600 s by default)", reading(p.pid)))
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
    return table(rows, origin, sent, answered, took, size, flash, (first_page, warm_page))


Flash = tuple[int, int, int, int, int]  # write_bytes, wchar, flushes, answers per flush, log_flush it stands for


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


LAN_NOTE = ("an interface listener (`br-lan:PORT`, a veth pair inside the run's own network namespace, "
            "followed over netlink as `lan` is)")


def table(rows: list[tuple[str, Reading]], origin: str, sent: int, answered: int, took: float, size: int,
          flash: list[Flash], pages: tuple[float, float]) -> list[str]:
    if not os.environ.get(NS_ENV):
        origin += "; no interface listener (needs root for a network namespace)"
    mb = lambda kb: f"{kb / 1024:.1f}"  # noqa: E731
    out = [SECTION, "",
           f"Measured {time.strftime('%Y-%m-%d')} at {provenance()} by `scripts/bench_footprint.py` (part of `make bench`): the real "
           f"`dnsfilter serve` on loopback with a router's config: one {NAMES:,}-name list ({origin}) served over HTTP "
           "on loopback and downloaded and compiled at start by the daemon's feed sync (a child process), as after "
           "a router's boot with `data_dir` in RAM, "
           "`[web]` on (the UI is the daemon's child process under waitress, started on demand), "
           "`network.neighbours = true`, "
           f"{LAN_NOTE} and the query log in "
           "`log_mode = \"ram\"`, a household of four profiles (Kids, Teens, Adults, Guests) with one device each, "
           "which send the day's and the burst's queries in turn, both processes running from compiled bytecode as a router's package installs them; `cache_size = 5000`, `fastpath_size = 10000` as the OpenWrt package sets them. Target: daemon + UI ≤ 48 MB on a 128 MB router, judged on "
           "**distinct MB**: the physical pages the daemon and the UI map, each page counted once "
           "(the union of their /proc/PID/pagemap frames), which is the RAM they hold together. The RSS sum counts a "
           "page both map (libpython, libc, libssl) twice; "
           "the PSS sum divides shared library pages with every other process mapping them, on this machine "
           "other Pythons too, so it reads low. Both are shown.", "",
           "| moment | daemon RSS MB | UI RSS MB | sum RSS | daemon PSS MB | UI PSS MB | sum PSS "
           "| UI USS MB | **distinct MB** | threads d/UI |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in rows:
        d, ui = r.all()
        out.append(f"| {label} | {mb(d.rss_kb)} | {mb(ui.rss_kb)} | {mb(d.rss_kb + ui.rss_kb)} | "
                   f"{mb(d.pss_kb)} | {mb(ui.pss_kb)} | {mb(d.pss_kb + ui.pss_kb)} | {mb(ui.uss_kb)} | "
                   f"**{mb(r.distinct_kb())}** | {d.threads}/{ui.threads} |".replace(" 0.0 |", " - |"))
    met = [label for label, r in rows if r.distinct_kb() <= TARGET_MB * 1024]
    missed = [f"{label} ({mb(r.distinct_kb())} MB)" for label, r in rows if r.distinct_kb() > TARGET_MB * 1024]
    out += ["", f"Against the target ({TARGET_MB} MB, distinct): met at: {'; '.join(met) or 'no moment'}. "
            f"**Not met** at: {'; '.join(missed)}." if missed else f"Against the target ({TARGET_MB} MB, distinct): met at every moment."]
    out += ["", f"Queries: {sent:,} sent, {answered:,} answered (the day's took {took:.1f} s; allowed names "
            "from a local upstream); the page load logs in and renders "
            f"/devices ({size:,} bytes) in {pages[0]:.2f} s, starting the UI process; the same again with it "
            f"running, after the burst, took {pages[1]:.2f} s. `-`: the UI process is not running (the daemon holds its socket and "
            "starts it at the first connection; it ends after `DNSFILTER_WEB_IDLE_EXIT` seconds without "
            "requests).", "",
            f"Flash writes with the query log in RAM mode, for a family's {DAY_QUERIES:,} queries a day: the "
            "daemon's /proc/PID/io `write_bytes` (what reaches the block layer, before the filesystem's journal; "
            "`wchar`: bytes in write calls) over several flushes, each with the answers of one `log_flush` period:", "",
            "| log_flush | answers per write | KiB per write | wchar KiB per write | MB a day |", "|---|---|---|---|---|",
            *(f"| {period} s{' (default)' if period == RAM_FLUSH else ''} | {per} | {wb / n / 1024:.1f} | "
              f"{wc / n / 1024:.1f} | **{wb / n * 86_400 / period / 2**20:.1f}** |" for wb, wc, n, per, period in flash),
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
    a = ap.parse_args()
    in_own_netns()
    if os.environ.get(NS_ENV):
        set_up_netns()
    section = measure(a.quick)
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
