"""Real DNS servers on loopback for the RPZ tests (issue 20): Knot DNS as the primary of the
zones `dnsfilter rpz export` writes, and the resolvers that follow them (Unbound, BIND,
PowerDNS Recursor, Knot Resolver), each started from the example shipped in deploy/rpz/ with
only its addresses, ports, paths and secret replaced (`shipped`: every replaced text must be
in the example, so the examples cannot drift from what is tested). A second Knot instance is
the "internet": a root zone whose wildcard answers every name (192.0.2.1, 2001:db8::1), so a
name no policy rewrites resolves to that address everywhere. BIND is also the primary of the
xfr:// feed tests (`BindPrimary`, changed by signed dynamic updates).

Nothing leaves loopback: the resolvers forward to the backend and never recurse.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from tests.support.daemon import free_port
from tests.support.paths import REPO

EXAMPLES = REPO / "deploy" / "rpz"
KEY_NAME = "dnsfilter-rpz"
SECRET = base64.b64encode(b"dnsfilter rpz test secret 32 by!").decode()
UPDATE_KEY_NAME = "dnsfilter-rpz-update"  # knot.conf's update ACL: `rpz publish` with publish = "update"
UPDATE_SECRET = base64.b64encode(b"dnsfilter rpz update secret, 32b").decode()


def knot_keys(dir: Path) -> dict[str, str]:
    """knot.conf's two key files written into `dir`: the substitutions for `shipped`."""
    key, upd = dir / "dnsfilter-rpz.key", dir / "dnsfilter-rpz-update.key"
    key.write_text(f"key:\n  - id: {KEY_NAME}\n    algorithm: hmac-sha256\n    secret: {SECRET}\n")
    upd.write_text(f"key:\n  - id: {UPDATE_KEY_NAME}\n    algorithm: hmac-sha256\n    secret: {UPDATE_SECRET}\n")
    return {"/etc/knot/dnsfilter-rpz.key": str(key), "/etc/knot/dnsfilter-rpz-update.key": str(upd)}


# A daemon following ZONE from a primary by xfr:// with TSIG (feed "isp"; the secret in isp.secret)
FOLLOWER_CONFIG = """\
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["127.0.0.1:{backend}"]
cache_size = 0

[[feeds]]
name = "isp"
url = "xfr://127.0.0.1:{primary}/{zone}"
tsig = {{ name = "{key}", algorithm = "hmac-sha256", secret_file = "isp.secret" }}
category = "{category}"
"""


def follower_config(backend: int, primary: int, zone: str, category: str) -> str:
    """FOLLOWER_CONFIG for DaemonProcess (which fills in the port)."""
    return FOLLOWER_CONFIG.format(port="{port}", backend=backend, primary=primary, zone=zone, category=category,
                                  key=KEY_NAME)


BACKEND_A, BACKEND_AAAA = "192.0.2.1", "2001:db8::1"
IP_SINK = "198.51.100.77"


def need(*programs: str) -> None:
    for p in programs:
        if shutil.which(p) is None and not Path(p).exists():
            pytest.skip(f"{p} is not installed (apt-get install knot bind9 unbound pdns-recursor knot-resolver)")


def shipped(name: str, subs: dict[str, str]) -> str:
    """The example deploy/rpz/NAME with `subs` applied; each replaced text must occur in it."""
    text = (EXAMPLES / name).read_text()
    for old, new in subs.items():
        assert old in text, f"deploy/rpz/{name} no longer holds {old!r}: update the example and this test together"
        text = text.replace(old, new)
    return text


def ask(port: int, name: str, rdtype: str = "A", *, timeout: float = 2.0, tcp: bool = False,
        source: str | None = None) -> dns.message.Message | None:
    """One query to 127.0.0.1:port (EDNS on, like dig); None when nothing came back in time."""
    q = dns.message.make_query(name, rdtype, use_edns=0)
    try:
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=port, timeout=timeout, source=source)
        # a late reply to an earlier query whose port the system gave out again is not ours:
        # wait for this one's (on a busy machine, one arrived from another server's port)
        return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout, source=source, ignore_unexpected=True)
    except (dns.exception.Timeout, OSError, EOFError):
        return None


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll `check()` until true (bounded); the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s")


class Server:
    """A server process in its own temporary folder, stopped on exit."""

    name = "server"
    start_timeout = 20.0  # `with server:` waits this long for it to answer

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"rpz-{self.name}-")
        self.dir = Path(self._tmp.name)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return ask(self.port, "ready.test", timeout=0.3) is not None

    def start(self, timeout: float = 20.0) -> Server:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Server:
        try:
            return self.start(self.start_timeout)
        except BaseException:
            self.stop()
            self._tmp.cleanup()
            raise

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()


class Backend(Server):
    """The "internet": a root zone whose wildcards answer every name (but one)."""

    name = "backend"

    def command(self) -> list[str]:
        (self.dir / "db").mkdir(exist_ok=True)
        (self.dir / "root.zone").write_text(
            "$ORIGIN .\n$TTL 60\n@ SOA ns.backend. host.backend. 1 3600 600 86400 60\n@ NS ns.backend.\n"
            + "".join(f"{w} A {BACKEND_A}\n{w} AAAA {BACKEND_AAAA}\n{w} TXT \"backend\"\n"
                      for w in ("*", "*.example", "*.rpz-actions.example"))
            # the one name with another address: what the IP trigger of tests/data/rpz/actions.rpz lists
            + f"ipsink.rpz-actions.example A {IP_SINK}\n")
        (self.dir / "knot.conf").write_text(
            f"server:\n    rundir: {self.dir}\n    listen: 127.0.0.1@{self.port}\n"
            f"database:\n    storage: {self.dir}/db\nlog:\n  - target: stderr\n    any: warning\n"
            f"zone:\n  - domain: .\n    storage: {self.dir}\n    file: root.zone\n")
        return ["knotd", "-c", str(self.dir / "knot.conf")]


class KnotPrimary(Server):
    """deploy/rpz/knot.conf: the primary of the exported zones, notifying the resolvers."""

    name = "knot"

    def __init__(self, zones: list[str], notify: dict[str, int]) -> None:
        super().__init__()
        self.zones = zones
        self.notify = notify  # bind / pdns / unbound -> port (0: nobody there yet)
        self.storage = self.dir / "zones"
        self.storage.mkdir()

    def command(self) -> list[str]:
        (self.dir / "db").mkdir(exist_ok=True)
        text = shipped("knot.conf", {
            "192.0.2.53@53": f"127.0.0.1@{self.port}",
            **knot_keys(self.dir),
            "192.0.2.61@53": f"127.0.0.1@{self.notify.get('bind') or free_port()}",
            "192.0.2.63@53": f"127.0.0.1@{self.notify.get('unbound') or free_port()}",
            "address: 192.0.2.63": "address: 127.0.0.1",
            "/var/lib/knot/rpz": str(self.storage),
        })
        if "dnsfilter" in self.notify:  # a dnsfilter following the zones by xfr:// (the benchmark)
            text = text.replace("remote:\n", f"remote:\n  - id: dnsfilter\n    address: 127.0.0.1@{self.notify['dnsfilter']}"
                                              f"\n    key: {KEY_NAME}\n", 1)
            text = text.replace("notify: [ bind-resolver,", "notify: [ dnsfilter, bind-resolver,", 1)
        head, _, _zones = text.partition("\nzone:\n")  # the zones are the export's (the same in the tests)
        text = head + "\nzone:\n" + "".join(f"  - domain: {z}\n" for z in self.zones)
        text = text.replace("server:\n", f"server:\n    rundir: {self.dir}\n", 1)
        text += f"database:\n    storage: {self.dir}/db\ncontrol:\n    listen: {self.dir}/knot.sock\n"
        text += "log:\n  - target: stderr\n    any: info\n"
        (self.dir / "knot.conf").write_text(text)
        return ["knotd", "-c", str(self.dir / "knot.conf")]

    def ready(self) -> bool:
        r = ask(self.port, self.zones[0], "SOA", timeout=0.3)
        return r is not None and r.rcode() == dns.rcode.NOERROR and bool(r.answer)

    def reload_command(self) -> str:
        return f"knotc -s {self.dir}/knot.sock zone-reload {{zones}}"

    def serial(self, zone: str) -> int | None:
        r = ask(self.port, zone, "SOA", timeout=1.0)
        if r is None or not r.answer:
            return None
        return r.answer[0][0].serial


def shipped_zones() -> list[str]:
    """The zones the examples list (knot.conf's zone section), in order."""
    text = (EXAMPLES / "knot.conf").read_text().partition("\nzone:\n")[2]
    return [line.split("domain:", 1)[1].strip() for line in text.splitlines() if "domain:" in line]


class UnboundRpz(Server):
    """deploy/rpz/unbound.conf, following the Knot primary (no TSIG) and forwarding to the
    backend. 127.0.0.2 is the "kids" network of the example's access-control tag."""

    name = "unbound"

    def __init__(self, primary: int, backend: int, extra: str = "", source: str | None = None) -> None:
        super().__init__()
        self.primary, self.backend, self.extra = primary, backend, extra
        self.source = source

    def command(self) -> list[str]:
        if self.source is not None:
            rpz = self.source
        else:
            rpz = shipped("unbound.conf", {
                "192.0.2.53@53": f"127.0.0.1@{self.primary}",
                "allow-notify: 192.0.2.53": "allow-notify: 127.0.0.1",
                "/var/lib/unbound/": f"{self.dir}/",
                "10.0.10.0/24": "127.0.0.2/32",
            })
        (self.dir / "rpz.conf").write_text(rpz)
        (self.dir / "unbound.conf").write_text("\n".join([
            "server:",
            f"  interface: 127.0.0.1@{self.port}",
            f"  port: {self.port}",
            f'  directory: "{self.dir}"',
            f'  pidfile: "{self.dir}/unbound.pid"',
            '  username: ""', '  chroot: ""', "  use-syslog: no", '  logfile: ""', "  verbosity: 1",
            "  num-threads: 1", "  do-ip6: no", "  so-reuseport: no",
            "  access-control: 127.0.0.0/8 allow",
            "  do-not-query-localhost: no",
            "  ede: yes",
            "  cache-max-ttl: 0", "  cache-max-negative-ttl: 0",
            self.extra,
            f'include: "{self.dir}/rpz.conf"',
            "forward-zone:", '  name: "."', f"  forward-addr: 127.0.0.1@{self.backend}",
            "remote-control:", "  control-enable: no", "",
        ]))
        return ["unbound", "-d", "-c", str(self.dir / "unbound.conf")]


class BindResolver(Server):
    """deploy/rpz/named-rpz-options.conf and named-rpz-zones.conf: BIND following the Knot
    primary over TSIG and forwarding to the backend. BIND 9.18 (Debian 12) has no per-zone
    `ede`: `self.ede` says whether the installed one took it."""

    name = "bind"

    def __init__(self, primary: int, backend: int) -> None:
        super().__init__()
        self.primary, self.backend = primary, backend
        self.ede = True

    def command(self) -> list[str]:
        key = self.dir / "dnsfilter-rpz.key"
        key.write_text(f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n')
        options = shipped("named-rpz-options.conf", {})
        (self.dir / "rpz-options.conf").write_text(options)
        zones = shipped("named-rpz-zones.conf", {
            "/etc/bind/dnsfilter-rpz.key": str(key),
            "192.0.2.53 port 53": f"127.0.0.1 port {self.primary}",
            "/var/cache/bind/": f"{self.dir}/",
        })
        (self.dir / "rpz-zones.conf").write_text(zones)
        conf = self.dir / "named.conf"
        conf.write_text(self._conf())
        if subprocess.run(["named-checkconf", str(conf)], capture_output=True).returncode != 0:
            self.ede = False  # BIND before 9.20: the example without its `ede` words
            for word in (" ede censored", " ede blocked", " ede filtered"):
                options = options.replace(word, "")
            (self.dir / "rpz-options.conf").write_text(options)
        check = subprocess.run(["named-checkconf", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        return ["named", "-g", "-u", "root", "-c", str(conf)]

    def _conf(self) -> str:
        return (f'options {{\n  directory "{self.dir}";\n  pid-file "{self.dir}/named.pid";\n'
                f"  listen-on port {self.port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n"
                f'  session-keyfile "{self.dir}/session.key";\n  managed-keys-directory "{self.dir}";\n'
                "  recursion yes;\n  allow-query { 127.0.0.0/8; };\n  dnssec-validation no;\n"
                f"  forwarders {{ 127.0.0.1 port {self.backend}; }};\n  forward only;\n"
                "  max-cache-ttl 1;\n  max-ncache-ttl 1;\n  notify no;\n"
                f'  include "{self.dir}/rpz-options.conf";\n}};\n'
                "controls { };\n"
                f'include "{self.dir}/rpz-zones.conf";\n')


class PdnsRecursor(Server):
    """deploy/rpz/recursor-rpz.lua: PowerDNS Recursor following the Knot primary over TSIG
    (IXFR), forwarding to the backend."""

    name = "pdns"

    def __init__(self, primary: int, backend: int, zones: list[str]) -> None:
        super().__init__()
        self.primary, self.backend, self.zones = primary, backend, zones

    def command(self) -> list[str]:
        secret = self.dir / "dnsfilter-rpz.secret"
        secret.write_text(SECRET + "\n")
        lua = shipped("recursor-rpz.lua", {
            "/etc/powerdns/dnsfilter-rpz.secret": str(secret),
            "192.0.2.53:53": f"127.0.0.1:{self.primary}",

        })
        (self.dir / "rpz.lua").write_text(lua)
        (self.dir / "recursor.conf").write_text("\n".join([
            "local-address=127.0.0.1", f"local-port={self.port}", f"socket-dir={self.dir}",
            f"lua-config-file={self.dir}/rpz.lua", f"forward-zones=.=127.0.0.1:{self.backend}",
            "dnssec=off", "daemon=no", "write-pid=no", "max-cache-ttl=1", "max-negative-ttl=1", "disable-packetcache=yes",
            "allow-from=127.0.0.0/8",
            "threads=1", "loglevel=5", "security-poll-suffix=", "",
        ]))
        return ["pdns_recursor", f"--config-dir={self.dir}"]


class Kresd(Server):
    """deploy/rpz/kresd.conf: Knot Resolver applying the zone files where `rpz export` wrote
    them (watched), forwarding to the backend."""

    name = "kresd"

    def __init__(self, zone_dir: Path, backend: int) -> None:
        super().__init__()
        self.zone_dir, self.backend = zone_dir, backend

    def command(self) -> list[str]:
        conf = shipped("kresd.conf", {"/var/lib/dnsfilter/rpz/": f"{self.zone_dir}/"})
        (self.dir / "config").write_text("\n".join([
            f"net.listen('127.0.0.1', {self.port}, {{ kind = 'dns' }})",
            "trust_anchors.remove('.')",
            "cache.size = 10 * MB",
            # the backend as the only root server: what a passthru (which ends kresd's policy rules)
            # resolves against too
            "modules.load('hints > iterate')",
            f"hints.root({{['ns.backend.'] = '127.0.0.1@{self.backend}'}})",
            conf,
            "",
        ]))
        os.makedirs(self.dir / "run", exist_ok=True)
        return ["kresd", "-n", "-c", str(self.dir / "config"), str(self.dir / "run")]


class BindPrimary(Server):
    """BIND as the primary of one policy zone for an xfr:// feed: TSIG-only transfers, NOTIFY
    sent to `notify` (the dnsfilter daemon's port, set before start), changes by dynamic
    update (so BIND keeps the differences for IXFR)."""

    name = "bind-primary"

    def __init__(self, zone: str, records: list[str], key: str = KEY_NAME, secret: str = SECRET, *,
                 serial: int = 1, refresh: int = 3600) -> None:
        super().__init__()
        self.zone, self.records, self.key, self.secret = zone, records, key, secret
        self.first_serial, self.refresh = serial, refresh
        self.notify_port = 0

    def command(self) -> list[str]:
        (self.dir / "zone.db").write_text(
            f"$TTL 60\n@ SOA localhost. root.localhost. {self.first_serial} {self.refresh} 60 86400 60\n"
            "@ NS localhost.\n"
            + "".join(r + "\n" for r in self.records))
        notify = (f"  notify explicit;\n  also-notify {{ 127.0.0.1 port {self.notify_port} key {self.key}; }};\n"
                  "  notify-source 127.0.0.1;\n" if self.notify_port else "  notify no;\n")
        conf = self.dir / "named.conf"
        conf.write_text(
            f'options {{\n  directory "{self.dir}";\n  pid-file "{self.dir}/named.pid";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n"
            f'  session-keyfile "{self.dir}/session.key";\n  managed-keys-directory "{self.dir}";\n'
            f"  recursion no;\n{notify}  allow-transfer {{ key {self.key}; }};\n}};\n"
            "controls { };\n"
            f'key "{self.key}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};\n'
            f'zone "{self.zone}" {{ type primary; file "zone.db"; allow-update {{ key {self.key}; }}; }};\n')
        return ["named", "-g", "-u", "root", "-c", str(conf)]

    def ready(self) -> bool:
        r = ask(self.port, self.zone, "SOA", timeout=0.3)
        return r is not None and r.rcode() == dns.rcode.NOERROR

    def update(self, add: list[tuple[str, str, str]] = (), delete: list[tuple[str, str, str]] = ()) -> int:  # type: ignore[assignment]
        """Change the zone by a signed dynamic update; the new serial."""
        kr = dns.tsigkeyring.from_text({self.key: ("hmac-sha256", self.secret)})
        u = dns.update.UpdateMessage(self.zone, keyring=kr, keyname=dns.name.from_text(self.key))
        for name, rtype, data in delete:
            u.delete(name, rtype, data)
        for name, rtype, data in add:
            u.add(name, 60, rtype, data)
        r = dns.query.tcp(u, "127.0.0.1", port=self.port, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
        return self.serial()

    def serial(self) -> int:
        r = ask(self.port, self.zone, "SOA", timeout=2.0)
        assert r is not None
        return r.answer[0][0].serial
