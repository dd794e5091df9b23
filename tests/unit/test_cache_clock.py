"""The cache on a fake clock: TTL clamps and countdown, RFC 2308 negative caching, LRU
bounds, RFC 8767 serve-stale and prefetch timing. `now` is a plain number here."""

from __future__ import annotations

import struct

import dnslib

from dnsfilter.core import wire
from dnsfilter.core.cache import Cache, cache_key


def answer(name: str = "www.example.com", zone: list[str] | None = None, rcode: int = 0, auth: list[str] = (),
           tc: bool = False) -> bytes:
    r = dnslib.DNSRecord.question(name, "A").reply()
    r.header.rcode = rcode
    r.header.tc = int(tc)
    for line in zone if zone is not None else [f"{name}. 300 A 192.0.2.1"]:
        r.add_answer(*dnslib.RR.fromZone(line))
    for line in auth:
        r.add_auth(*dnslib.RR.fromZone(line))
    return r.pack()


def store(c: Cache, data: bytes, now: float, key: bytes = b"k"):
    e = c.make_entry(data, wire.parse_response(data), now)
    c.store(key, e)  # refuses what must not be cached
    return e


def ttls(body: bytes, e) -> list[int]:
    return [struct.unpack_from(">I", body, off)[0] for off in e.ttl_offs]


def test_ttl_counts_down_and_expires():
    c = Cache()
    e = store(c, answer(), 1000.0)
    assert e.ttl == 300
    assert ttls(c.get(b"k", 1000.0).render(1000.0), e) == [300]
    assert ttls(e.render(1100.4), e) == [200]
    assert c.get(b"k", 1299.9) is e
    assert c.get(b"k", 1300.0) is None  # expired
    assert e.render(2000.0) and ttls(e.render(2000.0), e) == [0]  # never below zero


def test_ttl_clamps():
    c = Cache(min_ttl=60, max_ttl=120)
    assert store(c, answer(zone=["www.example.com. 5 A 192.0.2.1"]), 0.0).ttl == 60
    e = store(c, answer(zone=["www.example.com. 86400 A 192.0.2.1"]), 0.0)
    assert e.ttl == 120 and ttls(e.render(0.0), e) == [120]


def test_negative_caching_rfc2308():
    c = Cache(negative_max_ttl=3600)
    soa = ["example.com. 900 SOA ns.example.com. h.example.com. 1 2 3 4 300"]
    e = store(c, answer(zone=[], rcode=3, auth=soa), 0.0)
    assert e.ttl == 300  # min(SOA TTL, SOA MINIMUM)
    assert ttls(e.render(0.0), e) == [300]  # the SOA never outlives the entry
    soa_long = ["example.com. 86400 SOA ns.example.com. h.example.com. 1 2 3 4 86400"]
    assert store(c, answer(zone=[], rcode=3, auth=soa_long), 0.0).ttl == 3600
    nodata = store(c, answer(zone=[], rcode=0, auth=soa), 0.0, b"nodata")
    assert nodata.ttl == 300 and c.get(b"nodata", 1.0) is nodata
    assert store(c, answer(zone=[], rcode=3), 0.0, b"nosoa").ttl == 0  # no SOA: not cached
    assert c.get(b"nosoa", 0.0) is None


def test_not_cached_tc_and_servfail():
    c = Cache()
    assert store(c, answer(tc=True), 0.0, b"tc").ttl == 0
    assert store(c, answer(zone=[], rcode=2), 0.0, b"sf").ttl == 0
    assert len(c) == 0


def test_lru_bound_and_order():
    c = Cache(size=3)
    for i in range(3):
        store(c, answer(), 0.0, b"k%d" % i)
    assert c.get(b"k0", 1.0) is not None  # k0 becomes the youngest
    store(c, answer(), 0.0, b"k3")
    assert len(c) == 3 and c.get(b"k1", 1.0) is None  # the least recently used went
    assert c.get(b"k0", 1.0) is not None and c.get(b"k3", 1.0) is not None
    assert c.evictions == 1


def test_serve_stale_window():
    c = Cache(stale_max_age=100)
    e = store(c, answer(zone=["www.example.com. 10 A 192.0.2.1"]), 0.0)
    assert c.get(b"k", 11.0) is None
    assert c.get_stale(b"k", 11.0) is e
    assert ttls(e.render(50.0, fixed_ttl=30), e) == [30]
    assert c.get_stale(b"k", 10.0 + 100.0) is e
    assert c.get_stale(b"k", 10.0 + 100.5) is None


def test_prefetch_only_in_last_tenth_and_once():
    c = Cache()
    e = store(c, answer(zone=["www.example.com. 100 A 192.0.2.1"]), 0.0)
    assert not c.wants_prefetch(e, 50.0)
    assert c.wants_prefetch(e, 91.0)
    e.prefetching = True
    assert not c.wants_prefetch(e, 95.0)
    short = store(c, answer(zone=["www.example.com. 5 A 192.0.2.1"]), 0.0, b"s")
    assert not c.wants_prefetch(short, 4.9)  # too short-lived to bother
    assert not Cache(prefetch=False).wants_prefetch(e, 99.0)


def test_cname_targets_recorded_and_key_has_do_cd():
    c = Cache()
    e = store(c, answer(zone=["www.example.com. 300 CNAME edge.tracker.test.", "edge.tracker.test. 300 A 192.0.2.9"]),
              0.0)
    assert e.targets == (wire.text_to_wire("edge.tracker.test"),)
    n = wire.text_to_wire("www.example.com")
    keys = {cache_key(n, 1, 1, do, cd) for do in (False, True) for cd in (False, True)}
    assert len(keys) == 4
