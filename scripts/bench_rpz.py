#!/usr/bin/env python3
"""Policy over zone transfers (issue 20, "Measured"), written to BENCH_DIR/results/rpz.md for
BENCHMARKS.md. With a 1M-name list (generated; exported as `name` and `*.name`: 2M triggers):

- `dnsfilter rpz export`: seconds and peak RSS;
- the AXFR of that zone from a Knot primary into dnsfilter (`feeds sync` of an xfr:// feed:
  transfer, write, compile) and into Unbound (from its start until it answers from the zone):
  seconds and peak RSS;
- an IXFR of a 1 % change (5k names removed, 5k added): bytes on the wire, seconds;
- a change published (`rpz publish`: export, then Knot's reload of the zone file, or with
  `publish = "update"` a DNS UPDATE of the difference; Knot's NOTIFY) until dnsfilter (following
  the zone by xfr://, NOTIFY, IXFR, compile, reload), Unbound, BIND and PowerDNS Recursor each
  answer with it (the target: within 10 s on loopback), once in each mode.

Usage: bench_rpz.py BENCH_DIR [--names N]
Every server runs on loopback (tests/support/rpzservers.py starts them); each wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")

from benchlib import status_kb  # noqa: E402

from tests.support.daemon import DaemonProcess, free_port  # noqa: E402
from tests.support.rpzservers import (  # noqa: E402
    KEY_NAME,
    SECRET,
    UPDATE_KEY_NAME,
    UPDATE_SECRET,
    Backend,
    BindResolver,
    KnotPrimary,
    PdnsRecursor,
    UnboundRpz,
    ask,
    shipped_zones,
)

ZONE = "ads.rpz.dnsfilter"


def gen_names(n: int, seed: int = 20) -> list[str]:
    rng = random.Random(seed)
    alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
    tlds = ["com", "net", "org", "ru", "kz", "xa", "xb"]
    return [f"{''.join(rng.choice(alpha) for _ in range(rng.randint(4, 12)))}{i}.{rng.choice(tlds)}"
            for i in range(n)]


def run(*args: str, cwd: Path = ROOT) -> tuple[float, int, str]:
    """(seconds, peak RSS in KB, stdout) of `dnsfilter ARGS`, run under GNU time (a child of a
    small process: the high-water mark of a child forked from this big one would start at ours)."""
    t = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", PY, "-m", "dnsfilter", *args], capture_output=True,
                       text=True, cwd=cwd)
    took = time.monotonic() - t
    if p.returncode != 0:
        raise RuntimeError(f"dnsfilter {' '.join(args)}: {p.stdout}{p.stderr}")
    peak = int(p.stderr.rsplit("maxrss=", 1)[1].split()[0])
    return took, peak, p.stdout


def knot_has(knot: KnotPrimary, before: int | None, timeout: float = 900) -> float | None:
    """Seconds until Knot serves a serial above `before` (`knotc zone-reload` returns at once;
    Knot reads the file and computes the differences in the background)."""
    return wait(lambda: (knot.serial(ZONE) or 0) > (before or 0), timeout)


def hwm_kb(pid: int) -> int:
    return status_kb(pid, "VmHWM")


def wait(check, timeout: float) -> float | None:
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if check():
            return time.monotonic() - t
        time.sleep(0.05)
    return None


def nx(port: int, name: str) -> bool:
    r = ask(port, name, timeout=1.0)
    return r is not None and r.rcode() == 3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir")
    ap.add_argument("--names", type=int, default=1_000_000)
    args = ap.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-rpz-", dir=os.environ.get("TMPDIR", "/var/tmp")) as t:
        tmp = Path(t)
        rows += bench(tmp, args.names)
    lines = ["## Policy over zone transfers (RPZ)", "",
             f"Measured by `scripts/bench_rpz.py` (part of `make bench`) with {args.names:,} generated names "
             f"(exported as `name` and `*.name`: {2 * args.names:,} triggers), Knot DNS as the primary, each "
             "server on loopback. Peak RSS: the process's high-water mark.", "",
             "| what | result | detail |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    out = Path(args.bench_dir) / "results" / "rpz.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


def bench(tmp: Path, n: int) -> list[tuple[str, str, str]]:
    rows = []
    names = gen_names(n)
    src = tmp / "list.txt"
    src.write_text("\n".join(names) + "\n")
    zones = shipped_zones()
    with Backend() as backend:
        unbound = UnboundRpz(0, backend.port)
        bind = BindResolver(0, backend.port)
        pdns = PdnsRecursor(0, backend.port, zones)
        daemon_port = free_port()
        knot = KnotPrimary(zones, {"unbound": unbound.port, "bind": bind.port})
        # the publisher: a dnsfilter config exporting the list as the ads zone into Knot's storage
        pub = tmp / "publisher"
        pub.mkdir()
        pub_cfg = (
            f'[storage]\ndata_dir = "var"\n[[feeds]]\nname = "ads"\nurl = "{src}"\nformat = "domains"\n'
            f'category = "ads"\n[dns]\nblock_mode = "nxdomain"\n'
            f'[rpz]\nout_dir = "{knot.storage}"\nreload_command = "{knot.reload_command()}"\n')
        (pub / "config.toml").write_text(pub_cfg)
        cfg = str(pub / "config.toml")
        run("feeds", "sync", "-c", cfg)
        took, peak, _ = run("rpz", "export", "-c", cfg, "--out", str(knot.storage))
        size = (knot.storage / f"{ZONE}.zone").stat().st_size
        rows.append(("`rpz export`", f"{took:.1f} s, peak RSS {peak / 1024:.0f} MB",
                     f"{n:,} names from a compiled domains list to a {size / 1e6:.0f} MB zone file"))
        _empty_zones(knot.storage, zones)
        knot.notify["dnsfilter"] = daemon_port  # Knot notifies dnsfilter too (its xfr:// feed), signed
        knot.start_timeout = 900.0  # it reads the whole zone before it answers
        with knot:
            # AXFR into dnsfilter: a feed following the zone, synced from the command line
            follower = tmp / "follower"
            follower.mkdir()
            (follower / "k.secret").write_text(SECRET + "\n")
            (follower / "config.toml").write_text(
                f'[dns]\nlisten = ["127.0.0.1:{daemon_port}"]\nupstreams = ["127.0.0.1:{backend.port}"]\n'
                f'[storage]\ndata_dir = "var"\n[[feeds]]\nname = "isp"\nurl = "xfr://127.0.0.1:{knot.port}/{ZONE}"\n'
                f'tsig = {{ name = "{KEY_NAME}", secret_file = "k.secret" }}\ncategory = "ads"\n'
                'max_shrink = 1.0\ninterval = "24h"\n')
            fcfg = str(follower / "config.toml")
            took, peak, _ = run("feeds", "sync", "-c", fcfg)
            st = _status(fcfg)
            rows.append(("AXFR into dnsfilter", f"{took:.1f} s, peak RSS {peak / 1024:.0f} MB",
                         f"`feeds sync` of an xfr:// feed: {st['bytes'] / 1e6:.0f} MB on the wire, {st['entries']:,} "
                         "entries compiled (dnspython reads the transfer, ~0.05 ms a record)"))
            # AXFR into Unbound: from its start until it answers from the zone
            started = time.monotonic()
            unbound.primary = bind.primary = pdns.primary = knot.port
            unbound.start(timeout=60)
            probe = names[-1]
            got = wait(lambda: nx(unbound.port, probe), 600)
            assert unbound.proc is not None
            rows.append(("AXFR into Unbound", f"{time.monotonic() - started:.1f} s, peak RSS "
                                              f"{hwm_kb(unbound.proc.pid) / 1024:.0f} MB",
                         "from its start until it answers from the zone" + ("" if got else " (did not, in 600 s)")))
            bind.start(timeout=60)
            pdns.start(timeout=60)
            for r in (bind, pdns):
                wait(lambda r=r: nx(r.port, probe), 600)
            # IXFR of a 1 % change: 5k names removed, 5k added
            removed, added = names[: n // 200], [f"added-{i}.example" for i in range(n // 200)]
            src.write_text("\n".join(names[n // 200:] + added) + "\n")
            run("feeds", "sync", "-c", cfg)
            before = knot.serial(ZONE)
            run("rpz", "publish", "-c", cfg)
            knot_has(knot, before)
            took, peak, _ = run("feeds", "sync", "-c", fcfg)
            st = _status(fcfg)
            rows.append(("IXFR of a 1 % change into dnsfilter", f"{st['bytes'] / 1e3:.0f} kB, {took:.1f} s",
                         f"{len(removed):,} names removed, {len(added):,} added: {4 * len(removed):,} records "
                         f"on the wire; `feeds sync` of the xfr:// feed (IXFR, the zone file patched, "
                         f"{st['entries']:,} entries, compiled {st.get('compiled') or '-'}), "
                         f"peak RSS {peak / 1024:.0f} MB"))
            # a change published until each answers with it; dnsfilter follows by NOTIFY
            daemon = DaemonProcess(follower, (follower / "config.toml").read_text(), port=daemon_port)
            daemon.start(timeout=120)
            servers = {"Unbound": unbound.port, "BIND": bind.port, "PowerDNS Recursor": pdns.port,
                       "dnsfilter": daemon.port}
            try:
                listed = names[n // 200:] + added
                for r in (unbound, bind, pdns):  # each has the 1 % change before this one starts
                    wait(lambda r=r: ask(r.port, added[0], timeout=1.0) is not None and nx(r.port, added[0]), 600)
                (pub / "update.secret").write_text(UPDATE_SECRET + "\n")
                modes = {"reload": "", "update": (
                    f'publish = "update"\nupdate_server = "127.0.0.1:{knot.port}"\n'
                    f'update_key = {{ name = "{UPDATE_KEY_NAME}", secret_file = "update.secret" }}\n')}
                for mode, extra in modes.items():
                    fresh = f"freshly-published-by-{mode}.example"
                    listed.append(fresh)
                    src.write_text("\n".join(listed) + "\n")
                    (pub / "config.toml").write_text(pub_cfg + extra)
                    rows.append(_change(cfg, knot, servers, fresh, mode))
            finally:
                daemon.stop()
                for s in (unbound, bind, pdns):
                    s.stop()
    return rows


def _change(cfg: str, knot: KnotPrimary, servers: dict[str, int], fresh: str, mode: str) -> tuple[str, str, str]:
    """A name added to the list, `feeds sync` and `rpz publish` (`[rpz] publish = MODE`), until
    every server answers it with the new policy."""
    before = knot.serial(ZONE)
    t0 = time.monotonic()
    run("feeds", "sync", "-c", cfg)
    t_sync = time.monotonic() - t0
    run("rpz", "publish", "-c", cfg)
    t_pub = time.monotonic() - t0
    got_knot = knot_has(knot, before)
    t_knot = time.monotonic() - t0 if got_knot is not None else None
    took_by: dict[str, float | None] = dict.fromkeys(servers)
    while any(v is None for v in took_by.values()) and time.monotonic() - t0 < 300:
        for name, port in servers.items():  # all asked in turn: each one's own first answer
            if took_by[name] is None and nx(port, fresh):
                took_by[name] = time.monotonic() - t0
        time.sleep(0.05)
    parts = ", ".join(f"{k} {v:.1f} s" if v is not None else f"{k}: not within 300 s" for k, v in took_by.items())
    done = [v for v in took_by.values() if v is not None]
    last = f"{max(done):.1f} s (the last one)" if len(done) == len(took_by) else "not all within 300 s"
    since = ", ".join(f"{k} {v - t_knot:.1f} s" for k, v in took_by.items() if v is not None and t_knot is not None)
    how = ("export, Knot's UPDATE, the file" if mode == "update" else "export, `knotc zone-reload` of the zone")
    return (f"a change until every server answers with it (`publish = \"{mode}\"`)", last,
            f"from the list's change: its `feeds sync` {t_sync:.1f} s, `rpz publish` done at {t_pub:.1f} s ({how}), "
            "Knot serving the new version at " + (f"{t_knot:.1f} s" if t_knot is not None else "-")
            + f"; then {parts}. From Knot's new version (its NOTIFY): {since}")


def _status(cfg: str) -> dict:
    p = subprocess.run([PY, "-m", "dnsfilter", "feeds", "status", "-c", cfg, "--json"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, check=True)
    return json.loads(p.stdout)[0]


def _empty_zones(storage: Path, zones: list[str]) -> None:
    """The example's other zones, empty, so every resolver loads all it lists."""
    from feeds.rpz_zone import Soa, ZoneWriter

    for z in zones:
        if not (storage / f"{z}.zone").exists():
            ZoneWriter(storage, z, "empty", Soa(), time.time()).close()


if __name__ == "__main__":
    shutil.which("knotd") or sys.exit("bench_rpz: knotd is not installed")
    raise SystemExit(main())
