"""The real daemon on an ephemeral loopback port, a real scripted upstream, real clients
(dnspython, dig, kdig). Covers forwarding, blocking, local answers, EDNS, TCP and truncation."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.integration.conftest import needs
from tests.support.daemon import REPO, addrs, ede


def test_forwards_and_caches(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    r = d.query("www.example.test", use_edns=0)
    assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.10"]
    assert r.edns == 0 and r.payload == 1232
    assert r.flags & dns.flags.RA
    r6 = d.query("www.example.test", "AAAA")
    assert addrs(r6) == ["2001:db8::10"]
    n = len(upstream.queries("www.example.test"))
    for _ in range(5):
        assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
    assert len(upstream.queries("www.example.test")) == n  # answered from the cache
    # TTLs count down in cached answers
    time.sleep(1.2)
    assert d.query("www.example.test").answer[0].ttl < 300


def test_question_case_is_echoed(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    r = d.query("WwW.ExAmPlE.TeSt")
    assert r.question[0].name.to_text() == "WwW.ExAmPlE.TeSt."
    assert addrs(r) == ["192.0.2.10"]


def test_blocked_null_mode_with_ede(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    for name in ("ads.example.test", "deep.sub.ads.example.test", "x.wild.test", "wild.test"):
        r = d.query(name)
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["0.0.0.0"], name
        assert r.answer[0].ttl == 10
        assert ede(r) == [(15, "ads: on the list ads")]
    assert addrs(d.query("ads.example.test", "AAAA")) == ["::"]
    mx = d.query("ads.example.test", "MX")
    assert mx.rcode() == dns.rcode.NOERROR and not mx.answer
    assert not upstream.queries("ads.example.test")  # never asked upstream
    # a name that only shares a suffix string is not blocked
    assert d.query("notads.example.test").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("batch_io", ["true", "false"])
def test_hot_loop_replays_with_and_without_batched_io(upstream, make_daemon, batch_io):
    """The UDP hot loop has two forms (recvmmsg/sendmmsg where libc has them, recvfrom/sendto
    elsewhere, e.g. an OpenWrt Python without ctypes): both answer first sights (a blocked
    name from its bytes, an allowed one through the cache and upstream) and replay prebuilt
    answers with the asker's ID, and count them in the query log."""
    d = make_daemon(upstream.addr, dns=f"batch_io = {batch_io}")
    for _ in range(2):  # the first answers build the fast-path entries; the rest are replays
        for _n in range(20):
            assert addrs(d.query("ads.example.test")) == ["0.0.0.0"]
            assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
    for n in range(10):  # first sights, each once: blocked from the bytes, allowed through upstream
        assert addrs(d.query(f"n{n}.ads.example.test", "AAAA")) == ["::"]
        assert d.query(f"n{n}.example.test").rcode() == dns.rcode.NXDOMAIN
    ids = set()
    for _n in range(50):
        q = dns.message.make_query("www.example.test", "A")
        r = dns.query.udp(q, "127.0.0.1", port=d.port, timeout=2)
        assert r.id == q.id and addrs(r) == ["192.0.2.10"]
        ids.add(r.id)
    assert len(ids) > 40
    assert len(upstream.queries("www.example.test")) == 1  # everything else from the cache
    # the replays reach the query log (written every few seconds): 40 blocked answers, of which
    # the engine itself decided only the first
    deadline, metrics = time.monotonic() + 20, ""
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-m", "dnsfilter", "ctl", "-c", str(d.config_path), "metrics"],
                             capture_output=True, text=True, timeout=10, cwd=REPO)
        metrics = out.stdout
        if 'dnsfilter_answers_total{outcome="blocked"} 50' in metrics:
            break
        time.sleep(0.5)
    assert 'dnsfilter_answers_total{outcome="blocked"} 50\n' in metrics, metrics
    # decided by the engine: the name's first sight (the client's first query, which makes its
    # slot) and the ten names asked once
    assert 'dnsfilter_engine_answers_total{outcome="blocked"} 11\n' in metrics, metrics
    assert 'dnsfilter_engine_answers_total{outcome="resolved"} 11\n' in metrics, metrics


@pytest.mark.parametrize("batch_io", ["true", "false"])
def test_cache_misses_from_many_clients_at_once(upstream, make_daemon, batch_io):
    """Cache misses asked at once from several sockets: on the batched path the queries one
    loop pass reads go upstream together and the answers released together go out in one call
    per listener; on either path every client gets the answer to its own question with its own
    ID, and a question asked by all at once is asked upstream once."""
    d = make_daemon(upstream.addr, dns=f"batch_io = {batch_io}")
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    try:
        asked: dict[tuple[int, int], str] = {}
        for c, s in enumerate(clients):
            s.settimeout(5)
            for i in range(12):
                name = "www.example.test" if i == 0 else f"m{c}-{i}.example.test"
                q = dns.message.make_query(name, "A")
                asked[(c, q.id)] = name
                s.sendto(q.to_wire(), ("127.0.0.1", d.port))
        got: dict[tuple[int, int], dns.message.Message] = {}
        for c, s in enumerate(clients):
            for _ in range(12):
                r = dns.message.from_wire(s.recv(4096))
                got[(c, r.id)] = r
    finally:
        for s in clients:
            s.close()
    assert got.keys() == asked.keys()
    for key, r in got.items():
        assert r.question[0].name.to_text() == asked[key] + "."
        if asked[key] == "www.example.test":
            assert addrs(r) == ["192.0.2.10"]
        else:
            assert r.rcode() == dns.rcode.NXDOMAIN
    assert len(upstream.queries("www.example.test")) == 1
    assert len(upstream.queries("m7-11.example.test")) == 1


def test_block_modes(upstream, make_daemon):
    d = make_daemon(upstream.addr, dns='block_mode = "nxdomain"')
    assert d.query("tracker.test").rcode() == dns.rcode.NXDOMAIN
    d.stop()
    d2 = make_daemon(upstream.addr, dns='block_mode = "ip:192.0.2.99,2001:db8::99"')
    assert addrs(d2.query("tracker.test")) == ["192.0.2.99"]
    assert addrs(d2.query("tracker.test", "AAAA")) == ["2001:db8::99"]


def test_deny_allow_and_deep_cname(upstream, make_daemon):
    d = make_daemon(upstream.addr, rest='[filter]\nallow = ["ok.ads.example.test"]\ndeny = ["www.example.test"]\n')
    assert addrs(d.query("www.example.test")) == ["0.0.0.0"]
    assert ede(d.query("www.example.test"))[0][1] == "denied by the rule www.example.test"
    assert addrs(d.query("ads.example.test")) == ["0.0.0.0"]
    # allow overrides the list for the allowed name and below
    assert d.query("ok.ads.example.test").rcode() == dns.rcode.NXDOMAIN  # forwarded: upstream has no such name
    # CNAME chain reaching a listed name is blocked
    r = d.query("cdn.example.test")
    assert addrs(r) == ["0.0.0.0"]
    assert "CNAME to edge.tracker.test" in ede(r)[0][1]


def test_local_answers_never_leave(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    assert addrs(d.query("localhost")) == ["127.0.0.1"]
    assert addrs(d.query("foo.localhost", "AAAA")) == ["::1"]
    assert addrs(d.query("dnsfilter.lan")) == ["127.0.0.1"]
    r = d.query("23.1.168.192.in-addr.arpa", "PTR")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == dns.rdatatype.SOA
    assert d.query("5.0.0.10.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN
    assert d.query("1.0.0.127.in-addr.arpa", "PTR").answer[0][0].to_text() == "localhost."
    r = d.query("_dns.resolver.arpa", "SVCB")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert d.query("use-application-dns.net").rcode() == dns.rcode.NXDOMAIN
    assert upstream.seen == []  # nothing above reached the upstream


def test_ecs_never_sent_and_do_bit_passed(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    ecs = dns.edns.ECSOption("192.0.2.0", 24)
    r = d.query("www.example.test", use_edns=0, options=[ecs], want_dnssec=True)
    assert r.rcode() == dns.rcode.NOERROR
    q = upstream.queries("www.example.test")[-1].record
    assert q.header.id != 0
    opt = [rr for rr in q.ar if rr.rtype == 41]
    assert opt and all(o.code != 8 for o in opt[0].rdata)  # no client subnet upstream
    assert opt[0].edns_do  # DO passed upstream
    assert r.ednsflags & dns.flags.DO  # and echoed


def test_dnssec_records_pass_untouched(upstream, make_daemon):
    rrsig = "sig.example.test. 300 RRSIG A 13 3 300 20300101000000 20200101000000 12345 example.test. " \
            "dGhpcyBpcyBhIHNpZ25hdHVyZSB0aGF0IGlzIG5vdCByZWFs"
    upstream.zone["sig.example.test"] = ["sig.example.test. 300 A 192.0.2.12", rrsig]
    d = make_daemon(upstream.addr)
    r = d.query("sig.example.test", want_dnssec=True)
    types = sorted(rrset.rdtype for rrset in r.answer)
    assert types == [dns.rdatatype.A, dns.rdatatype.RRSIG]
    sig = [rrset for rrset in r.answer if rrset.rdtype == dns.rdatatype.RRSIG][0][0]
    assert sig.key_tag == 12345 and sig.signature == b"this is a signature that is not real"


def test_tcp_pipelined_and_truncation(upstream, make_daemon):
    d = make_daemon(upstream.addr)
    # UDP without EDNS: 512 bytes max -> TC=1; TCP gets everything
    r = d.query("big.example.test", "TXT", use_edns=False)
    assert r.flags & dns.flags.TC and not r.answer
    r = d.query("big.example.test", "TXT", tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 8
    # several queries on one connection, written back to back before reading any answer
    names = ["www.example.test", "ads.example.test", "localhost", "mx.example.test"]
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        out = b""
        for i, n in enumerate(names):
            w = dns.message.make_query(n, "A" if n != "mx.example.test" else "MX", id=1000 + i).to_wire()
            out += struct.pack(">H", len(w)) + w
        s.sendall(out)
        got = {}
        f = s.makefile("rb")
        for _ in names:
            size = struct.unpack(">H", f.read(2))[0]
            m = dns.message.from_wire(f.read(size))
            got[m.id] = m
    assert sorted(got) == [1000, 1001, 1002, 1003]
    assert addrs(got[1000]) == ["192.0.2.10"] and addrs(got[1001]) == ["0.0.0.0"]
    assert got[1003].answer[0].rdtype == dns.rdatatype.MX


def test_upstream_tc_retried_over_tcp(upstream, make_daemon):
    upstream.mode = "truncate"
    d = make_daemon(upstream.addr)
    r = d.query("www.example.test", tcp=True)
    assert addrs(r) == ["192.0.2.10"]
    assert {s.transport for s in upstream.queries("www.example.test")} == {"udp", "tcp"}


def test_tcp_idle_timeout_closes(upstream, make_daemon):
    d = make_daemon(upstream.addr, dns="tcp_idle_timeout = 0.5")
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        t0 = time.monotonic()
        assert s.recv(10) == b""  # the server closed the idle connection
        assert time.monotonic() - t0 < 3


def test_dig_and_kdig(upstream, make_daemon):
    needs("dig", "kdig")
    d = make_daemon(upstream.addr)
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(d.port), "ads.example.test", "+time=2", "+tries=1"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "0.0.0.0" in out and "EDE: 15 (Blocked)" in out
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(d.port), "www.example.test", "+tcp", "+short"],
                         capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == "192.0.2.10"
    out = subprocess.run(["kdig", "+tcp", "+keepopen", "+short", "@127.0.0.1", "-p", str(d.port), "www.example.test",
                          "tracker.test"], capture_output=True, text=True, timeout=10).stdout
    assert out.split() == ["192.0.2.10", "0.0.0.0"]


def test_access_control_refuses_others(upstream, make_daemon):
    d = make_daemon(upstream.addr, dns='allowed_clients = ["10.0.0.0/8"]')
    r = d.query("www.example.test")
    assert r.rcode() == dns.rcode.REFUSED
    assert d.query("localhost").rcode() == dns.rcode.REFUSED
    assert not upstream.seen  # never an open resolver, not even for local names


def test_rate_limit_refuses_beyond_burst(upstream, make_daemon):
    d = make_daemon(upstream.addr, dns="ratelimit_qps = 5\nratelimit_burst = 10\nratelimit_exempt = []")
    rcodes = [d.query("ads.example.test").rcode() for _ in range(30)]
    assert rcodes[:10] == [dns.rcode.NOERROR] * 10
    assert dns.rcode.REFUSED in rcodes[10:]
    time.sleep(1.0)  # the bucket refills
    assert d.query("ads.example.test").rcode() == dns.rcode.NOERROR
    assert "over the rate limit" in d.log()


def test_ipv6_listener_udp_and_tcp(upstream, make_daemon):
    d = make_daemon(upstream.addr, start=False)
    p = d.port
    d.write_config(d.config_path.read_text().replace(f'listen = ["127.0.0.1:{p}"]', f'listen = ["127.0.0.1:{p}", "[::1]:{p}"]'))
    d.start()
    for tcp in (False, True):
        q = dns.message.make_query("www.example.test", "AAAA")
        fn = dns.query.tcp if tcp else dns.query.udp
        r = fn(q, "::1", port=d.port, timeout=3)
        assert addrs(r) == ["2001:db8::10"]
    assert addrs(d.query("dnsfilter.lan", "A")) == ["127.0.0.1"]
    r = dns.query.udp(dns.message.make_query("dnsfilter.lan", "AAAA"), "::1", port=d.port, timeout=3)
    assert addrs(r) == ["::1"]  # the appliance's own name: the address the query came in on


def test_feed_by_file_url_and_hosts_format(upstream, make_daemon, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("127.0.0.1 localhost\n0.0.0.0 0.0.0.0\n0.0.0.0 tracker.example.test other.example.test # x\n")
    d = make_daemon(upstream.addr, start=False)
    text = d.config_path.read_text().replace('format = "domains"', 'format = "auto"')
    text = text.replace(f'url = "{tmp_path / "block.txt"}"', f'url = "file://{hosts}"')
    d.write_config(text)
    d.start()
    assert addrs(d.query("a.tracker.example.test")) == ["0.0.0.0"]
    assert addrs(d.query("other.example.test")) == ["0.0.0.0"]
    assert d.query("localhost").answer[0][0].to_text() == "127.0.0.1"  # the hosts preamble is not a block
