"""The real daemon in front of a real Unbound on loopback, over plain DNS and DNS over TLS."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.daemon import addrs, ede
from tests.support.unbound import BIG_TXT_COUNT, Unbound

pytestmark = pytest.mark.integration


def records(r: dns.message.Message) -> set[tuple[str, int, tuple[str, ...]]]:
    return {(rrset.name.to_text(), rrset.rdtype, tuple(sorted(rd.to_text() for rd in rrset))) for rrset in r.answer}


@pytest.fixture
def unbound():
    with Unbound() as ub:
        yield ub


def test_resolves_through_unbound(unbound, make_daemon):
    d = make_daemon(f"127.0.0.1:{unbound.port}")
    assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
    assert addrs(d.query("www.example.test", "AAAA")) == ["2001:db8::10"]
    # every answer is the upstream's answer, record for record
    for name, rdtype in (("chain1.example.test", "A"), ("alias.example.test", "A"), ("mx.example.test", "MX"),
                         ("www.example.test", "AAAA"), ("nope.example.test", "A")):
        direct = dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=unbound.port, timeout=3)
        ours = d.query(name, rdtype)
        assert ours.rcode() == direct.rcode()
        assert records(ours) == records(direct)  # TTLs aside: ours count down
    assert d.query("mx.example.test", "MX").answer[0][0].exchange.to_text() == "mail.example.test."
    assert d.query("txt.example.test", "TXT").answer[0][0].strings == (b"hello from unbound",)
    # negative answers keep the SOA (RFC 2308) and are cached
    r = d.query("nope.example.test")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == dns.rdatatype.SOA
    # big answers: truncated over UDP at the client's size, whole over TCP
    r = d.query("big.example.test", "TXT", payload=1232)
    assert r.flags & dns.flags.TC
    r = d.query("big.example.test", "TXT", tcp=True)
    assert len(r.answer[0]) == BIG_TXT_COUNT


def test_upstream_stopped_servfail_then_stale(unbound, make_daemon):
    d = make_daemon(f"127.0.0.1:{unbound.port}", dns="max_ttl = 1")
    assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
    unbound.stop()
    r = d.query("alias.example.test", timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL  # never NXDOMAIN for a failure
    time.sleep(1.5)  # www expired (max_ttl = 1): served stale
    r = d.query("www.example.test", timeout=5)
    assert addrs(r) == ["192.0.2.10"] and ede(r)[0][0] == 3


def test_dns_over_tls_to_unbound(make_daemon):
    with Unbound(tls=True) as ub:
        d = make_daemon(f"tls://127.0.0.1:{ub.tls_port}#dns.test", dns=f'tls_ca_file = "{ub.ca_file}"')
        for name in ("www.example.test", "alias.example.test", "mx.example.test"):
            assert d.query(name).rcode() == dns.rcode.NOERROR
        assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
        # a wrong certificate name is refused: SERVFAIL, not an answer
        d.stop()
        d2 = make_daemon(f"tls://127.0.0.1:{ub.tls_port}#wrong.test", dns=f'tls_ca_file = "{ub.ca_file}"')
        assert d2.query("www.example.test", timeout=8).rcode() == dns.rcode.SERVFAIL


def test_dns_over_https_to_unbound(make_daemon):
    from tests.support.doh_relay import DohRelay

    with Unbound(tls=True) as ub, DohRelay(("127.0.0.1", ub.port), ub.cert_file, ub.key_file) as relay:
        d = make_daemon(f"https://127.0.0.1:{relay.port}/dns-query#dns.test", dns=f'tls_ca_file = "{ub.ca_file}"')
        for name in ("www.example.test", "alias.example.test", "txt.example.test"):
            assert d.query(name).rcode() == dns.rcode.NOERROR
        assert addrs(d.query("www.example.test", "AAAA")) == ["2001:db8::10"]
        assert relay.accepts == 1  # one kept-alive connection for every query
        assert len(relay.requests) >= 3
