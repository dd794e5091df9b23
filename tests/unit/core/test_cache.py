"""dnsfilter.core.cache on a fake clock: clamps, countdown, LRU, negative caching, serve-stale,
prefetch and CNAME targets."""

from __future__ import annotations

import struct

import dnslib
import pytest

from dnsfilter.core.cache import Cache, Entry, cache_key
from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import parse_response


def answer(name: str = "www.example.com", qtype: str = "A", *records: str, rcode: int = 0, auth: tuple[str, ...] = (),
           tc: bool = False, edns: bool = True, extra: tuple[str, ...] = ()) -> bytes:
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=1, qr=1, rd=1, ra=1, rcode=rcode, tc=int(tc)),
                         q=dnslib.DNSQuestion(name, getattr(dnslib.QTYPE, qtype)))
    for line in records:
        r.add_answer(*dnslib.RR.fromZone(line))
    for line in auth:
        r.add_auth(*dnslib.RR.fromZone(line))
    for line in extra:
        r.add_ar(*dnslib.RR.fromZone(line))
    if edns:
        r.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(r.pack())


def entry(cache: Cache, buf: bytes, now: float = 0.0) -> Entry:
    return cache.make_entry(buf, parse_response(buf), now)


def ttls_of(e: Entry, now: float, fixed: int | None = None) -> list[int]:
    body = e.render(now, fixed)
    return [struct.unpack_from(">I", body, off)[0] for off in e.ttl_offs]


def soa(ttl: int, minimum: int, zone: str = "example.com") -> str:
    return f"{zone}. {ttl} IN SOA ns.{zone}. host.{zone}. 1 7200 3600 1209600 {minimum}"


KEY = cache_key(wire.text_to_wire("www.example.com"), 1, 1, False, False)


# ---------------------------------------------------------------- lifetimes and clamps


def test_lifetime_is_the_smallest_answer_ttl():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 300 A 192.0.2.1", "www.example.com. 120 A 192.0.2.2"),
              now=1000.0)
    assert e.ttl == 120 and e.stored == 1000.0 and e.expires == 1120.0
    assert e.rcode == 0 and e.counts == (2, 0, 0) and e.ttls == (300, 120)


@pytest.mark.parametrize(("min_ttl", "max_ttl", "ttl", "want"), [
    (0, 86400, 5, 5), (60, 86400, 5, 60), (60, 86400, 59, 60), (60, 86400, 61, 61),
    (0, 3600, 7200, 3600), (0, 3600, 3600, 3600), (30, 300, 100000, 300), (0, 86400, 0, 0)])
def test_ttl_clamps(min_ttl, max_ttl, ttl, want):
    c = Cache(min_ttl=min_ttl, max_ttl=max_ttl)
    e = entry(c, answer("www.example.com", "A", f"www.example.com. {ttl} A 192.0.2.1"))
    assert e.ttl == want and e.ttls == (want,) and ttls_of(e, 0.0) == ttls_of(e, 0.9) == [want]
    assert c.store(KEY, e) == (want > 0)


def test_record_ttls_count_down_with_now():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 300 CNAME edge.example.net.",
                        "edge.example.net. 60 A 192.0.2.1"), now=100.0)
    assert e.ttl == 60
    assert ttls_of(e, 100.0) == [300, 60]
    assert ttls_of(e, 110.9) == [290, 50]  # whole seconds elapsed
    assert ttls_of(e, 160.0) == [240, 0]
    assert ttls_of(e, 1000.0) == [0, 0]  # never negative
    assert ttls_of(e, 150.0, fixed=30) == [30, 30]
    # The rendered body is still a valid answer section.
    c.store(KEY, e)
    got = c.get(KEY, 130.0)
    assert got is e
    q = wire.parse_query(bytes(dnslib.DNSRecord.question("www.example.com").pack()))
    from dnsfilter.core.dns import codec
    r = dnslib.DNSRecord.parse(codec.reply(q, e.rcode, e.render(130.0), e.counts))
    assert [(x.rtype, x.ttl) for x in r.rr] == [(5, 270), (1, 30)]
    assert str(r.rr[0].rdata) == "edge.example.net." and str(r.rr[1].rdata) == "192.0.2.1"


def test_get_misses_at_expiry():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 60 A 192.0.2.1"), now=0.0)
    assert c.store(KEY, e)
    assert c.get(KEY, 59.999) is e
    assert c.get(KEY, 60.0) is None
    assert c.get(b"other", 0.0) is None
    assert c.hits == 1 and c.misses == 2


# ---------------------------------------------------------------- LRU


def key(i: int) -> bytes:
    return cache_key(wire.text_to_wire(f"n{i}.example"), 1, 1, False, False)


def test_lru_eviction_order_and_size_bound():
    c = Cache(size=3)
    buf = answer("n.example", "A", "n.example. 300 A 192.0.2.1")
    for i in range(3):
        assert c.store(key(i), entry(c, buf))
    assert c.get(key(0), 1.0) is not None  # 0 becomes the youngest: 1 is now the oldest
    assert not c.store(key(3), entry(c, buf))  # full: a first answer for a new key is not kept
    assert c.store(key(3), entry(c, buf))  # its second one is
    assert len(c) == 3 and c.evictions == 1 and c.declined == 1
    assert c.get(key(1), 1.0) is None
    assert all(c.get(key(i), 1.0) is not None for i in (0, 2, 3))
    # Re-storing an existing key refreshes it without growing.
    c.store(key(0), entry(c, buf))  # order now 2 3 0
    c.store(key(4), entry(c, buf))
    c.store(key(4), entry(c, buf))
    assert len(c) == 3 and c.get(key(2), 1.0) is None
    for i in range(5, 200):
        for _ in range(2):
            c.store(key(i), entry(c, buf))
            assert len(c) <= 3
    assert [c.get(key(i), 1.0) is not None for i in (197, 198, 199)] == [True] * 3


def test_names_answered_once_do_not_push_out_the_popular_ones():
    c = Cache(size=100)
    buf = answer("n.example", "A", "n.example. 300 A 192.0.2.1")
    for i in range(100):
        c.store(key(i), entry(c, buf))
    for i in range(1000, 3000):  # a long tail of names, each answered once
        c.store(key(i), entry(c, buf))
    assert sum(c.get(key(i), 1.0) is not None for i in range(100)) >= 95
    assert c.declined >= 1990


def test_a_cache_grown_by_a_reload_admits_at_the_new_size():
    c = Cache(size=0)
    c.size = 3  # what a reload does (assemble.reconfigure)
    buf = answer("n.example", "A", "n.example. 300 A 192.0.2.1")
    for i in range(3):
        c.store(key(i), entry(c, buf))
    for _ in range(2):  # three new names, each answered twice, in turn
        for i in range(3, 6):
            c.store(key(i), entry(c, buf))
    assert len(c) == 3 and all(c.get(key(i), 1.0) is not None for i in (3, 4, 5))


def test_size_zero_caches_nothing():
    c = Cache(size=0)
    assert not c.store(KEY, entry(c, answer("www.example.com", "A", "www.example.com. 300 A 192.0.2.1")))
    assert len(c) == 0


# ---------------------------------------------------------------- negative caching


@pytest.mark.parametrize(("soa_ttl", "minimum", "neg_max", "want"), [
    (3600, 300, 3600, 300),  # SOA MINIMUM below the SOA TTL
    (60, 900, 3600, 60),  # SOA TTL below MINIMUM
    (86400, 86400, 3600, 3600),  # capped by negative_max_ttl
    (7200, 5000, 1800, 1800),
    (0, 300, 3600, 0),  # TTL 0: not cached
])
@pytest.mark.parametrize("rcode", [3, 0])  # NXDOMAIN and NODATA
def test_negative_caching_rfc2308(soa_ttl, minimum, neg_max, want, rcode):
    c = Cache(negative_max_ttl=neg_max, min_ttl=0)
    e = entry(c, answer("nope.example.com", "A", rcode=rcode, auth=(soa(soa_ttl, minimum),)), now=10.0)
    assert e.ttl == want and e.rcode == rcode and e.counts == (0, 1, 0)
    assert c.store(KEY, e) == (want > 0)
    if want:
        assert e.expires == 10.0 + want
        assert max(e.ttls) <= want  # no record outlives the negative entry


def test_negative_answer_after_a_cname():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 300 CNAME gone.example.net.",
                        rcode=3, auth=(soa(900, 120, "example.net"),)))
    assert e.ttl == 120 and e.rcode == 3
    assert e.targets == (wire.text_to_wire("gone.example.net"),)


@pytest.mark.parametrize("rcode", [3, 0])
def test_negative_without_soa_is_not_cached(rcode):
    c = Cache()
    e = entry(c, answer("nope.example.com", "A", rcode=rcode))
    assert e.ttl == 0 and not c.store(KEY, e) and len(c) == 0


def test_soa_in_the_answer_section_does_not_make_a_negative_entry():
    c = Cache()
    e = entry(c, answer("nope.example.com", "A", rcode=3, extra=(soa(300, 300),)))
    assert e.ttl == 0


@pytest.mark.parametrize("rcode", [2, 5, 4, 1])  # SERVFAIL REFUSED NOTIMP FORMERR
def test_error_answers_are_not_cached(rcode):
    c = Cache()
    e = entry(c, answer("www.example.com", "A", rcode=rcode, auth=(soa(300, 300),)))
    assert e.ttl == 0 and not c.store(KEY, e)


def test_truncated_answers_are_not_cached():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 300 A 192.0.2.1", tc=True))
    assert e.ttl == 0 and not c.store(KEY, e)


# ---------------------------------------------------------------- serve-stale


def test_get_stale_window():
    c = Cache(stale_max_age=3600)
    e = entry(c, answer("www.example.com", "A", "www.example.com. 60 A 192.0.2.1"), now=0.0)
    c.store(KEY, e)
    assert c.get(KEY, 61.0) is None
    assert c.get_stale(KEY, 61.0) is e
    assert c.get_stale(KEY, 60.0 + 3600) is e  # at the edge of the window
    assert c.get_stale(KEY, 60.0 + 3600.5) is None
    assert c.get_stale(b"nothing", 61.0) is None
    assert ttls_of(e, 1000.0, fixed=30) == [30]


def test_stale_max_age_zero_gives_nothing_after_expiry():
    c = Cache(stale_max_age=0)
    e = entry(c, answer("www.example.com", "A", "www.example.com. 60 A 192.0.2.1"), now=0.0)
    c.store(KEY, e)
    assert c.get_stale(KEY, 60.0) is e and c.get_stale(KEY, 60.5) is None


# ---------------------------------------------------------------- prefetch


def test_wants_prefetch_only_in_the_last_tenth_and_once():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 100 A 192.0.2.1"), now=0.0)
    c.store(KEY, e)
    assert not c.wants_prefetch(e, 0.0)
    assert not c.wants_prefetch(e, 89.0)
    assert not c.wants_prefetch(e, 90.0)  # exactly 10 s left of 100: not yet below a tenth
    assert c.wants_prefetch(e, 90.5)
    assert c.wants_prefetch(e, 99.9)
    e.prefetching = True  # the engine marks it when it sends the refresh
    assert not c.wants_prefetch(e, 95.0)


def test_no_prefetch_for_short_ttls_or_when_disabled():
    c = Cache()
    short = entry(c, answer("www.example.com", "A", "www.example.com. 9 A 192.0.2.1"), now=0.0)
    assert not any(c.wants_prefetch(short, t / 10) for t in range(90))
    off = Cache(prefetch=False)
    e = entry(off, answer("www.example.com", "A", "www.example.com. 100 A 192.0.2.1"), now=0.0)
    assert not off.wants_prefetch(e, 95.0)


# ---------------------------------------------------------------- contents


def test_cname_and_dname_targets_are_recorded_lower_case():
    c = Cache()
    e = entry(c, answer("www.example.com", "A", "www.example.com. 300 CNAME Edge.CDN.example.net.",
                        "edge.cdn.example.net. 300 CNAME x.Tracker.test.", "x.tracker.test. 300 A 192.0.2.1"))
    assert e.targets == (wire.text_to_wire("edge.cdn.example.net"), wire.text_to_wire("x.tracker.test"))
    r = dnslib.DNSRecord.parse(answer("a.old.example", "A", "a.old.example. 300 CNAME a.new.example.",
                                      "a.new.example. 300 A 192.0.2.1"))
    dname = dnslib.RR("old.example", 39, rdata=dnslib.RD(wire.text_to_wire("new.example")), ttl=300)
    r.rr.insert(0, dname)
    buf = bytes(r.pack())
    d = entry(c, buf)
    assert d.targets == (wire.text_to_wire("new.example"), wire.text_to_wire("a.new.example"))
    plain = entry(c, answer("www.example.com", "A", "www.example.com. 300 A 192.0.2.1"))
    assert plain.targets == ()


def test_body_keeps_records_but_not_the_opt():
    c = Cache()
    buf = answer("www.example.com", "A", "www.example.com. 300 A 192.0.2.1",
                 auth=("example.com. 600 NS ns.example.com.",), extra=("ns.example.com. 600 A 192.0.2.53",))
    e = entry(c, buf)
    assert e.counts == (1, 1, 1) and len(e.ttl_offs) == 3
    assert b"\x00\x00\x29" not in e.body  # no OPT record kept
    assert e.ttl == 300  # answer and authority TTLs


def test_cache_key_separates_do_cd_type_and_class():
    n = wire.text_to_wire("www.example.com")
    keys = {cache_key(n, t, c, do, cd) for t in (1, 28) for c in (1, 3) for do in (False, True) for cd in (False, True)}
    assert len(keys) == 16


def test_nodata_after_a_cname_uses_the_negative_ttl():
    c = Cache(negative_max_ttl=600)
    e = entry(c, answer("www.example.com", "AAAA", "www.example.com. 3600 CNAME edge.example.net.",
                        auth=(soa(3600, 60, "example.net"),)))
    assert e.ttl == 60


def test_cache_key_is_the_name_then_type_class_and_bits_for_every_combination():
    import struct

    name = wire.text_to_wire("www.example.com")
    for qtype, qclass, do, cd in [(1, 1, False, False), (28, 1, True, False), (65, 1, False, True),
                                  (65535, 255, True, True), (1, 3, False, False)] + [(t, 1, False, False)
                                                                                     for t in range(2000)]:
        want = name + struct.pack(">HHB", qtype, qclass, (1 if do else 0) | (2 if cd else 0))
        assert cache_key(name, qtype, qclass, do, cd) == want  # also past the tails' bound (1024)
