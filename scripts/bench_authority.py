#!/usr/bin/env python3
"""Authority lists and provider bundles (issue "managed routers and national lists", Measured),
written to BENCH_DIR/results/authority.md for BENCHMARKS.md:

- provider bundle verify-and-merge: minisign check, TOML parse, shape check and the merge with a
  household's file validated as `config check` does (in process, median of 200); and a whole
  `sync_bundle` accepting a new bundle from a local file (fetch, verify, merge, audit, state);
- registry XML: a synthetic 1M-entry dump (tests/support/registry.py) parsed alone and compiled,
  each in a fresh process: seconds and peak RSS (VmHWM) above the idle interpreter;
- the self-test against the local daemon: `dnsfilter authority selftest --all` over a 1M-name
  authority list served by `dnsfilter serve` on loopback, at --rate 50000 (its ceiling).

Usage: bench_authority.py BENCH_DIR [--entries N] [--only bundle,xml,selftest]
Loopback only; every loop is bounded by its count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable

from benchlib import results_table, write_results  # noqa: E402


def _child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter that prints one JSON object; its VmHWM is its own."""
    prelude = ("import json,sys,time\n"
               "def kb(k): return int([l.split()[1] for l in open('/proc/self/status') if l.startswith(k)][0])\n"
               "base=kb('VmRSS')\n")
    out = subprocess.run([PY, "-c", prelude + code, *args], capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=3600).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------ bundle


def bench_bundle(tmp: Path) -> list[tuple[str, str, str]]:
    import tomllib

    from dnsfilter import config as config_mod
    from dnsfilter.authority.bundle import sync_bundle
    from dnsfilter.config.provider import check_bundle
    from feeds.minisign import verify_minisign
    from tests.support.signing import new_signer

    signer = new_signer()
    feeds = "".join(f'\n[[feeds]]\nname = "isp{i}"\nurl = "https://lists.isp.example/{i}.txt"\n'
                    f'format = "domains"\ncategory = "{"authority" if i < 3 else "ads"}"\n'
                    + ('legal_basis = "Law No. 149, art. 15.1"\n' if i < 3 else "") for i in range(20))
    body = ('serial = 2\nlocked = ["dns.upstreams", "feeds.isp0", "feeds.isp1", "feeds.isp2", "protection"]\n'
            '[dns]\nupstreams = ["tls://192.0.2.53#dns.isp.example", "192.0.2.54"]\n'
            '[protection]\nalways_allow = ["helpline.example", "112.example"]\n'
            '[defaults]\nblock_categories = ["ads", "malware", "phishing"]\n' + feeds).encode()
    src = tmp / "bundle.toml"
    src.write_bytes(body)
    (tmp / "bundle.toml.minisig").write_text(signer.sign(body))
    home = tmp / "config.toml"
    home.write_text(f'[provider]\nbundle_url = "{src}"\npublic_key = "{signer.public_key}"\n'
                    '[storage]\ndata_dir = "var"\n[defaults]\nprofile = "Kids"\n'
                    + "".join(f'[[profiles]]\nname = "{n}"\nblock_categories = ["adult"]\n' for n in ("Kids", "Teens",
                                                                                                       "Adults"))
                    + "".join(f'[[devices]]\nname = "d{i}"\nmac = "aa:bb:cc:dd:ee:{i:02x}"\nprofile = "Kids"\n'
                              for i in range(20)))
    household = tomllib.loads(home.read_text())
    sig = (tmp / "bundle.toml.minisig").read_text()
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        verify_minisign(src, sig, signer.public_key)
        data = tomllib.loads(src.read_text())
        check_bundle(data)
        config_mod.from_dict(household, str(home), bundle=data)
        times.append(time.perf_counter() - t0)
    cfg = config_mod.load(home)
    syncs = []
    for serial in range(2, 12):
        b = body.replace(b"serial = 2", f"serial = {serial}".encode())
        src.write_bytes(b)
        (tmp / "bundle.toml.minisig").write_text(signer.sign(b))
        t0 = time.perf_counter()
        st = sync_bundle(cfg)
        syncs.append(time.perf_counter() - t0)
        assert st.result == "new", st.last_error
    return [("bundle verify + merge", f"{statistics.median(times) * 1000:.2f} ms (median of 200)",
             f"{len(body)} B bundle (20 lists, 5 locks) under a household of 3 profiles and 20 devices: "
             "minisign check, TOML parse, shape check, merge and the whole config validated as `config check`"),
            ("bundle accepted by sync_bundle", f"{statistics.median(syncs) * 1000:.1f} ms (median of 10)",
             "from a local file: fetch, signature, serial, merge check, audit event (fsynced), bundle and state "
             "written atomically")]


# ------------------------------------------------------------------ registry XML


def bench_xml(tmp: Path, entries: int) -> list[tuple[str, str, str]]:
    from tests.support.registry import write_dump

    dump = tmp / "dump.xml"
    t0 = time.perf_counter()
    write_dump(dump, entries)
    made = time.perf_counter() - t0
    size = dump.stat().st_size
    parse = _child("from feeds.formats import parse_file\nfrom feeds.rules import RuleCounts\n"
                   "c=RuleCounts();t=time.perf_counter();n=sum(1 for _ in parse_file(sys.argv[1],'registry-xml',c))\n"
                   "print(json.dumps({'s':time.perf_counter()-t,'rules':n,'entries':c.lines,'hwm':kb('VmHWM'),"
                   "'base':base}))", str(dump))
    comp = _child("from feeds.compile_rules import compile_feed\nt=time.perf_counter()\n"
                  "s=compile_feed(sys.argv[1],'registry-xml',sys.argv[2])\n"
                  "print(json.dumps({'s':time.perf_counter()-t,'names':s.entries,'nets':s.networks,'size':s.size,"
                  "'hwm':kb('VmHWM'),'base':base}))", str(dump), str(tmp / "dump.dset"))
    mb = 1 << 20
    return [("registry XML parse", f"{parse['s']:.1f} s for {parse['entries']:,} entries "
             f"({parse['s'] / parse['entries'] * 1e6:.1f} µs each)",
             f"{size / mb:.0f} MB synthetic dump (generated in {made:.0f} s), {parse['rules']:,} rules; peak RSS "
             f"{(parse['hwm'] - parse['base']) / 1024:.1f} MB above the idle interpreter ({parse['hwm'] / 1024:.1f} MB)"),
            ("registry XML compile", f"{comp['s']:.1f} s",
             f"{comp['names']:,} names and {comp['nets']:,} networks, {comp['size'] / mb:.1f} MB set; peak RSS "
             f"{(comp['hwm'] - comp['base']) / 1024:.1f} MB above the idle interpreter ({comp['hwm'] / 1024:.1f} MB)")]


# ------------------------------------------------------------------ self-test


def bench_selftest(tmp: Path, entries: int) -> list[tuple[str, str, str]]:
    from tests.support.daemon import DaemonProcess

    names = tmp / "gov.txt"
    with open(names, "w") as f:
        for i in range(entries):
            f.write(f"site{i}.banned{i % 997}.example\n")
    d = DaemonProcess(tmp, '[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:9"]\n'
                           f'[[feeds]]\nname = "gov"\nurl = "{names}"\nformat = "domains"\ncategory = "authority"\n'
                           'legal_basis = "Law No. 149, art. 15.1"\n')
    d.start(timeout=600)
    try:
        t0 = time.perf_counter()
        done = subprocess.run([PY, "-m", "dnsfilter", "authority", "selftest", "-c", str(d.config_path), "--all",
                               "--rate", "50000", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=7200)
        took = time.perf_counter() - t0
    finally:
        d.stop()
    out = json.loads(done.stdout)
    gov = out["feeds"][0]
    return [("self-test, every entry", f"{took:.0f} s for {gov['entries_probed']:,} names "
             f"({gov['entries_probed'] / took:,.0f} a second)",
             f"`authority selftest --all --rate 50000` against `dnsfilter serve` on loopback (1 process), "
             f"{gov['misses']} misses; the prober (dnspython, 64 in flight) and the daemon share the 2 CPUs")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir")
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--only", default="bundle,xml,selftest")
    args = ap.parse_args()
    only = set(args.only.split(","))
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-authority-", dir=os.environ.get("TMPDIR", "/var/tmp")) as t:
        tmp = Path(t)
        for name, fn in (("bundle", lambda p: bench_bundle(p)), ("xml", lambda p: bench_xml(p, args.entries)),
                         ("selftest", lambda p: bench_selftest(p, args.entries))):
            if name in only:
                sub = tmp / name
                sub.mkdir()
                rows += fn(sub)
                print(f"{name}: done", file=sys.stderr)
    write_results(Path(args.bench_dir), "authority",
                  results_table("Authority lists and provider bundles",
                                "Measured by `scripts/bench_authority.py` (part of `make bench`).",
                                (f"| {a} | {b} | {c} |" for a, b, c in rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
