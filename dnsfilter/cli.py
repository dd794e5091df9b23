"""The `dnsfilter` command: its arguments, and each command handed to the module that runs it
(cli_serve, cli_check, cli_feeds, cli_ctl, cli_logs, cli_firewall, cli_rpz, requests_cli,
authority/commands).

Bad arguments or a bad config print one line and exit 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from dnsfilter import __version__
from dnsfilter import config as config_mod
from dnsfilter.cli_common import EXIT_USAGE
from dnsfilter.cli_common import fail as _fail
from dnsfilter.cli_common import load as _load
from dnsfilter.cli_common import load_as_owner as _load_as_owner
from dnsfilter.cli_common import since as _since


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"dnsfilter: {message} (see: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dnsfilter", description="A filtering DNS resolver for homes and routers.")
    p.add_argument("--version", action="version", version=f"dnsfilter {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    s = sub.add_parser("serve", help="run the DNS service")
    s.add_argument("-c", "--config", required=True, help="config file (TOML)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.add_argument("--log-to", default="stderr", choices=["stderr", "syslog"],
                   help="syslog: to /dev/log with each line's severity (OpenWrt's init script uses it)")
    s.add_argument("--web-any-address", action="store_true",
                   help="let [web].listen be a public address (by default loopback and LAN only)")

    c = sub.add_parser("check", help="the decision the running policy takes for a name, without the network")
    c.add_argument("-c", "--config", required=True)
    c.add_argument("name", nargs="+", help="one or more names (one line, or one JSON object, each)")
    c.add_argument("--client", default="127.0.0.1", help="client IP address (default 127.0.0.1)")
    c.add_argument("--mac", help="the client's MAC address, as the neighbour table would give it")
    c.add_argument("--type", default="A", help="query type (default A)")
    c.add_argument("--at", help="ISO 8601 time; without an offset, local time in [general].timezone")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    cfg = sub.add_parser("config", help="config file tools")
    csub = cfg.add_subparsers(dest="sub", required=True, parser_class=_Parser)
    cc = csub.add_parser("check", help="validate a config file")
    cc.add_argument("-c", "--config", required=True)

    f = sub.add_parser("feeds", help="blocklist feeds")
    fsub = f.add_subparsers(dest="sub", required=True, parser_class=_Parser)
    fs = fsub.add_parser("sync", help="download and compile feeds now")
    fs.add_argument("-c", "--config", required=True)
    fs.add_argument("--feed", help="only this feed")
    ft = fsub.add_parser("status", help="show feed status")
    ft.add_argument("-c", "--config", required=True)
    ft.add_argument("--json", action="store_true")

    r = sub.add_parser("rpz", help="the policy as Response Policy Zones for other resolvers (docs/rpz.md)")
    rsub = r.add_subparsers(dest="sub", required=True, parser_class=_Parser)
    re_ = rsub.add_parser("export", help="write one RPZ zone file per zone into a folder")
    re_.add_argument("-c", "--config", required=True)
    re_.add_argument("--out", required=True, help="the folder for the ZONE.zone files (created if missing)")
    re_.add_argument("--json", action="store_true")
    rp = rsub.add_parser("publish", help="export into [rpz] out_dir, then run [rpz] reload_command")
    rp.add_argument("-c", "--config", required=True)
    rp.add_argument("--json", action="store_true")

    k = sub.add_parser("ctl", help="talk to a running daemon over its control socket")
    k.add_argument("-c", "--config", required=True)
    k.add_argument("command", choices=["reload", "status", "ping", "pause", "resume", "devices", "metrics", "usage",
                                       "overrides", "budget", "report"],
                   help="pause TARGET MINUTES | resume TARGET (TARGET: profile:NAME or device:MAC/IP) | "
                        "budget PROFILE DEVICE ITEM +MINUTES|reset | report (the weekly report, now)")
    k.add_argument("args", nargs="*", help=argparse.SUPPRESS)

    sc = sub.add_parser("setup-code", help="the web UI's one-time setup code (for installers; made if missing)")
    sc.add_argument("-c", "--config", required=True)

    lg = sub.add_parser("logs", help="the query log")
    lsub = lg.add_subparsers(dest="sub", required=True, parser_class=_Parser)
    le = lsub.add_parser("export", help="write the query log to stdout (oldest first)")
    le.add_argument("-c", "--config", required=True)
    le.add_argument("--format", choices=["csv", "json"], default="csv", help="csv, or json (one object a line)")
    le.add_argument("--since", help="ISO 8601 time; without an offset, local time in [general].timezone")
    le.add_argument("--device", help="only this device (as the log names it: a MAC or an address)")

    w = sub.add_parser("firewall", help="forced DNS: nftables rules for a router (see docs/forced-dns.md)")
    wsub = w.add_subparsers(dest="sub", required=True, parser_class=_Parser)
    wr = wsub.add_parser("render", help="print the rules (nft script)")
    wr.add_argument("-c", "--config", required=True)
    wr.add_argument("--variant", choices=["table", "fw4"], default="table",
                    help="table: `inet dnsfilter` for nft -f; fw4: an OpenWrt table-post include")
    wr.add_argument("--sets", action="store_true", help="only the commands that refill the DoH sets")
    for name, text in (("apply", "load or replace the `inet dnsfilter` table"),
                       ("refresh", "fetch doh_feed, refill the loaded DoH sets from the config, doh_list"
                                   " and the feed"),
                       ("remove", "delete the `inet dnsfilter` table (nothing to do if absent)")):
        wx = wsub.add_parser(name, help=text)
        wx.add_argument("-c", "--config", required=name != "remove")
    from dnsfilter.authority.commands import add_parsers

    add_parsers(sub)  # provider, audit, authority
    from dnsfilter.requests_cli import add_parsers as add_requests

    add_requests(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "serve":
            from dnsfilter.cli_serve import serve

            return serve(args)
        if args.cmd == "check":
            from dnsfilter.cli_check import check

            return check(args)
        if args.cmd == "config":
            cfg = _load(args.config)
            for warning in config_mod.upstream_warnings(cfg.dns.upstreams):
                print(f"dnsfilter: warning: {warning}", file=sys.stderr)
            for key, why in cfg.managed.refused:  # valid, but the household's value is not the one in force
                print(f"dnsfilter: warning: {key}: {why}", file=sys.stderr)
            managed = f", provider bundle serial {cfg.managed.serial}" if cfg.managed.serial else ""
            print(f"{cfg.path}: OK ({len(cfg.feeds)} feeds, {len(cfg.profiles)} profiles, "
                  f"{len(cfg.dns.upstreams)} upstreams{managed})")
            return 0
        if args.cmd in ("provider", "audit", "authority"):
            from dnsfilter.authority import commands

            return commands.run(args, _load, _fail, _since)
        if args.cmd == "requests":
            from dnsfilter import requests_cli

            return requests_cli.run(args, _load_as_owner, _fail)
        if args.cmd == "feeds":
            from dnsfilter.cli_feeds import feeds_command

            return feeds_command(args)
        if args.cmd == "ctl":
            from dnsfilter.cli_ctl import ctl

            return ctl(args)
        if args.cmd == "rpz":
            from dnsfilter.cli_rpz import rpz

            return rpz(args, _load(args.config), _fail)
        if args.cmd == "firewall":
            from dnsfilter.cli_firewall import firewall_command

            return firewall_command(args)
        if args.cmd == "logs":
            from dnsfilter.cli_logs import logs_export

            return logs_export(args)
        if args.cmd == "setup-code":
            from dnsfilter.cli_serve import print_setup_code

            return print_setup_code(args)
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE



if __name__ == "__main__":
    raise SystemExit(main())
