"""`dnsfilter logs export`: the query log to stdout, oldest first (CSV, or one JSON object a line)."""

from __future__ import annotations

import argparse
import sys

from dnsfilter.cli_common import fail, load_as_owner, since


def logs_export(args: argparse.Namespace) -> int:
    from dnsfilter.storage.logstore import FILE, LogStore, write_export

    cfg = load_as_owner(args.config)
    start = since(args.since, cfg.general.timezone) if args.since else None
    path = cfg.data_path() / FILE
    if not path.exists():
        fail(f"no query log at {path} (the daemon writes it while it runs)", 1)
    store = LogStore(path, readonly=True)
    try:
        write_export(store.export(since=start, device=args.device), sys.stdout, args.format)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader had enough
        return 0
    finally:
        store.close()
    return 0
