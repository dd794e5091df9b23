"""The commands of managed routers and authority lists:

    dnsfilter provider status -c FILE [--json]     the bundle in force and the last check
    dnsfilter provider sync -c FILE                fetch and check the bundle now (the daemon's child runs it)
    dnsfilter audit show -c FILE [--since T] [--json]
    dnsfilter audit verify -c FILE                 exit 1 on a broken chain
    dnsfilter authority selftest -c FILE [--all | --sample N] [--server ADDR:PORT] [--json]
                                                   exit 1 on any miss

Heavy imports happen inside the commands: `dnsfilter serve` builds this parser too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from dnsfilter.config import Config

Fail = Callable[..., NoReturn]
Load = Callable[[str], Config]
Since = Callable[[str, str], float]  # (--since text, time zone) -> timestamp


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("provider", help="managed routers: the provider's signed bundle")
    psub = p.add_subparsers(dest="sub", required=True, parser_class=type(p))
    ps = psub.add_parser("status", help="the bundle in force: serial, signing key, last check, last error")
    ps.add_argument("-c", "--config", required=True)
    ps.add_argument("--json", action="store_true")
    py = psub.add_parser("sync", help="fetch and check the provider's bundle now")
    py.add_argument("-c", "--config", required=True)

    a = sub.add_parser("audit", help="the audit trail of authority lists and provider bundles")
    asub = a.add_subparsers(dest="sub", required=True, parser_class=type(a))
    ash = asub.add_parser("show", help="print the audit log (oldest first)")
    ash.add_argument("-c", "--config", required=True)
    ash.add_argument("--since", help="ISO 8601 time; without an offset, local time in [general].timezone")
    ash.add_argument("--json", action="store_true", help="a JSON array of the records")
    av = asub.add_parser("verify", help="check the hash chain: exit 1 on an edited, removed or reordered line")
    av.add_argument("-c", "--config", required=True)

    t = sub.add_parser("authority", help="authority lists")
    tsub = t.add_subparsers(dest="sub", required=True, parser_class=type(t))
    st = tsub.add_parser("selftest", help="ask the running resolver for each authority list's entries: exit 1 "
                                          "on any miss")
    st.add_argument("-c", "--config", required=True)
    how = st.add_mutually_exclusive_group()
    how.add_argument("--all", action="store_true", help="every entry (default: a sample)")
    how.add_argument("--sample", type=int, help="a seeded random sample of N entries per list (default "
                                                "[authority] selftest_sample), plus the entries added since the "
                                                "previous version")
    st.add_argument("--server", help="ADDR:PORT to ask (default: the loopback address of [dns].listen)")
    st.add_argument("--seed", type=int, help="the sample's seed (default: random, printed)")
    st.add_argument("--rate", type=float, help="queries a second (default [authority] selftest_rate; at most 50000)")
    st.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, load: Load, fail: Fail, since: Since) -> int:
    if args.cmd == "provider":
        return _provider(args, load, fail)
    if args.cmd == "audit":
        return _audit(args, load, since)
    return _selftest(args, load, fail)


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds") if ts else "never"


def _provider(args: argparse.Namespace, load: Load, fail: Fail) -> int:
    from dnsfilter.authority.bundle import read_state, sync_bundle

    cfg = load(args.config)
    if cfg.provider is None:
        fail("this config has no [provider] section: the router is not managed")
    if args.sub == "sync":
        import logging

        logging.basicConfig(level="WARNING", format="dnsfilter: %(levelname)s: %(message)s")
        st = sync_bundle(cfg)
        if st.result in ("failed", "rejected"):
            print(f"bundle {st.result.upper()} ({st.error_kind}): {st.last_error}")
            return 1
        print(f"bundle {st.result}: serial {st.serial}, key {st.key_id}"
              + ("; a running daemon applies it on its next reload" if st.result == "new" else ""))
        return 0
    st = read_state(cfg.provider_dir())
    out = {**st.public(), "bundle_url": st.source or cfg.provider.bundle_url, "in_force_serial": cfg.managed.serial,
           "refused": [{"key": k, "why": w} for k, w in cfg.managed.refused]}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"provider bundle: serial {st.serial or 'none yet'}, key id {st.key_id or '-'}, from {out['bundle_url']}")
    print(f"  last check {_when(st.last_check)} ({st.result or 'not yet'}); accepted {_when(st.last_change)}")
    if st.last_error:
        print(f"  last error ({st.error_kind}): {st.last_error}")
    if st.locked:
        print(f"  locked: {', '.join(st.locked)}")
    for k, w in cfg.managed.refused:
        print(f"  refused household setting {k}: {w}")
    return 0


def _audit(args: argparse.Namespace, load: Load, since_of: Since) -> int:
    from dnsfilter.authority import audit

    cfg = load(args.config)
    path = cfg.audit_path()
    if args.sub == "verify":
        rep = audit.verify(path)
        for t in rep.torn:
            print(f"torn: {t}")
        for p in rep.problems:
            print(f"BROKEN: {p}")
        print(f"{path}: {rep.lines} lines, {'chain intact' if rep.ok else 'CHAIN BROKEN'}; head {rep.head} "
              "(keep this line elsewhere: a truncation at a line boundary is only seen against it)")
        return 0 if rep.ok else 1
    recs = audit.records(path, since_of(args.since, cfg.general.timezone) if args.since else None)
    try:
        if args.json:
            print(json.dumps(list(recs), ensure_ascii=False, indent=1))
            return 0
        for r in recs:
            detail = " ".join(f"{k}={v}" for k, v in r.items()
                              if k not in ("seq", "time", "ts", "event", "prev") and v not in ("", None, []))
            print(f"{r.get('time')} #{r.get('seq')} {r.get('event')}: {detail}")
        sys.stdout.flush()
    except BrokenPipeError:
        return 0
    return 0


def _selftest(args: argparse.Namespace, load: Load, fail: Fail) -> int:
    from dnsfilter.authority import selftest

    cfg = load(args.config)
    if args.sample is not None and args.sample < 1:
        fail("--sample: give a number of entries of at least 1")
    server: tuple[str, int]
    if args.server:
        host, sep, port = args.server.rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit() or not host:
            fail(f"--server: {args.server!r} is not ADDR:PORT")
        server = (host, int(port))
    else:
        try:
            server = selftest.server_of(cfg)
        except selftest.SelftestError as e:
            fail(str(e))
    if not selftest.authority_feeds(cfg):
        print("no authority lists in this config: nothing to prove")
        return 0
    sample = None if args.all else (args.sample or cfg.authority.selftest_sample)
    seed = args.seed if args.seed is not None else None
    rate = args.rate or cfg.authority.selftest_rate
    try:
        results = selftest.run(cfg, server, sample=sample, seed=seed, rate=rate)
    except selftest.SelftestError as e:
        fail(str(e))
    misses = sum(r.misses for r in results)
    if args.json:
        print(json.dumps({"server": f"{server[0]}:{server[1]}", "mode": "all" if sample is None else "sample",
                          "sample": sample, "misses": misses, "ok": not misses,
                          "feeds": [vars(r) for r in results]}, indent=1, ensure_ascii=False))
        return 1 if misses else 0
    for r in results:
        lag = f"{r.fetch_to_effective:.1f}s" if r.fetch_to_effective is not None else "unknown"
        print(f"{r.feed} version {r.version or '-'} (serial {r.serial}): {r.entries_probed} probed "
              f"({r.added_probed} added since the previous version), {r.misses} misses; fetch to effective {lag}; "
              f"{r.seconds:.1f}s")
        if r.note:
            print(f"  note: {r.note}")
        if r.networks:
            print(f"  {r.networks} network ranges (response-IP rules) not probed: no name is known to resolve into them")
        for name in r.miss_examples:
            print(f"  MISS: {name}")
    print(f"{'OK' if not misses else 'MISSES'}: {misses} misses in {sum(r.entries_probed for r in results)} probes "
          f"against {server[0]}:{server[1]}")
    return 1 if misses else 0
