"""`dnsfilter requests`: the children's requests from the command line.

    dnsfilter requests list -c FILE [--state open] [--json]
    dnsfilter requests approve -c FILE ID --for 15m|1h|today|always [--profile]
    dnsfilter requests deny -c FILE ID
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from dnsfilter.config import Config

Fail = Callable[..., NoReturn]
Load = Callable[[str], Config]


def add_parsers(sub: Any) -> None:
    r = sub.add_parser("requests", help="children's requests: list, approve, deny")
    rsub = r.add_subparsers(dest="sub", required=True, parser_class=type(r))
    rl = rsub.add_parser("list", help="the requests, newest first")
    rl.add_argument("-c", "--config", required=True)
    rl.add_argument("--state", choices=["open", "approved", "denied", "expired"], help="only these")
    rl.add_argument("--json", action="store_true", help="a JSON array (id, device, name, kind, state, …)")
    ra = rsub.add_parser("approve", help="approve a request: an expiring allow (or more time today)")
    ra.add_argument("-c", "--config", required=True)
    ra.add_argument("id", type=int)
    ra.add_argument("--for", dest="duration", required=True, choices=["15m", "1h", "today", "always"])
    ra.add_argument("--profile", action="store_true", help="for every device of the profile, not only the one "
                                                           "that asked")
    rd = rsub.add_parser("deny", help="say no to a request")
    rd.add_argument("-c", "--config", required=True)
    rd.add_argument("id", type=int)


def run(args: argparse.Namespace, load: Load, fail: Fail) -> int:
    from dnsfilter.approvals import approve, deny
    from dnsfilter.storage.child_requests import AnswerError

    cfg = load(args.config)
    who = f"cli:{getpass.getuser()}"
    try:
        if args.sub == "approve":
            r, msg = approve(cfg, args.id, args.duration, by=who, scope="profile" if args.profile else "device")
            print(f"request {r.id} approved for {args.duration}: {r.name} for {r.label}"
                  + (f" (profile {r.profile})" if args.profile else "") + (f"; {msg}" if msg else ""))
            return 0
        if args.sub == "deny":
            r = deny(cfg, args.id, by=who)
            print(f"request {r.id} denied: {r.name} for {r.label}")
            return 0
    except AnswerError as e:
        fail(str(e))
    from dnsfilter.storage.child_requests import open_requests
    from dnsfilter.storage.family import family_db, runtime_db

    if not (family_db(cfg).exists() or runtime_db(cfg).exists()):
        items = []
    else:
        store = open_requests(cfg)
        try:
            items = store.find(state=args.state)
        finally:
            store.close()
    try:
        _print(items, args.json)
    except BrokenPipeError:  # `| head`: the reader had enough
        pass
    return 0


def _print(items: list[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.as_dict() for r in items], ensure_ascii=False, indent=1), flush=True)
        return
    for r in items:
        when = dt.datetime.fromtimestamp(r.created).isoformat(sep=" ", timespec="minutes")
        answer = ""
        if r.answered_by:
            answer = f"  {r.state} by {r.answered_by}" + (f" for {r.duration}" if r.duration else "")
        print(f"{r.id:5}  {when}  {r.label} ({r.profile})  {r.kind} {r.name}  asked {r.wanted}  [{r.state}]{answer}")
    if not items:
        print("no requests")
    sys.stdout.flush()
