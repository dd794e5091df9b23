"""The `dnsfilter` command: arguments → config → engine → shells.

Bad arguments or a bad config print one line and exit 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import socket
import sys
import time
import tomllib
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from dnsfilter import __version__
from dnsfilter import config as config_mod
from dnsfilter.config import Config, ConfigError
from dnsfilter.core.dns.rrtypes import rr_type

if TYPE_CHECKING:
    from dnsfilter.core.engine import Engine
    from dnsfilter.core.stages.identify import ClientState
    from dnsfilter.shell.webproc import WebUI

EXIT_USAGE = 2


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


def _fail(msg: str, code: int = EXIT_USAGE) -> NoReturn:
    print(f"dnsfilter: {msg}", file=sys.stderr)
    raise SystemExit(code)


def _load(path: str) -> Config:
    try:
        return config_mod.load(path)
    except ConfigError as e:
        _fail(f"config error: {e}")


def _load_as_owner(path: str) -> Config:
    """The config, with this process switched to the owner of its state folder when root runs a
    command there (shell/privilege.py): what the command writes stays usable by the service."""
    from dnsfilter.shell.privilege import PrivilegeError, become_owner

    cfg = _load(path)
    try:
        become_owner(cfg.data_path())
    except PrivilegeError as e:
        _fail(str(e))
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "serve":
            return _serve(args)
        if args.cmd == "check":
            return _check(args)
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
            return _feeds(args)
        if args.cmd == "ctl":
            return _ctl(args)
        if args.cmd == "rpz":
            from dnsfilter.cli_rpz import rpz

            return rpz(args, _load(args.config), _fail)
        if args.cmd == "firewall":
            return _firewall(args)
        if args.cmd == "logs":
            return _logs_export(args)
        if args.cmd == "setup-code":
            return _setup_code(args)
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


def _serve(args: argparse.Namespace) -> int:
    from dnsfilter.shell import tlsload

    tlsload.defer()  # before asyncio's import: TLS is loaded when an upstream first needs it
    import asyncio

    from dnsfilter.shell.privilege import PrivilegeError, refuse_foreign_folder

    cfg = _load(args.config)
    try:
        refuse_foreign_folder(cfg.data_path(), "dnsfilter serve")
    except PrivilegeError as e:
        _fail(str(e))
    from dnsfilter.shell.logs import configure

    configure(args.log_level, args.log_to)
    from dnsfilter.shell.daemon import Daemon
    from dnsfilter.shell.worker_stats import worker_count
    from dnsfilter.shell.workers import supervise
    from dnsfilter.storage.state_dir import settle

    settle(cfg.data_path(), cfg.state_path())  # an older version's account and pauses, moved once
    n = worker_count(cfg.dns.workers)
    web = _start_web(cfg, args.web_any_address)
    try:
        if n > 1:
            return supervise(cfg, n)
        return asyncio.run(Daemon(cfg).run())
    finally:
        if web is not None:
            web.terminate()
            web.wait(5)


def _start_web(cfg: Config, allow_any: bool) -> WebUI | None:
    """The web UI in its own process when [web] is set, started at its first connection."""
    if cfg.web is None:
        return None
    from dnsfilter.shell.webproc import start  # not webui.server: the webui package imports Flask

    return start(cfg, allow_any)


def _check(args: argparse.Namespace) -> int:
    from dnsfilter.assemble import build_engine
    from dnsfilter.core.dns import wire
    from dnsfilter.shell.lists import load_matcher

    cfg = _load_as_owner(args.config)
    qtype = rr_type(args.type) or (int(args.type) if args.type.isdigit() and 0 < int(args.type) < 65536 else None)
    if qtype is None:
        _fail(f"unknown query type {args.type!r}")
    try:
        qnames = [wire.text_to_wire(config_mod.check_name(n, "name")) for n in args.name]
    except (ConfigError, ValueError) as e:
        _fail(str(e))
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in args.client else socket.AF_INET, args.client)
    except OSError:
        _fail(f"--client: {args.client!r} is not an IP address")
    at = _parse_at(args.at, cfg.general.timezone) if args.at else dt.datetime.now(dt.UTC)
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
            _fail(f"--mac: {args.mac!r} is not a MAC address")
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


def _setup_code(args: argparse.Namespace) -> int:
    """What an installer prints at its end, so the owner can finish setup in the browser."""
    from dnsfilter.shell.webproc import url
    from dnsfilter.storage import setup_code
    from dnsfilter.storage.state_dir import settle

    cfg = _load(args.config)
    try:
        settle(cfg.data_path(), cfg.state_path())
        code = setup_code.ensure(cfg.state_path())
    except OSError as e:
        _fail(f"cannot make the setup code in {cfg.state_path()}: {e.strerror or e}", 1)
    if code is None:
        print("setup is done: log in with the admin password")
        return 0
    where = f"enter it at {url(cfg)}setup" if cfg.web is not None else "the config has no [web] section yet"
    print(f"setup code: {setup_code.shown(code)} ({where})")
    return 0


def _parse_at(text: str, tz: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at: {text!r} is not an ISO 8601 time (e.g. 2026-01-31T21:30)")
    if at.tzinfo is None:
        at = at.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return at


def _feeds(args: argparse.Namespace) -> int:
    from feeds.sync import read_status, sync_feed

    cfg = _load_as_owner(args.config)
    logging.basicConfig(level="WARNING", format="dnsfilter: %(levelname)s: %(message)s")
    wanted = getattr(args, "feed", None)
    # --feed NAME syncs that feed even when disabled (to try it before enabling it)
    feeds = [f for f in cfg.feeds if f.name == wanted] if wanted else [f for f in cfg.feeds if f.enabled]
    if wanted and not feeds:
        _fail(f"--feed: no feed named {wanted!r} (have: {', '.join(f.name for f in cfg.feeds) or 'none'})")
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
                   f" ({s.transfer or 'not transferred yet'}); primary last answered {_when(s.last_contact)}"
                   + ("; STALE: past the zone's SOA expire, the last good version stays in force"
                      if s.stale(now) else ""))
        print(f"{s.name:20} {s.category:9} {s.entries:9} entries  {s.invalid:6} invalid  {s.skipped:6} skipped  "
              f"synced {when}  last try {_when(s.last_attempt)}{xfr}{err}{warn}")
    return 0


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds") if ts else "never"


def _ctl(args: argparse.Namespace) -> int:
    # The daemon validates the config itself on reload: here only data_dir is needed, so a
    # config with a mistake can still be sent to it (and rejected with the reason).
    path = _control_socket(args.config)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(str(path))
            s.sendall(" ".join([args.command, *args.args]).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        _fail(f"cannot reach the daemon at {path}: {e.strerror or e}", 1)
    if not data.strip():
        _fail("the daemon closed the connection without a reply (its log says why)", 1)
    try:
        reply = json.loads(data)
    except ValueError:
        _fail("the daemon sent an unreadable reply", 1)
    if args.command == "status":
        print(json.dumps(reply.get("status", reply.get("message")), indent=1))
    elif args.command == "metrics" and reply.get("ok"):
        sys.stdout.write(reply.get("metrics", ""))
    elif args.command in ("devices", "usage") and reply.get("ok"):
        print(json.dumps(reply.get(args.command), indent=1))
    else:
        print(reply.get("message"))
    return 0 if reply.get("ok") else 1


def _logs_export(args: argparse.Namespace) -> int:
    from dnsfilter.storage.logstore import FILE, LogStore, write_export

    cfg = _load_as_owner(args.config)
    since = _since(args.since, cfg.general.timezone) if args.since else None
    path = cfg.data_path() / FILE
    if not path.exists():
        _fail(f"no query log at {path} (the daemon writes it while it runs)", 1)
    store = LogStore(path, readonly=True)
    try:
        write_export(store.export(since=since, device=args.device), sys.stdout, args.format)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader had enough
        return 0
    finally:
        store.close()
    return 0


def _since(text: str, tz: str) -> float:
    """`--since` as a timestamp; without an offset, local time in `tz`."""
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--since: {text!r} is not an ISO 8601 time (e.g. 2025-06-15T08:00)")
    if at.tzinfo is None:
        at = at.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return at.timestamp()


def _firewall(args: argparse.Namespace) -> int:
    from dnsfilter.router import firewall
    from dnsfilter.router import firewall_apply as fa

    cfg = _load(args.config) if args.config else None
    try:
        if args.sub == "remove":
            fa.remove()
            print("forced DNS rules removed (table inet dnsfilter)")
            return 0
        assert cfg is not None
        if args.sub == "render":
            rules = fa.load_rules(cfg)
            print(firewall.render_sets(rules, args.variant) if args.sets else firewall.render(rules, args.variant),
                  end="")
            return 0
        if args.sub == "apply":
            rules = fa.apply(cfg)
        else:  # refresh: fetch [firewall] doh_feed, then refill every loaded rule set's DoH sets
            from dnsfilter.router import doh_refresh
            fa.load_rules(cfg)  # a bad doh_list fails here, before anything is fetched or run
            st, variants = doh_refresh.refresh_once(cfg)
            if not variants:
                raise fa.FirewallError("the dnsfilter table is not loaded: run `dnsfilter firewall apply` first")
            rules = fa.load_rules(cfg)
            if st is not None and st.result in ("failed", "rejected"):
                print(f"dnsfilter: DoH feed {st.result}: {st.error}; the sets keep the last good list",
                      file=sys.stderr)
                return 1
    except fa.FirewallError as e:
        _fail(str(e), 1)
    print(f"forced DNS rules {'loaded' if args.sub == 'apply' else 'refreshed'}: port 53 on "
          f"{', '.join(rules.interfaces)} -> :{rules.port}; {len(rules.doh4) + len(rules.doh6)} DoH entries")
    return 0


def _control_socket(config_path: str) -> Path:
    p = Path(config_path)
    data_dir = "var"
    try:
        with p.open("rb") as f:
            data_dir = str(tomllib.load(f).get("storage", {}).get("data_dir", "var"))
    except FileNotFoundError:
        _fail(f"{p}: no such config file")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        pass
    return (p.resolve().parent / data_dir).resolve() / "control.sock"  # as Config.data_path


if __name__ == "__main__":
    raise SystemExit(main())
