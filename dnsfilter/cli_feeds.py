"""`dnsfilter feeds sync` (download and compile now) and `dnsfilter feeds status`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time

from dnsfilter.cli_common import fail, load_as_owner


def feeds_command(args: argparse.Namespace) -> int:
    from feeds.sync import read_status, sync_feed

    cfg = load_as_owner(args.config)
    logging.basicConfig(level="WARNING", format="dnsfilter: %(levelname)s: %(message)s")
    wanted = getattr(args, "feed", None)
    # --feed NAME syncs that feed even when disabled (to try it before enabling it)
    feeds = [f for f in cfg.feeds if f.name == wanted] if wanted else [f for f in cfg.feeds if f.enabled]
    if wanted and not feeds:
        fail(f"--feed: no feed named {wanted!r} (have: {', '.join(f.name for f in cfg.feeds) or 'none'})")
    if args.sub == "sync":
        logging.getLogger("dnsfilter.feeds").setLevel(logging.ERROR)  # the daemon's lines: printed below instead
        failed = 0
        for f in feeds:
            st = sync_feed(cfg, f)
            if st.error:
                failed += 1
                print(f"{f.name}: {st.result.upper()}: {st.error}")
            elif st.result == "unchanged":
                print(f"{f.name}: unchanged ({st.entries} entries)")
            else:
                print(f"{f.name}: {st.entries} entries from {st.rules} rules ({st.invalid} invalid, "
                      f"{st.skipped} skipped) [{st.format}] in {st.duration:.2f}s")
                for w in st.warnings:
                    print(f"{f.name}: warning: {w}")
        if feeds and not failed:
            print("a running daemon picks the new sets up on `dnsfilter ctl reload` or its next periodic sync")
        return 1 if failed else 0
    statuses = [read_status(cfg, f) for f in cfg.feeds]
    now = time.time()
    if args.json:
        print(json.dumps([dict(s.public(), enabled=f.enabled, **({"stale": s.stale(now)} if f.xfr else {}))
                          for s, f in zip(statuses, cfg.feeds, strict=True)], indent=1))
        return 0
    for s, f in zip(statuses, cfg.feeds, strict=True):
        when = _when(s.last_success)
        err = f"\n    error: {s.error}" if s.error else ""
        warn = "".join(f"\n    warning: {w}" for w in s.warnings)
        xfr = ""
        if f.xfr is not None:
            xfr = (f"\n    zone {f.xfr.zone}: serial {s.zone_serial if s.zone_serial is not None else '-'} in force"
                   f" ({s.transfer or 'not transferred yet'}{', compiled ' + s.compiled if s.compiled else ''}); "
                   f"primary last answered {_when(s.last_contact)}"
                   + ("; STALE: past the zone's SOA expire, the last good version stays in force"
                      if s.stale(now) else ""))
        print(f"{s.name:20} {s.category:9} {s.entries:9} entries  {s.invalid:6} invalid  {s.skipped:6} skipped  "
              f"synced {when}  last try {_when(s.last_attempt)}{xfr}{err}{warn}")
    return 0


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds") if ts else "never"
