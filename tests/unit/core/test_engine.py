"""dnsfilter.core.engine driven end to end: a config, compiled feeds, wire queries in, and
hand-built upstream answers (dnslib) fed back through on_upstream. `now` is a plain float."""

from __future__ import annotations

import dnslib
import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.engine import Forward
from dnsfilter.core.fastpath import restamp
from dnsfilter.core.model import list_version
from tests.support.engine import (
    CLIENT,
    ask,
    compiled,
    ede,
    forwards,
    make,
    opt,
    q,
    reply_of,
    resolve,
    sends,
    upstream,
)

# the harness's authority list, named with its version in EDE 16 (assemble.feed_infos)
GOV = f"blocked by the authority list gov version {list_version(compiled('banned.test').digest)}"

# ---------------------------------------------------------------- blocking


@pytest.mark.parametrize(("name", "code", "text"), [
    ("ads.test", 15, "ads: on the list ads"),
    ("x.y.tracker.test", 15, "ads: on the list ads"),
    ("adult.test", 17, "adult: on the list adult"),
    ("www.banned.test", 16, GOV),
    ("denied.test", 15, "denied by the rule denied.test"),
])
@pytest.mark.parametrize(("qtype", "answer"), [(1, "0.0.0.0"), (28, "::"), (65, None)])
def test_blocked_names_get_a_sinkhole_with_ede(name, code, text, qtype, answer):
    eng = make()
    r = reply_of(ask(eng, q(name.upper(), qtype, qid=0x3344, do=True)))
    assert r.header.id == 0x3344 and r.header.rcode == 0 and r.header.qr == 1 and r.header.rd == 1
    assert str(r.q.qname) == name.upper() + "."
    if answer is None:
        assert r.rr == []
    else:
        assert [str(x.rdata) for x in r.rr] == [answer] and r.rr[0].ttl == 10
    assert ede(r) == (code, text)
    assert opt(r).edns_do
    assert eng.stats.outcomes["blocked"] == 1


def test_block_mode_nxdomain():
    eng = make({"block_mode": "nxdomain"})
    r = reply_of(ask(eng, q("ads.test")))
    assert r.header.rcode == 3 and r.rr == [] and ede(r) == (15, "ads: on the list ads")


def test_block_mode_ip():
    eng = make({"block_mode": "ip:192.0.2.9,2001:db8::9", "block_ttl": 60})
    assert [str(x.rdata) for x in reply_of(ask(eng, q("ads.test", "A"))).rr] == ["192.0.2.9"]
    r = reply_of(ask(eng, q("ads.test", "AAAA")))
    assert [str(x.rdata) for x in r.rr] == ["2001:db8::9"] and r.rr[0].ttl == 60


def test_allowed_names_are_forwarded():
    eng = make()
    acts = ask(eng, q("WWW.Example.COM", "AAAA", do=True, cd=True))
    assert sends(acts) == []
    [fwd] = acts
    assert fwd.qname == wire.text_to_wire("www.example.com") and fwd.qtype == 28 and fwd.qclass == 1
    assert fwd.do and fwd.cd and not fwd.prefetch
    assert ask(eng, q("notads.test"))[0].__class__ is Forward


def test_local_names_are_answered_without_forwarding():
    eng = make()
    r = reply_of(ask(eng, q("localhost")))
    assert [str(x.rdata) for x in r.rr] == ["127.0.0.1"]
    r = reply_of(ask(eng, q("dnsfilter.lan"), local_addr="192.168.1.1"))
    assert [str(x.rdata) for x in r.rr] == ["192.168.1.1"]
    r = reply_of(ask(eng, q("4.3.2.10.in-addr.arpa", "PTR")))
    assert r.header.rcode == 3 and r.auth[0].rtype == 6
    assert eng.stats.outcomes["local"] == 3


# ---------------------------------------------------------------- upstream round trips


def test_resolved_answer_is_relayed_with_the_clients_id_and_case():
    eng = make()
    r = resolve(eng, q("WwW.ExAmPle.com", qid=0x1111), 0.0, "www.example.com. 300 A 192.0.2.1")
    assert r.header.id == 0x1111 and r.header.rcode == 0 and r.header.ra == 1 and r.header.rd == 1
    assert str(r.q.qname) == "WwW.ExAmPle.com."
    assert [(str(x.rdata), x.ttl) for x in r.rr] == [("192.0.2.1", 300)]
    assert opt(r) is not None and opt(r).edns_len == 1232
    assert eng.stats.outcomes["resolved"] == 1


def test_identical_questions_in_flight_share_one_forward():
    eng = make()
    a1 = ask(eng, q("www.example.com", qid=1), to="A")
    a2 = ask(eng, q("WWW.EXAMPLE.COM", qid=2), to="B", ip="192.168.1.3")
    a3 = ask(eng, q("www.example.com", qid=3, edns=False), to="C")
    assert len(forwards(a1)) == 1 and a2 == [] and a3 == []
    assert eng.upstream.waiting == 3
    other = ask(eng, q("www.example.com", qid=4, do=True), to="D")  # DO differs: its own question
    assert len(forwards(other)) == 1
    out = eng.on_upstream(a1[0], upstream(a1[0], "www.example.com. 300 A 192.0.2.1"), 1.0)
    got = {s.to: dnslib.DNSRecord.parse(s.wire) for s in sends(out)}
    assert set(got) == {"A", "B", "C"}
    assert {to: r.header.id for to, r in got.items()} == {"A": 1, "B": 2, "C": 3}
    assert str(got["B"].q.qname) == "WWW.EXAMPLE.COM."
    assert opt(got["C"]) is None and opt(got["A"]) is not None
    assert all(str(r.rr[0].rdata) == "192.0.2.1" for r in got.values())
    assert eng.upstream.waiting == 1 and list(eng.upstream.queries) == [other[0].key]


def test_cached_answer_counts_down():
    eng = make()
    resolve(eng, q(), 1000.0, "www.example.com. 300 CNAME edge.example.net.", "edge.example.net. 200 A 192.0.2.1")
    acts = ask(eng, q(qid=99), 1100.5)
    r = reply_of(acts)
    assert forwards(acts) == []
    assert r.header.id == 99 and [x.ttl for x in r.rr] == [200, 100]
    assert eng.stats.outcomes["cached"] == 1
    # Expired: forwarded again.
    assert len(forwards(ask(eng, q(), 1200.0))) == 1


def test_negative_answers_are_cached():
    eng = make()
    soa = "example.com. 3600 IN SOA ns.example.com. h.example.com. 1 7200 3600 1209600 60"
    r = resolve(eng, q("nope.example.com"), 0.0, rcode=3, auth=(soa,))
    assert r.header.rcode == 3
    r = reply_of(ask(eng, q("nope.example.com"), 30.0))
    assert r.header.rcode == 3 and r.auth[0].ttl == 30
    assert forwards(ask(eng, q("nope.example.com"), 61.0))


def test_servfail_from_upstream_is_relayed_and_not_cached():
    eng = make()
    r = resolve(eng, q(), 0.0, rcode=2)
    assert r.header.rcode == 2
    assert forwards(ask(eng, q(), 1.0))


def test_upstream_failure_gives_servfail_with_ede():
    eng = make()
    [fwd] = ask(eng, q(do=True))
    r = reply_of(eng.on_upstream(fwd, None, 2.0, "timeout"))
    assert r.header.rcode == 2 and r.header.id == 7 and r.rr == []
    code, _text = ede(r)
    assert code == 23
    assert eng.stats.outcomes["failed"] == 1 and eng.stats.upstream_failures == 1
    assert eng.upstream.queries == {} and eng.upstream.waiting == 0


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 5, b"\x12\x34\x81\x80" + b"\x00" * 8, b"\xff" * 40])
def test_unreadable_upstream_answer_is_a_failure(garbage):
    eng = make()
    [fwd] = ask(eng, q())
    r = reply_of(eng.on_upstream(fwd, garbage, 1.0))
    assert r.header.rcode == 2 and ede(r)[0] == 23


def test_failure_serves_stale_with_ede_3():
    eng = make()
    resolve(eng, q(), 0.0, "www.example.com. 60 A 192.0.2.1")
    [fwd] = ask(eng, q(qid=55), 100.0)  # expired: forwarded
    r = reply_of(eng.on_upstream(fwd, None, 102.0))
    assert r.header.rcode == 0 and r.header.id == 55
    assert [(str(x.rdata), x.ttl) for x in r.rr] == [("192.0.2.1", 30)]  # stale_ttl
    assert ede(r)[0] == 3
    assert eng.stats.outcomes["stale"] == 1


def test_no_stale_beyond_its_age_or_when_disabled():
    for dns, now in (({"stale_max_age": 100}, 200.0), ({"serve_stale": False}, 100.0)):
        eng = make(dns)
        resolve(eng, q(), 0.0, "www.example.com. 60 A 192.0.2.1")
        [fwd] = ask(eng, q(), now)
        r = reply_of(eng.on_upstream(fwd, None, now))
        assert r.header.rcode == 2 and ede(r)[0] == 23


def test_failure_is_never_nxdomain():
    eng = make({"serve_stale": False})
    for i in range(5):
        [fwd] = ask(eng, q(f"n{i}.example.com"))
        assert reply_of(eng.on_upstream(fwd, None, 1.0)).header.rcode == 2


# ---------------------------------------------------------------- deep CNAME blocking


@pytest.mark.parametrize(("target", "code", "text"), [
    ("x.ads.test", 15, "CNAME to x.ads.test: ads: on the list ads"),
    ("adult.test", 17, "CNAME to adult.test: adult: on the list adult"),
    ("cdn.banned.test", 16, f"CNAME to cdn.banned.test: {GOV}"),
])
def test_cname_to_a_listed_name_is_blocked(target, code, text):
    eng = make()
    r = resolve(eng, q("www.example.com", qid=77), 0.0, f"www.example.com. 300 CNAME {target}.",
                f"{target}. 300 A 192.0.2.1")
    assert r.header.id == 77 and [str(x.rdata) for x in r.rr] == ["0.0.0.0"]
    assert ede(r) == (code, text)
    # Also from the cache.
    r = reply_of(ask(eng, q("www.example.com"), 10.0))
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r)[0] == code


def test_cname_chain_blocked_at_any_depth():
    eng = make()
    r = resolve(eng, q(), 0.0, "www.example.com. 300 CNAME a.example.net.", "a.example.net. 300 CNAME b.tracker.test.",
                "b.tracker.test. 300 A 192.0.2.1")
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"]


def test_cname_to_an_unlisted_name_passes():
    eng = make()
    r = resolve(eng, q(), 0.0, "www.example.com. 300 CNAME notads.test.", "notads.test. 300 A 192.0.2.1")
    assert [str(x.rdata) for x in r.rr] == ["notads.test.", "192.0.2.1"]


# ---------------------------------------------------------------- fast path


def test_fast_path_installs_blocked_answers_for_udp_only():
    eng = make()
    data = q("ads.test", qid=5)
    out = sends(ask(eng, data))[0].wire
    table = eng.fast.tables["Default"]
    assert table[data[2:]][0] == out[2:]
    assert CLIENT in eng.fast.clients
    tcp_data = q("tracker.test", qid=6)
    ask(eng, tcp_data, tcp=True)
    assert tcp_data[2:] not in table


def test_fast_path_installs_cached_answers_with_a_ttl_patch():
    eng = make()
    data = q("www.example.com", qid=9)
    [fwd] = ask(eng, data, 0.0)
    out = sends(eng.on_upstream(fwd, upstream(fwd, "www.example.com. 300 A 192.0.2.1"), 0.0))[0].wire
    table = eng.fast.tables["Default"]
    entry = table[data[2:]]
    assert entry[0] == out[2:] and entry[2] is not None
    fresh = restamp(entry, 100.0)
    assert fresh is not None
    r = dnslib.DNSRecord.parse(b"\x00\x09" + fresh[0])
    assert r.rr[0].ttl == 200 and str(r.rr[0].rdata) == "192.0.2.1"
    assert restamp(entry, 280.0) is None  # in the prefetch window: the slow path decides


def test_fast_path_not_installed_for_tcp_answers():
    eng = make()
    data = q("www.example.com", qid=9)
    [fwd] = ask(eng, data, 0.0, tcp=True)
    eng.on_upstream(fwd, upstream(fwd, "www.example.com. 300 A 192.0.2.1"), 0.0)
    assert data[2:] not in eng.fast.tables.get("Default", {})
    reply_of(ask(eng, data, 1.0, tcp=True))
    assert data[2:] not in eng.fast.tables.get("Default", {})
    assert eng.fast.installed == 0


def test_own_name_is_not_installed_in_the_fast_path():
    eng = make()
    data = q("dnsfilter.lan")
    ask(eng, data, local_addr="192.168.1.1")
    assert data[2:] not in eng.fast.tables.get("Default", {})
    local = q("localhost")
    ask(eng, local)
    assert local[2:] in eng.fast.tables["Default"]


# ---------------------------------------------------------------- access control and rate limits


@pytest.mark.parametrize("ip", ["8.8.8.8", "2001:db8::1", "10.0.0.1", "garbage"])
def test_refused_clients(ip):
    eng = make()
    r = reply_of(ask(eng, q("www.example.com"), ip=ip))
    assert r.header.rcode == 5 and r.rr == [] and ede(r)[0] == 18
    assert eng.stats.outcomes["refused"] == 1 and eng.upstream.queries == {}


def test_ipv4_mapped_and_zone_id_clients_are_allowed():
    eng = make()
    assert forwards(ask(eng, q("a.example"), ip="::ffff:192.168.1.9"))
    assert forwards(ask(eng, q("b.example"), ip="fd00::1%br-lan"))


def test_rate_limited_client_is_refused_after_the_burst():
    eng = make({"ratelimit_qps": 2, "ratelimit_burst": 4})
    results = [ask(eng, q("ads.test", qid=i), 10.0) for i in range(6)]
    codes = [reply_of(a).header.rcode for a in results]
    assert codes == [0, 0, 0, 0, 5, 5]
    assert eng.stats.ratelimited == 2
    # Another client has its own bucket; loopback is exempt.
    assert reply_of(ask(eng, q("ads.test"), 10.0, ip="192.168.1.3")).header.rcode == 0
    assert all(reply_of(ask(eng, q("ads.test"), 10.0, ip="127.0.0.1")).header.rcode == 0 for _ in range(20))
    # Refill: 2 per second.
    assert reply_of(ask(eng, q("ads.test"), 10.5)).header.rcode == 0
    assert reply_of(ask(eng, q("ads.test"), 10.5)).header.rcode == 5


# ---------------------------------------------------------------- malformed and unsupported


def test_malformed_packets():
    eng = make()
    good = q("www.example.com", qid=0x2222)
    # Too short, or a response: dropped.
    assert ask(eng, good[:11]) == [] and ask(eng, b"") == []
    resp = bytearray(good)
    resp[2] |= 0x80
    assert ask(eng, bytes(resp)) == []
    # QDCOUNT 2: FORMERR, header only, ID echoed.
    bad = bytearray(good)
    bad[5] = 2
    r = reply_of(ask(eng, bytes(bad)))
    assert r.header.rcode == 1 and r.header.id == 0x2222 and r.header.q == 0
    # Truncated question: FORMERR.
    assert reply_of(ask(eng, good[:20])).header.rcode == 1
    # Opcode NOTIFY about an A record (a NOTIFY names a zone's SOA): FORMERR, the opcode echoed.
    notify = bytearray(good)
    notify[2] = (notify[2] & 0x87) | (4 << 3)
    r = reply_of(ask(eng, bytes(notify)))
    assert r.header.rcode == 1 and r.header.opcode == 4 and eng.stats.notify["malformed"] == 1
    # Opcode UPDATE: NOTIMP with the opcode echoed.
    update = bytearray(good)
    update[2] = (update[2] & 0x87) | (5 << 3)
    r = reply_of(ask(eng, bytes(update)))
    assert r.header.rcode == 4 and r.header.opcode == 5
    assert eng.stats.dropped == 3 and eng.stats.outcomes["invalid"] == 4


def test_malformed_from_a_refused_client_is_dropped():
    eng = make()
    bad = bytearray(q())
    bad[5] = 0
    assert ask(eng, bytes(bad), ip="8.8.8.8") == []


@pytest.mark.parametrize(("qtype", "qclass", "rcode", "code"), [
    ("A", 3, 5, None),  # CHAOS
    ("A", 4, 5, None),  # HESIOD
    ("AXFR", 1, 5, 18),
    ("IXFR", 1, 5, 18),
    (254, 1, 4, None),  # MAILA
    (253, 1, 4, None),  # MAILB
])
def test_unsupported_queries(qtype, qclass, rcode, code):
    eng = make()
    r = reply_of(ask(eng, q("example.com", qtype, qclass=qclass)))
    assert r.header.rcode == rcode and r.rr == []
    assert (ede(r) or (None,))[0] == code
    assert eng.upstream.queries == {}


def test_class_any_is_forwarded():
    eng = make()
    assert forwards(ask(eng, q("example.com", qclass=255)))


def test_badvers_for_edns_version_1():
    eng = make()
    r = reply_of(ask(eng, q("www.example.com", version=1)))
    o = opt(r)
    assert r.header.rcode == 0 and o is not None and o.edns_rcode == 1 and o.edns_ver == 0
    assert eng.upstream.queries == {}


# ---------------------------------------------------------------- prefetch


def test_prefetch_once_in_the_last_tenth():
    eng = make()
    resolve(eng, q(), 0.0, "www.example.com. 100 A 192.0.2.1")
    acts = ask(eng, q(), 50.0)
    assert len(sends(acts)) == 1 and forwards(acts) == []
    acts = ask(eng, q(qid=8), 91.0)
    [fwd] = forwards(acts)
    assert fwd.prefetch and reply_of(acts).rr[0].ttl == 9
    assert eng.stats.prefetches == 1
    # Once: further hits while it is in flight do not ask again.
    acts = ask(eng, q(), 92.0)
    assert forwards(acts) == [] and len(sends(acts)) == 1
    # The refresh arrives: no client waits for it, the cache is renewed.
    assert eng.on_upstream(fwd, upstream(fwd, "www.example.com. 100 A 192.0.2.2"), 93.0) == []
    r = reply_of(ask(eng, q(), 150.0))
    assert [(str(x.rdata), x.ttl) for x in r.rr] == [("192.0.2.2", 43)]


def test_failed_prefetch_can_be_retried_and_keeps_the_entry():
    eng = make()
    resolve(eng, q(), 0.0, "www.example.com. 100 A 192.0.2.1")
    [fwd] = forwards(ask(eng, q(), 91.0))
    assert eng.on_upstream(fwd, None, 92.0) == []
    acts = ask(eng, q(), 93.0)
    r = reply_of(acts)
    assert r.rr[0].ttl == 7 and ede(r) is None  # the fresh entry is still served, not as stale
    assert len(forwards(acts)) == 1  # the prefetch is tried again
    assert forwards(ask(eng, q(), 94.0)) == []


def test_no_prefetch_when_disabled():
    eng = make({"prefetch": False})
    resolve(eng, q(), 0.0, "www.example.com. 100 A 192.0.2.1")
    assert forwards(ask(eng, q(), 95.0)) == []


# ---------------------------------------------------------------- sizes and flags


def test_large_answer_is_truncated_for_udp_and_whole_for_tcp():
    eng = make()
    records = [f"big.example. 300 A 192.0.2.{i}" for i in range(1, 60)]
    data = q("big.example", edns=False)
    [fwd] = ask(eng, data)
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, *records), 0.0))
    assert r.header.tc == 1 and r.rr == []
    r = reply_of(ask(eng, data, 1.0, tcp=True))
    assert r.header.tc == 0 and len(r.rr) == 59
    r = reply_of(ask(eng, q("big.example", payload=4096), 1.0))  # 1232 is enough for 59 A records
    assert r.header.tc == 0 and len(r.rr) == 59


def test_ad_bit_only_for_clients_that_ask():
    eng = make()
    resolve(eng, q(do=True), 0.0, "www.example.com. 300 A 192.0.2.1", ad=True)
    assert reply_of(ask(eng, q(do=True), 1.0)).header.ad == 1
    resolve(eng, q(), 0.0, "www.example.com. 300 A 192.0.2.1", ad=True)
    assert reply_of(ask(eng, q(), 1.0)).header.ad == 0
    assert reply_of(ask(eng, q(ad=True), 1.0)).header.ad == 1


def test_truncated_upstream_answer_keeps_tc():
    eng = make()
    r = resolve(eng, q(), 0.0, "www.example.com. 300 A 192.0.2.1", tc=True)
    assert r.header.tc == 1


def test_too_many_in_flight_gives_servfail_not_ready():
    eng = make({"max_inflight": 3})
    for i in range(3):
        assert forwards(ask(eng, q(f"n{i}.example")))
    r = reply_of(ask(eng, q("n9.example")))
    assert r.header.rcode == 2 and ede(r)[0] == 14


def test_always_allow_name_is_not_blocked_through_its_cname():
    eng = make(protection={"always_allow": ["helpline.test"]})
    r = resolve(eng, q("helpline.test"), 0.0, "helpline.test. 300 CNAME cdn.tracker.test.",
                "cdn.tracker.test. 300 A 192.0.2.1")
    assert [str(x.rdata) for x in r.rr] == ["cdn.tracker.test.", "192.0.2.1"]


def test_explicitly_allowed_name_is_not_blocked_through_its_cname():
    eng = make(filter={"allow": ["allowed.example"]})
    r = resolve(eng, q("allowed.example"), 0.0, "allowed.example. 300 CNAME cdn.tracker.test.",
                "cdn.tracker.test. 300 A 192.0.2.1")
    assert [str(x.rdata) for x in r.rr] == ["cdn.tracker.test.", "192.0.2.1"]


def test_allowed_name_with_cname_to_an_authority_listed_name_is_still_blocked():
    eng = make(protection={"always_allow": ["helpline.test"]})
    r = resolve(eng, q("helpline.test"), 0.0, "helpline.test. 300 CNAME x.banned.test.", "x.banned.test. 300 A 192.0.2.1")
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r)[0] == 16
