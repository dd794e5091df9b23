"""The sans-IO engine and its stages, driven with wire bytes and a fake clock."""

from __future__ import annotations

import dnslib
import pytest

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.engine import Forward, Send
from dnsfilter.core.feedset import B_SUB, FeedSet, blake_hash, build
from dnsfilter.core.matcher import Matcher
from dnsfilter.core.stages.identify import DeviceRule, Identify


def feed(*names: str) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((blake_hash(n.encode()), B_SUB) for n in names)))


def engine(**over):
    base = {"feeds": [{"name": "ads", "url": "/a", "category": "ads"},
                      {"name": "adult", "url": "/b", "category": "adult"},
                      {"name": "gov", "url": "/c", "category": "authority"}],
            "filter": {"allow": ["ok.ads.test"], "deny": ["bad.test"]},
            "protection": {"always_allow": ["helpline.test"]}}
    base.update(over)
    m = Matcher({"ads": feed("ads.test", "tracker.test"), "adult": feed("adult.test", "helpline.test"),
                 "gov": feed("banned.test", "ok.ads.test")})
    return build_engine(from_dict(base), m)


def q(name: str, qtype: int = 1, qid: int = 7, edns: bool = True) -> bytes:
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=qid, rd=1), q=dnslib.DNSQuestion(name, qtype))
    if edns:
        r.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(r.pack())


def reply_of(actions) -> dnslib.DNSRecord:
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == 1, actions
    return dnslib.DNSRecord.parse(sends[0].wire)


def ede(r: dnslib.DNSRecord) -> tuple[int, str] | None:
    for rr in r.ar:
        if rr.rtype == 41:
            for opt in rr.rdata:
                if opt.code == 15:
                    return int.from_bytes(opt.data[:2], "big"), opt.data[2:].decode()
    return None


def upstream_answer(query: bytes, *zone: str) -> bytes:
    r = dnslib.DNSRecord.parse(query).reply()
    for line in zone:
        r.add_answer(*dnslib.RR.fromZone(line))
    return r.pack()


@pytest.mark.parametrize(("name", "blocked", "code", "text"), [
    ("x.ads.test", True, 15, "ads: on the list ads"),
    ("adult.test", True, 17, "adult: on the list adult"),
    ("banned.test", True, 16, "blocked by the authority list gov"),
    ("ok.ads.test", True, 16, "blocked by the authority list gov"),  # authority beats allow
    ("bad.test", True, 15, "denied by the rule bad.test"),
    ("helpline.test", False, None, None),  # protected from categories
    ("example.org", False, None, None),
])
def test_policy_outcomes(name, blocked, code, text):
    eng = engine()
    actions = eng.on_query(q(name), "192.168.1.2", "c", 0.0)
    if not blocked:
        assert isinstance(actions[0], Forward)
        return
    r = reply_of(actions)
    assert r.header.id == 7 and str(r.rr[0].rdata) == "0.0.0.0" and r.rr[0].ttl == 10
    assert ede(r) == (code, text)


def test_merges_identical_questions_and_answers_each_with_its_id():
    eng = engine()
    a1 = eng.on_query(q("www.example.org", qid=1), "192.168.1.2", "c1", 0.0)
    a2 = eng.on_query(q("www.example.org", qid=2), "192.168.1.3", "c2", 0.0)
    assert len(a1) == 1 and isinstance(a1[0], Forward) and a2 == []
    out = eng.on_upstream(a1[0], upstream_answer(q("www.example.org"), "www.example.org. 60 A 192.0.2.1"), 0.1)
    assert {(s.to, dnslib.DNSRecord.parse(s.wire).header.id) for s in out} == {("c1", 1), ("c2", 2)}
    # now cached, with the TTL counting down
    r = reply_of(eng.on_query(q("www.example.org", qid=3), "192.168.1.2", "c", 10.5))
    assert r.rr[0].ttl == 50


def test_failure_servfail_then_stale():
    eng = engine()
    f = eng.on_query(q("www.example.org"), "192.168.1.2", "c", 0.0)[0]
    r = reply_of(eng.on_upstream(f, None, 1.0, "timeout"))
    assert r.header.rcode == 2 and ede(r)[0] == 23  # SERVFAIL, never NXDOMAIN
    f = eng.on_query(q("www.example.org"), "192.168.1.2", "c", 2.0)[0]
    eng.on_upstream(f, upstream_answer(q("www.example.org"), "www.example.org. 5 A 192.0.2.1"), 2.0)
    f = eng.on_query(q("www.example.org"), "192.168.1.2", "c", 100.0)[0]  # expired: asks again
    r = reply_of(eng.on_upstream(f, None, 101.0, "timeout"))
    assert r.header.rcode == 0 and r.rr[0].ttl == 30 and ede(r)[0] == 3


def test_deep_cname_blocking():
    eng = engine()
    f = eng.on_query(q("cdn.example.org"), "192.168.1.2", "c", 0.0)[0]
    ans = upstream_answer(q("cdn.example.org"), "cdn.example.org. 60 CNAME edge.tracker.test.",
                          "edge.tracker.test. 60 A 192.0.2.66")
    r = reply_of(eng.on_upstream(f, ans, 0.1))
    assert str(r.rr[0].rdata) == "0.0.0.0" and "CNAME to edge.tracker.test" in ede(r)[1]


def test_fast_path_installed_for_udp_not_tcp():
    eng = engine()
    data = q("x.ads.test")
    eng.on_query(data, "192.168.1.2", "c", 0.0)
    assert data[2:] in eng.fast.clients["192.168.1.2"].table
    tcp = q("y.ads.test")
    eng.on_query(tcp, "192.168.1.9", "c", 0.0, tcp=True)
    assert all(tcp[2:] not in t for t in eng.fast.tables.values())


def test_refused_ratelimited_and_invalid():
    eng = engine(dns={"allowed_clients": ["192.168.0.0/16"], "ratelimit_qps": 1, "ratelimit_burst": 3,
                      "ratelimit_exempt": []})
    assert reply_of(eng.on_query(q("x.ads.test"), "8.8.8.8", "c", 0.0)).header.rcode == 5
    codes = [reply_of(eng.on_query(q("x.ads.test"), "192.168.1.2", "c", 0.0)).header.rcode for _ in range(5)]
    assert codes == [0, 0, 0, 5, 5]
    assert reply_of(eng.on_query(q("x.ads.test"), "192.168.1.2", "c", 2.0)).header.rcode == 0  # refilled
    assert eng.on_query(b"\x00\x01", "192.168.1.3", "c", 0.0) == []  # dropped
    bad = bytearray(q("x.test"))
    bad[5] = 2  # QDCOUNT 2
    assert reply_of(eng.on_query(bytes(bad), "192.168.1.3", "c", 0.0)).header.rcode == 1
    assert reply_of(eng.on_query(q("x.test", qtype=252), "192.168.1.3", "c", 0.0)).header.rcode == 5  # AXFR
    v1 = dnslib.DNSRecord.question("x.test")
    v1.add_ar(dnslib.EDNS0(version=1))
    r = eng.on_query(v1.pack(), "192.168.1.3", "c", 0.0)[0]
    assert r.wire[3] & 0xF == 0 and dnslib.DNSRecord.parse(r.wire).ar[0].ttl >> 24 == 1  # BADVERS


def test_prefetch_once_in_last_tenth():
    eng = engine()
    f = eng.on_query(q("www.example.org"), "192.168.1.2", "c", 0.0)[0]
    eng.on_upstream(f, upstream_answer(q("www.example.org"), "www.example.org. 100 A 192.0.2.1"), 0.0)
    assert all(isinstance(a, Send) for a in eng.on_query(q("www.example.org"), "192.168.1.2", "c", 50.0))
    acts = eng.on_query(q("www.example.org"), "192.168.1.2", "c", 95.0)
    assert [type(a).__name__ for a in acts] == ["Send", "Forward"] and acts[1].prefetch
    assert [type(a).__name__ for a in eng.on_query(q("www.example.org"), "192.168.1.2", "c", 96.0)] == ["Send"]


def test_identify_profiles_by_most_specific_device_rule():
    import ipaddress

    ident = Identify(["0.0.0.0/0", "::/0"], [], [DeviceRule(ipaddress.ip_network("192.168.1.0/24"), "Teens"),
                                                 DeviceRule(ipaddress.ip_network("192.168.1.23/32"), "Kids")],
                     "Adults", 10, 10)
    assert ident.client("192.168.1.23", 0.0).profile == "Kids"
    assert ident.client("192.168.1.24", 0.0).profile == "Teens"
    assert ident.client("::ffff:192.168.1.23", 0.0).profile == "Kids"  # IPv4-mapped
    assert ident.client("10.0.0.1", 0.0).profile == "Adults"
    assert ident.client("not-an-ip", 0.0) is None
