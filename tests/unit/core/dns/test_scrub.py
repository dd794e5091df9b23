"""Scrubbing upstream answers (core/dns/scrub.py): what stays is the question's answer chain and
the records relevant to it; the rest is dropped before the cache and the client see it."""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rrset

from dnsfilter.core.cache import Cache, cache_key
from dnsfilter.core.dns import scrub, wire
from tests.support.engine import ask, forwards, make, q, reply_of

REGRESSIONS = Path(__file__).resolve().parents[3] / "fuzz" / "regressions" / "upstream"


def answer(qname: str, qtype: str = "A", an: tuple[str, ...] = (), ns: tuple[str, ...] = (),
           ar: tuple[str, ...] = (), rcode: int = 0, do: bool = False) -> bytes:
    query = dns.message.make_query(qname, qtype, use_edns=0, want_dnssec=do)
    r = dns.message.make_response(query)
    r.set_rcode(rcode)
    for section, lines in ((r.answer, an), (r.authority, ns), (r.additional, ar)):
        for line in lines:
            name, ttl, *rest = line.split(None, 3)
            rclass, rtype, rdata = ("IN", *rest) if rest[0] != "CH" else tuple(rest[:1]) + tuple(rest[1].split(None, 1))
            section.append(dns.rrset.from_text(name, int(ttl), rclass, rtype, rdata))
    return r.to_wire(max_size=65535)


def scrubbed(data: bytes) -> tuple[bytes, dns.message.Message]:
    out = scrub.scrub(data, wire.parse_response(data))
    return out, dns.message.from_wire(out)


def texts(m: dns.message.Message) -> list[set[str]]:
    return [{f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}" for rrset in section}
            for section in (m.answer, m.authority, m.additional)]


def test_a_clean_answer_is_the_same_object() -> None:
    data = answer("www.example.test", an=("www.example.test. 300 A 192.0.2.1",),
                  ns=("example.test. 300 NS ns1.example.test.",), ar=("ns1.example.test. 300 A 192.0.2.53",))
    assert scrub.scrub(data, wire.parse_response(data)) is data


def test_unrelated_records_are_dropped_from_every_section() -> None:
    data = answer("x.test", an=("x.test. 300 A 192.0.2.1", "victim-an.other. 300 A 6.6.6.6"),
                  ns=("other. 300 NS ns.evil.", "evil. 300 SOA ns.evil. h.evil. 1 2 3 4 5"),
                  ar=("ns.evil. 300 A 6.6.6.6", "victim-ar.other. 300 A 6.6.6.6"))
    out, m = scrubbed(data)
    assert texts(m) == [{"x.test. A"}, set(), set()]
    assert m.id == dns.message.from_wire(data).id and m.flags == dns.message.from_wire(data).flags
    assert m.edns == 0  # the OPT record stays
    assert m.answer[0].ttl == 300 and [rd.to_text() for rd in m.answer[0]] == ["192.0.2.1"]


def test_the_cname_chain_is_kept_in_any_order_and_only_it() -> None:
    data = answer("www.a.test", an=("c.z.test. 60 A 192.0.2.3", "b.y.test. 300 CNAME c.z.test.",
                                    "www.a.test. 300 CNAME b.y.test.", "d.z.test. 60 A 6.6.6.6",
                                    "www.a.test. 300 TXT \"not asked\""),
                  ns=("z.test. 300 NS ns1.z.test.", "y.test. 300 NS ns1.y.test.", "q.test. 300 NS ns.q.test."),
                  ar=("ns1.z.test. 300 A 192.0.2.53", "ns.q.test. 300 A 6.6.6.6"))
    _out, m = scrubbed(data)
    assert texts(m) == [{"c.z.test. A", "b.y.test. CNAME", "www.a.test. CNAME"},
                        {"z.test. NS", "y.test. NS"}, {"ns1.z.test. A"}]


def test_a_dname_leads_the_chain_with_its_signature() -> None:
    data = answer("www.a.example", an=(
        "example. 300 DNAME example.net.",
        "example. 300 RRSIG DNAME 13 1 300 20300101000000 20200101000000 1 example. AAAA",
        "www.a.example. 300 CNAME www.a.example.net.", "www.a.example.net. 300 A 192.0.2.7",
        "elsewhere.example.net. 300 A 6.6.6.6"))
    _out, m = scrubbed(data)
    assert texts(m)[0] == {"example. DNAME", "example. RRSIG", "www.a.example. CNAME", "www.a.example.net. A"}


def test_a_dname_alone_is_followed() -> None:
    data = answer("www.a.example", an=("example. 300 DNAME example.net.", "www.a.example.net. 300 A 192.0.2.7",
                                       "www.b.example.net. 300 A 6.6.6.6"))
    _out, m = scrubbed(data)
    assert texts(m)[0] == {"example. DNAME", "www.a.example.net. A"}


def test_negative_answers_keep_their_zone_and_its_proofs() -> None:
    soa = "example.test. 300 SOA ns.example.test. h.example.test. 1 7200 3600 1209600 300"
    data = answer("nope.example.test", rcode=dns.rcode.NXDOMAIN, do=True, ns=(
        soa, "other.test. 300 SOA ns.other.test. h.other.test. 1 2 3 4 5",
        "mop.example.test. 300 NSEC pop.example.test. A RRSIG NSEC",
        "mop.example.test. 300 RRSIG NSEC 13 3 300 20300101000000 20200101000000 1 example.test. AAAA",
        "victim.other. 300 NSEC zz.other. A", "victim.other. 300 A 6.6.6.6"))
    _out, m = scrubbed(data)
    assert m.rcode() == dns.rcode.NXDOMAIN
    assert texts(m)[1] == {"example.test. SOA", "mop.example.test. NSEC", "mop.example.test. RRSIG"}


def test_a_signed_wildcard_answer_keeps_its_proof() -> None:
    sig = "x.w.example.test. 300 RRSIG A 13 3 300 20300101000000 20200101000000 1 example.test. AAAA"
    data = answer("x.w.example.test", do=True, an=("x.w.example.test. 300 A 192.0.2.9", sig),
                  ns=("v.example.test. 300 NSEC z.example.test. A RRSIG NSEC", "a.other. 300 NSEC b.other. A"))
    _out, m = scrubbed(data)
    assert texts(m) == [{"x.w.example.test. A", "x.w.example.test. RRSIG"}, {"v.example.test. NSEC"}, set()]


def test_additional_addresses_only_for_the_names_pointed_at() -> None:
    data = answer("example.test", "MX", an=("example.test. 300 MX 10 mail.example.test.",),
                  ar=("mail.example.test. 300 A 192.0.2.25", "mail.example.test. 300 AAAA 2001:db8::25",
                      "mail.example.test. 300 TXT \"x\"", "www.bank.test. 300 A 6.6.6.6"))
    _out, m = scrubbed(data)
    assert texts(m)[2] == {"mail.example.test. A", "mail.example.test. AAAA"}
    data = answer("svc.test", "HTTPS", an=("svc.test. 300 HTTPS 1 . alpn=h2",),
                  ar=("svc.test. 300 A 192.0.2.8", "x.test. 300 A 6.6.6.6"))
    _out, m = scrubbed(data)
    assert texts(m)[2] == {"svc.test. A"}  # TargetName "." is the owner itself


def test_records_of_another_class_are_dropped() -> None:
    data = answer("www.example.test", an=("www.example.test. 300 A 192.0.2.1", "www.example.test. 300 CH A ns. 1"))
    _out, m = scrubbed(data)
    assert [rrset.rdclass for rrset in m.answer] == [dns.rdataclass.IN]


def test_a_long_chain_in_reverse_order() -> None:
    n = 60
    chain = [f"c{i}.test. 300 CNAME c{i + 1}.test." for i in range(n)] + [f"c{n}.test. 300 A 192.0.2.1"]
    data = answer("c0.test", an=tuple(reversed(chain)) + ("x.test. 300 A 6.6.6.6",))
    _out, m = scrubbed(data)
    assert len(m.answer) == n + 1 and "x.test. A" not in texts(m)[0]


def test_a_name_that_reads_a_ttl_field_is_written_out() -> None:
    """The fuzzer's find: an owner name whose compression pointer runs through another record's
    TTL bytes; counting TTLs down in the cache then changed the name and broke the reply."""
    data = (REGRESSIONS / "name-reads-a-ttl-field").read_bytes()[1:]
    r = wire.parse_response(data)
    out = scrub.scrub(data, r)
    assert out is not data
    r2 = wire.parse_response(out)
    cache = Cache()
    e = cache.make_entry(out, r2, 0.0)
    for now in (0.0, 5.0, 4000.0):  # the TTLs counted down and clamped: every name still reads
        body = e.render(now)
        wire.parse_response(wire.header(0, wire.F_QR, 1, *e.counts) + out[12:r2.question_end] + body)
    assert [wire.record_name(out, x) for x in r2.records] == [wire.record_name(data, x) for x in r.records]


def test_a_name_that_points_into_the_header_is_dropped() -> None:
    """The fuzzer's find: an NS target `ns1` + a pointer to offset 0 reads the upstream's header
    as a label; our reply has its own ID and flags there, so a client could not read it. The
    record goes (no name starts in a header), the rest of the answer stays readable."""
    data = (REGRESSIONS / "ns-target-pointing-into-the-header").read_bytes()[1:]
    r = wire.parse_response(data)
    out = scrub.scrub(data, r)
    assert out is not data and not wire.parse_response(out).records
    reply = wire.header(0x4242, wire.F_QR | wire.F_RD, 1, 0, 0, 1) + out[12:]
    dns.message.from_wire(reply)  # the client's view


def test_the_engine_caches_and_answers_the_scrubbed_answer() -> None:
    eng = make()
    acts = ask(eng, q("x.test"), 0.0)
    [fwd] = forwards(acts)
    data = answer("x.test", an=("x.test. 300 A 192.0.2.1", "victim.other. 0 A 6.6.6.6"),
                  ar=("victim-ar.other. 300 A 6.6.6.6",))
    reply = reply_of(eng.on_upstream(fwd, data, 0.0))
    assert [str(rr.rname) for rr in reply.rr] == ["x.test."] and not [rr for rr in reply.ar if rr.rtype != 41]
    assert eng.stats.scrubbed == 1
    e = eng.cache.get(cache_key(wire.text_to_wire("x.test"), 1, 1, False, False), 1.0)
    assert e is not None and e.ttl == 300  # the injected TTL 0 did not make it uncacheable
    assert b"victim" not in e.body
    again = reply_of(ask(eng, q("x.test"), 1.0))  # from the cache
    assert [str(rr.rname) for rr in again.rr] == ["x.test."]
