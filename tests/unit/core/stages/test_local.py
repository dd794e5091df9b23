"""dnsfilter.core.stages.local: names the appliance answers itself."""

from __future__ import annotations

import dnslib
import pytest

from dnsfilter.core.dns.wire import parse_query
from dnsfilter.core.model import Outcome
from dnsfilter.core.stages.local import LocalZones

Z = LocalZones("dnsfilter.lan")


def ask(name: str, qtype: str = "A", qclass: str = "IN", local_addr: str | None = "192.168.1.1"):
    data = bytes(dnslib.DNSRecord.question(name, qtype, qclass).pack())
    q = parse_query(data)
    got = Z.answer(q, local_addr, q.max_udp())
    if got is None:
        return None
    out, outcome, reason = got
    r = dnslib.DNSRecord.parse(out)
    assert r.header.id == q.id and r.header.qr == 1 and str(r.q.qname).rstrip(".") == name.rstrip(".")
    assert outcome is Outcome.LOCAL
    return r, reason


@pytest.mark.parametrize(("name", "qtype", "want"), [
    ("localhost", "A", "127.0.0.1"), ("localhost", "AAAA", "::1"), ("LocalHost", "A", "127.0.0.1"),
    ("foo.localhost", "A", "127.0.0.1"), ("a.b.localhost.", "AAAA", "::1"),
    ("localhost", "MX", None), ("localhost", "HTTPS", None), ("localhost", "TXT", None),
])
def test_localhost(name, qtype, want):
    r, reason = ask(name, qtype)
    assert r.header.rcode == 0 and r.header.aa == 1 and reason.text == "localhost"
    if want is None:
        assert r.rr == []
    else:
        assert [str(x.rdata) for x in r.rr] == [want] and r.rr[0].ttl > 0


@pytest.mark.parametrize("name", ["notlocalhost", "localhost.example", "xlocalhost.com", "localhostx"])
def test_localhost_only_on_label_boundaries(name):
    assert ask(name) is None


@pytest.mark.parametrize(("local_addr", "qtype", "want"), [
    ("192.168.1.1", "A", ["192.168.1.1"]), ("192.168.1.1", "AAAA", []),
    ("fd00::53", "AAAA", ["fd00::53"]), ("fd00::53", "A", []),
    ("0.0.0.0", "A", []), ("::", "AAAA", []), (None, "A", []),
])
def test_own_name(local_addr, qtype, want):
    r, _ = ask("DNSFilter.lan", qtype, local_addr=local_addr)
    assert r.header.rcode == 0 and r.header.aa == 1
    assert [str(x.rdata) for x in r.rr] == want


def test_names_below_the_own_name_are_not_local():
    assert ask("printer.dnsfilter.lan") is None
    assert ask("lan") is None


@pytest.mark.parametrize(("name", "qtype", "rcode", "zone"), [
    ("5.1.168.192.in-addr.arpa", "PTR", 3, "168.192.in-addr.arpa"),
    ("1.0.0.10.in-addr.arpa", "PTR", 3, "10.in-addr.arpa"),
    ("9.9.16.172.in-addr.arpa", "PTR", 3, "16.172.in-addr.arpa"),
    ("9.9.31.172.in-addr.arpa", "PTR", 3, "31.172.in-addr.arpa"),
    ("1.2.64.100.in-addr.arpa", "PTR", 3, "64.100.in-addr.arpa"),
    ("1.2.127.100.in-addr.arpa", "PTR", 3, "127.100.in-addr.arpa"),
    ("4.3.254.169.in-addr.arpa", "PTR", 3, "254.169.in-addr.arpa"),
    ("9.0.0.127.in-addr.arpa", "PTR", 3, "127.in-addr.arpa"),
    ("1.2.0.192.in-addr.arpa", "PTR", 3, "2.0.192.in-addr.arpa"),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "PTR", 3, "d.f.ip6.arpa"),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa", "PTR", 3, "8.e.f.ip6.arpa"),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR", 3, "8.b.d.0.1.0.0.2.ip6.arpa"),
    ("168.192.in-addr.arpa", "PTR", 0, "168.192.in-addr.arpa"),  # the apex exists: NODATA
    ("168.192.in-addr.arpa", "NS", 0, "168.192.in-addr.arpa"),
])
def test_rfc6303_reverse_zones(name, qtype, rcode, zone):
    r, reason = ask(name, qtype)
    assert r.header.rcode == rcode and r.header.aa == 1 and r.rr == []
    assert len(r.auth) == 1 and r.auth[0].rtype == dnslib.QTYPE.SOA and str(r.auth[0].rname) == zone + "."
    assert r.auth[0].ttl == r.auth[0].rdata.times[-1] > 0
    assert reason.rule == zone


def test_rfc6303_apex_soa_and_loopback_ptr():
    r, _ = ask("10.in-addr.arpa", "SOA")
    assert r.header.rcode == 0 and len(r.rr) == 1 and r.rr[0].rtype == dnslib.QTYPE.SOA
    r, _ = ask("1.0.0.127.in-addr.arpa", "PTR")
    assert r.header.rcode == 0 and [str(x.rdata) for x in r.rr] == ["localhost."]
    r, _ = ask("1." + "0." * 31 + "ip6.arpa", "PTR")
    assert [str(x.rdata) for x in r.rr] == ["localhost."]


@pytest.mark.parametrize("name", [
    "8.8.8.8.in-addr.arpa", "1.32.172.in-addr.arpa", "1.15.172.in-addr.arpa", "1.1.128.100.in-addr.arpa",
    "1.1.63.100.in-addr.arpa", "in-addr.arpa", "172.in-addr.arpa", "arpa", "1.1.168.193.in-addr.arpa",
    "8.8.8.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.6.8.4.0.6.8.4.1.0.0.2.ip6.arpa",
    "xd.f.ip6.arpa", "1.0.0.127.in-addr.arpa.example",
])
def test_public_reverse_names_are_not_local(name):
    assert ask(name, "PTR") is None


@pytest.mark.parametrize(("name", "qtype"), [("resolver.arpa", "SVCB"), ("_dns.resolver.arpa", "SVCB"),
                                             ("resolver.arpa", "A")])
def test_resolver_arpa_is_nodata(name, qtype):
    r, _ = ask(name, qtype)
    assert r.header.rcode == 0 and r.rr == []


@pytest.mark.parametrize("name", ["use-application-dns.net", "Use-Application-DNS.net", "x.use-application-dns.net"])
def test_firefox_canary_is_nxdomain(name):
    r, _ = ask(name)
    assert r.header.rcode == 3 and r.rr == []


def test_canary_label_boundary():
    assert ask("notuse-application-dns.net") is None


@pytest.mark.parametrize("qclass", ["CH", "Hesiod"])
def test_other_classes_are_not_answered_locally(qclass):
    assert ask("localhost", "A", qclass) is None
    assert ask("5.1.168.192.in-addr.arpa", "PTR", qclass) is None


def test_class_any_is_answered_locally_too():
    # Class ANY must not carry local names (or private PTR lookups) to the upstreams.
    r, _ = ask("localhost", "A", "*")
    assert str(r.rr[0].rdata) == "127.0.0.1"
    r, _ = ask("5.1.168.192.in-addr.arpa", "PTR", "*")
    assert r.header.rcode == 3


def test_ordinary_names_pass():
    assert ask("www.example.com") is None
    assert ask(".") is None


@pytest.mark.parametrize("name", [
    "localhost", "a.localhost", "resolver.arpa", "1.0.0.127.in-addr.arpa", "10.in-addr.arpa", "arpa",
    "use-application-dns.net", "x.use-application-dns.net", "example.net", "dnsfilter.lan", "a.dnsfilter.lan",
    "example.com", "localhost.example.com", "arpa.example", "net", "",
])
def test_owns_with_the_last_label_offset_answers_as_without(name: str) -> None:
    """The UDP loop passes the offset of the name's last label (a set lookup first): the same
    answer as the suffix test alone, for every kind of name the appliance answers or not."""
    q = parse_query(bytes(dnslib.DNSRecord.question(name or ".").pack()))
    starts = []
    i = 0
    while q.qname[i]:
        starts.append(i)
        i += q.qname[i] + 1
    assert Z.owns(q.qname, starts[-1] if starts else 0) == Z.owns(q.qname)
    assert Z.owns(q.qname) == (Z.answer(q, "192.168.1.1", 512) is not None or q.qname == Z.hostname
                               or name.endswith(("arpa", "use-application-dns.net")))
