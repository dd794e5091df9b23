"""Forced DNS end to end, in three network namespaces joined by veths:

    client (10.232.0.2, fd00:232::2) ── router (dnsfilter on :5399, the rules) ── "internet"

The "internet" namespace holds a made-up resolver, 198.18.0.53 / 2001:db8:53::53, that answers
every name with 192.0.2.99 and echoes on 853, and a made-up DoH resolver at 198.18.0.44 /
2001:db8:53::44 listening on 443. They exist only inside this test. Before the rules, the
client reaches all of them; with the rules, its port-53 queries get dnsfilter's answers, 853 is
refused at once and 443 to the DoH addresses goes unanswered; after removal, all is as before.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.daemon import REPO
from tests.support.netns import address, in_ns, link, namespaces, run, unique

pytestmark = pytest.mark.integration
PORT = 5399
RESOLVER4, RESOLVER6 = "198.18.0.53", "2001:db8:53::53"
DOH4, DOH6 = "198.18.0.44", "2001:db8:53::44"

INTERNET = textwrap.dedent("""
    import socket, threading
    import dns.message, dns.rrset

    def answer(data):
        q = dns.message.from_wire(data); r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.99"))
        return r.to_wire()

    def dns_udp(s):
        while True:
            data, peer = s.recvfrom(4096)
            s.sendto(answer(data), peer)

    def dns_tcp(s):
        while True:
            c = s.accept()[0]
            with c, c.makefile("rb") as f:
                size = int.from_bytes(f.read(2), "big")
                wire = answer(f.read(size))
                c.sendall(len(wire).to_bytes(2, "big") + wire)

    def echo_udp(s):
        while True:
            data, peer = s.recvfrom(4096); s.sendto(data, peer)

    def accept_tcp(s):
        while True:
            s.accept()[0].close()

    def bound(fam, kind, addr, port):  # bound before "ready" is printed: no race with the test
        s = socket.socket(fam, kind); s.bind((addr, port))
        if kind == socket.SOCK_STREAM:
            s.listen(16)
        return s

    U, T = socket.SOCK_DGRAM, socket.SOCK_STREAM
    jobs = []
    for fam, res, doh in ((socket.AF_INET, "%(r4)s", "%(d4)s"), (socket.AF_INET6, "%(r6)s", "%(d6)s")):
        jobs += [(dns_udp, bound(fam, U, res, 53)), (dns_tcp, bound(fam, T, res, 53)),
                 (echo_udp, bound(fam, U, res, 853)), (accept_tcp, bound(fam, T, res, 853)),
                 (accept_tcp, bound(fam, T, doh, 443))]
    for fn, sock in jobs:
        threading.Thread(target=fn, args=(sock,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
""") % {"r4": RESOLVER4, "r6": RESOLVER6, "d4": DOH4, "d6": DOH6}

PROBE = textwrap.dedent("""
    import json, socket
    import dns.edns, dns.message, dns.query

    def ask(server, name, tcp):
        q = dns.message.make_query(name, "A", use_edns=0)
        try:
            r = (dns.query.tcp if tcp else dns.query.udp)(q, server, port=53, timeout=2)
        except Exception as e:
            return type(e).__name__
        ede = [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)]
        return " ".join([rd.to_text() for rr in r.answer for rd in rr] + [f"EDE{c}" for c in ede])

    def fam(host):
        return socket.AF_INET6 if ":" in host else socket.AF_INET

    def tcp(host, port):
        with socket.socket(fam(host), socket.SOCK_STREAM) as s:
            s.settimeout(1.5)
            try:
                s.connect((host, port))
                return "open"
            except ConnectionRefusedError:
                return "refused"
            except (TimeoutError, socket.timeout):
                return "timeout"

    def udp(host, port):
        with socket.socket(fam(host), socket.SOCK_DGRAM) as s:
            s.settimeout(1.5)
            s.connect((host, port))
            s.send(b"hello")
            try:
                return "echo" if s.recv(100) == b"hello" else "other"
            except ConnectionRefusedError:
                return "refused"
            except (TimeoutError, socket.timeout):
                return "timeout"

    out = {}
    for r in ("%(r4)s", "%(r6)s"):
        out[f"dns {r} allowed"] = ask(r, "www.example.test", False)
        out[f"dns {r} blocked"] = ask(r, "ads.blocked.test", False)
        out[f"dns-tcp {r} blocked"] = ask(r, "ads.blocked.test", True)
        out[f"dot {r}"] = tcp(r, 853)
        out[f"doq {r}"] = udp(r, 853)
    for d in ("%(d4)s", "%(d6)s"):
        out[f"doh {d}"] = tcp(d, 443)
    print(json.dumps(out))
""") % {"r4": RESOLVER4, "r6": RESOLVER6, "d4": DOH4, "d6": DOH6}


@dataclass
class Net:
    client: str
    router: str
    internet: str
    lan_if: str


@pytest.fixture
def net() -> Iterator[Net]:
    with namespaces("client", "router", "internet", needs=("nft",)) as ns:
        n = Net(ns["client"], ns["router"], ns["internet"], unique("fl"))
        client_if, wan_if, internet_if = unique("fc"), unique("fw"), unique("fi")
        link(n.router, n.lan_if, n.client, client_if)
        link(n.router, wan_if, n.internet, internet_if)
        address(n.client, client_if, "10.232.0.2/24", "fd00:232::2/64")
        address(n.router, n.lan_if, "10.232.0.1/24", "fd00:232::1/64")
        address(n.router, wan_if, "198.18.0.1/24", "2001:db8:53::1/64")
        address(n.internet, internet_if, f"{RESOLVER4}/24", f"{DOH4}/24", f"{RESOLVER6}/64", f"{DOH6}/64")
        for host, gw4, gw6 in ((n.client, "10.232.0.1", "fd00:232::1"), (n.internet, "198.18.0.1", "2001:db8:53::1")):
            run("ip", "-n", host, "route", "add", "default", "via", gw4)
            run("ip", "-n", host, "-6", "route", "add", "default", "via", gw6)
        in_ns(n.router, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        settle(n)
        yield n


def settle(n: Net, limit: float = 10.0) -> None:
    """Wait out IPv6 duplicate-address detection on the link-local addresses: "nodad" covers only
    the ones we add, and a tentative fe80:: on a router link once lost the first v6 query in CI."""
    deadline = time.monotonic() + limit
    for ns in (n.client, n.router, n.internet):
        while run("ip", "-n", ns, "-6", "addr", "show", "tentative").stdout.strip():
            assert time.monotonic() < deadline, run("ip", "-n", ns, "-6", "addr", "show").stdout
            time.sleep(0.1)


def reachable(n: Net, limit: float = 10.0) -> None:
    """Both families reach the made-up resolver straight from the client before anything is measured:
    the first packets over a fresh namespace link wait on neighbour discovery."""
    deadline = time.monotonic() + limit
    while True:
        got = probe(n)
        if all(got[f"dns {r} allowed"] == "192.0.2.99" for r in (RESOLVER4, RESOLVER6)):
            return
        assert time.monotonic() < deadline, got
        time.sleep(0.2)


def probe(n: Net) -> dict[str, str]:
    out = in_ns(n.client, sys.executable, "-c", PROBE, timeout=60)
    return json.loads(out.stdout)


def dnsfilter(n: Net, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return in_ns(n.router, sys.executable, "-m", "dnsfilter", *args, check=check, cwd=REPO)


def expect(results: dict[str, str], **by_kind: str) -> None:
    """Each result, over both families: "dns-tcp 198.18.0.53 blocked" is checked against dns_tcp_blocked."""
    for key, got in results.items():
        words = key.replace("-", "_").split()
        assert got == by_kind["_".join(words[:1] + words[2:])], (key, results)


def test_lan_clients_cannot_bypass_dnsfilter(net: Net, tmp_path: Path) -> None:
    doh_list = tmp_path / "doh.txt"
    doh_list.write_text(f"# made-up DoH resolvers\n{DOH4}\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(f"""
        [dns]
        listen = ["10.232.0.1:{PORT}", "[fd00:232::1]:{PORT}"]
        upstreams = ["{RESOLVER4}"]
        upstream_timeout = 1.0

        [filter]
        deny = ["blocked.test"]

        [storage]
        data_dir = "{tmp_path / "var"}"

        [firewall]
        interfaces = ["{net.lan_if}"]
        doh_addresses = []
        doh_list = "{doh_list}"
    """))
    internet = subprocess.Popen(["ip", "netns", "exec", net.internet, sys.executable, "-c", INTERNET],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen(["ip", "netns", "exec", net.router, sys.executable, "-m", "dnsfilter", "serve", "-c",
                               str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        assert internet.stdout is not None and internet.stdout.readline().strip() == "ready", internet.stderr
        deadline = time.monotonic() + 20
        while "ready: answering" not in (tmp_path / "daemon.log").read_text(errors="replace"):
            assert daemon.poll() is None and time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.05)

        # no rules: everything reaches the made-up internet
        reachable(net)
        expect(probe(net), dns_allowed="192.0.2.99", dns_blocked="192.0.2.99", dns_tcp_blocked="192.0.2.99",
               dot="open", doq="echo", doh="open")

        dnsfilter(net, "firewall", "apply", "-c", str(cfg))
        first = in_ns(net.router, "nft", "list", "table", "inet", "dnsfilter").stdout
        dnsfilter(net, "firewall", "apply", "-c", str(cfg))  # idempotent: replaced, not doubled
        assert in_ns(net.router, "nft", "list", "table", "inet", "dnsfilter").stdout == first
        # the DoH set is refilled from the list without reloading the table
        doh_list.write_text(f"{DOH4}\n{DOH6}\n")
        dnsfilter(net, "firewall", "refresh", "-c", str(cfg))
        assert DOH6 in in_ns(net.router, "nft", "list", "set", "inet", "dnsfilter", "doh6").stdout

        # port 53 of any address is dnsfilter (whose upstream, the same made-up resolver, is not
        # redirected: allowed names still resolve); 853 is refused; the DoH addresses are dropped
        expect(probe(net), dns_allowed="192.0.2.99", dns_blocked="0.0.0.0 EDE15", dns_tcp_blocked="0.0.0.0 EDE15",
               dot="refused", doq="refused", doh="timeout")

        dnsfilter(net, "firewall", "remove", "-c", str(cfg))
        dnsfilter(net, "firewall", "remove")  # nothing left: still fine
        assert "dnsfilter" not in in_ns(net.router, "nft", "list", "tables").stdout
        expect(probe(net), dns_allowed="192.0.2.99", dns_blocked="192.0.2.99", dns_tcp_blocked="192.0.2.99",
               dot="open", doq="echo", doh="open")
    finally:
        for p in (daemon, internet):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def test_refresh_without_the_table_says_so(net: Net, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[firewall]\ninterfaces = ["{net.lan_if}"]\n')
    out = dnsfilter(net, "firewall", "refresh", "-c", str(cfg), check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == ("dnsfilter: the dnsfilter table is not loaded: "
                                  "run `dnsfilter firewall apply` first")


def test_apply_refuses_rules_nothing_would_answer(net: Net, tmp_path: Path) -> None:
    """The redirect sends a LAN packet to dnsfilter's port on the LAN interface's address: a
    config that listens only on loopback (what install.sh --firewall once wrote) would turn
    every LAN query into "connection refused", so the rules are not loaded."""
    cfg = tmp_path / "config.toml"
    for listen in ('["127.0.0.1:5399", "[::1]:5399"]', '["198.18.0.1:5399"]'):  # loopback; the WAN's address
        cfg.write_text(f'[dns]\nlisten = {listen}\n[firewall]\ninterfaces = ["{net.lan_if}"]\n')
        out = dnsfilter(net, "firewall", "apply", "-c", str(cfg), check=False)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert f"LAN DNS on {net.lan_if} would be redirected to port 5399" in out.stderr
        assert f'add "{net.lan_if}:5399"' in out.stderr
        assert "dnsfilter" not in in_ns(net.router, "nft", "list", "tables").stdout
    # by interface name, by the interface's own address, or every address: loaded
    for listen in (f'["{net.lan_if}:5399", "127.0.0.1:5399"]', '["10.232.0.1:5399"]', '["0.0.0.0:5399"]'):
        cfg.write_text(f'[dns]\nlisten = {listen}\n[firewall]\ninterfaces = ["{net.lan_if}"]\n')
        dnsfilter(net, "firewall", "apply", "-c", str(cfg))
        assert "dnsfilter" in in_ns(net.router, "nft", "list", "tables").stdout
        dnsfilter(net, "firewall", "remove")
