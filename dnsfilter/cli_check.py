"""`dnsfilter check`: the decision the running policy takes for a name, without the network
(the daemon's saved pauses and budgets included)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import socket
from typing import TYPE_CHECKING

from dnsfilter import config as config_mod
from dnsfilter.cli_common import fail, iso_time, load_as_owner
from dnsfilter.config import ConfigError
from dnsfilter.core.dns.rrtypes import rr_type

if TYPE_CHECKING:
    from dnsfilter.core.engine import Engine
    from dnsfilter.core.stages.identify import ClientState


def check(args: argparse.Namespace) -> int:
    from dnsfilter.assemble import build_engine
    from dnsfilter.core.dns import wire
    from dnsfilter.shell.lists import load_matcher

    cfg = load_as_owner(args.config)
    qtype = rr_type(args.type) or (int(args.type) if args.type.isdigit() and 0 < int(args.type) < 65536 else None)
    if qtype is None:
        fail(f"unknown query type {args.type!r}")
    try:
        qnames = [wire.text_to_wire(config_mod.check_name(n, "name")) for n in args.name]
    except (ConfigError, ValueError) as e:
        fail(str(e))
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in args.client else socket.AF_INET, args.client)
    except OSError:
        fail(f"--client: {args.client!r} is not an IP address")
    at = (iso_time(args.at, cfg.general.timezone, "--at", "2026-01-31T21:30") if args.at
          else dt.datetime.now(dt.UTC))
    logging.basicConfig(level="WARNING", format="dnsfilter: %(levelname)s: %(message)s")
    engine = build_engine(cfg, load_matcher(cfg))
    if engine.time is not None:  # the running daemon's pauses and budgets, as last saved
        from dnsfilter.shell.household import Household

        hh = Household(cfg, lambda: engine)
        hh.load_state()
        hh.load_overrides()
    client = engine.identify.client(args.client, 0.0)
    if client is not None and args.mac:
        from dnsfilter.core.household.macaddr import normalise_mac

        try:
            client = engine.identify.behind(client, normalise_mac(args.mac), args.client)
        except ValueError:
            fail(f"--mac: {args.mac!r} is not a MAC address")
    for qname in qnames:
        _check_one(engine, client, qname, qtype, at, args, cfg.dns.block_mode.kind)
    return 0


def _check_one(engine: Engine, client: ClientState | None, qname: bytes, qtype: int, at: dt.datetime,
               args: argparse.Namespace, block_mode: str) -> None:
    from dnsfilter.core.dns import wire
    from dnsfilter.core.policy.decide import NO_TIME_STATE

    q = wire.parse_query(wire.build_query(0, qname, qtype))
    out: dict[str, object] = {"name": wire.wire_to_text(qname), "type": args.type.upper(), "client": args.client,
                              "at": at.isoformat()}
    if client is None:
        out.update(decision="block", profile=None, reason="client not in allowed_clients: REFUSED")
    elif (local := engine.local.answer(q, None, 65535)) is not None:
        out.update(decision="allow", profile=client.profile, outcome="local", reason=f"answered locally: {local[2].text}")
    else:
        state = engine.time.state(client.profile, client.device, at.timestamp())[0] if engine.time else NO_TIME_STATE
        d = engine.policy.decide(client.profile, qname, explain=True, qtype=qtype, client=client.ip, state=state)
        out.update(decision=d.verdict, profile=client.profile, reason=d.reason.text, kind=d.reason.kind,
                   not_enforced=list(engine.policy.profiles[client.profile].unenforced))
        if d.blocked:
            out.update(category=d.reason.category, feed=d.reason.feed, rule=d.reason.rule,
                       service=d.reason.service, ede=int(d.ede) if d.ede else None,
                       action=d.action.kind if d.action is not None else block_mode)
        if d.rewrite is not None:
            out.update(target=wire.wire_to_text(d.rewrite))
        if d.count:
            out.update(counts_toward=list(d.count))
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{out['decision']}: {out['name']} for {args.client} (profile {out['profile']}): {out['reason']}")
