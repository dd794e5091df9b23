"""Fuzzing the packet path: 100k+ mutated queries (bit flips, byte writes, truncations,
extensions, splices, header rewrites, random bytes) through Engine.on_query, and the
upstream answers (valid, mutated or None) through Engine.on_upstream.

Seeded and count-bounded. The engine must never raise, every reply must carry the query's ID
with QR set and fit the client's UDP payload."""

from __future__ import annotations

import random
import struct
import time

import dnslib

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.dns import codec, notify, wire
from dnsfilter.core.engine import Engine, Forward, Send
from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key
from dnsfilter.core.policy.matcher import Matcher

N_QUERIES = 110_000
SEED = 0x5EED


def compiled(*names: str) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in names)))


def engine() -> Engine:
    cfg = from_dict({
        "dns": {"allowed_clients": ["192.168.0.0/16", "127.0.0.0/8", "::1/128", "fd00::/8"],
                "ratelimit_qps": 5000, "ratelimit_burst": 5000, "max_inflight": 512, "cache_size": 500},
        "feeds": [{"name": "ads", "url": "/a", "category": "ads"}, {"name": "adult", "url": "/b", "category": "adult"},
                  {"name": "gov", "url": "/c", "category": "authority"}],
        "filter": {"allow": ["ok.ads.test"], "deny": ["deny.test"]},
        "protection": {"always_allow": ["helpline.test"]},
        "profiles": [{"name": "Kids", "block_categories": ["ads", "adult"]}, {"name": "Adults"}],
        "defaults": {"profile": "Adults"},
        "devices": [{"ip": "192.168.1.50", "profile": "Kids"}],
    })
    m = Matcher({"ads": compiled("ads.test", "tracker.test"), "adult": compiled("adult.test"),
                 "gov": compiled("banned.test")})
    return build_engine(cfg, m)


def seeds() -> list[bytes]:
    out: list[bytes] = []
    names = ["www.example.com", "ADS.test", "x.tracker.test", "adult.test", "banned.test", "deny.test", "ok.ads.test",
             "helpline.test", "localhost", "dnsfilter.lan", "4.3.2.10.in-addr.arpa", "1.0.0.127.in-addr.arpa",
             "resolver.arpa", "use-application-dns.net", "a.b.c.d.e.f.g", "x" * 63 + ".test", "."]
    types = [1, 28, 65, 15, 12, 16, 252, 251, 255, 6, 254, 41]
    for i, name in enumerate(names):
        for j, qtype in enumerate(types[: 4 + i % 8]):
            r = dnslib.DNSRecord(dnslib.DNSHeader(id=i * 100 + j, rd=1, cd=j % 3 == 0),
                                 q=dnslib.DNSQuestion(name, qtype, 3 if j == 5 else 1))
            if (i + j) % 4:
                opts = [dnslib.EDNSOption(10, b"01234567")] if j % 2 else []
                r.add_ar(dnslib.EDNS0(udp_len=[512, 1232, 4096, 100][j % 4], flags="do" if j % 3 else "",
                                      version=1 if (i, j) == (1, 1) else 0, opts=opts))
            out.append(bytes(r.pack()))
    out.append(wire.build_query(9, wire.text_to_wire("www.example.com"), 1, do=True))
    return out


def mutate(rng: random.Random, seeds_: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds_))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.randrange(9)
        if kind == 0 and data:  # bit flip
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:  # byte write, favouring header and length bytes
            i = rng.randrange(min(len(data), 40)) if rng.random() < 0.6 else rng.randrange(len(data))
            data[i] = rng.choice((0, 1, 0x3F, 0x40, 0x80, 0xC0, 0xFF, rng.randrange(256)))
        elif kind == 2:  # truncation
            del data[rng.randrange(len(data) + 1):]
        elif kind == 3:  # extension with random bytes
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        elif kind == 4:  # splice with another seed
            other = rng.choice(seeds_)
            cut = rng.randrange(len(data) + 1)
            data = data[:cut] + other[rng.randrange(len(other)):]
        elif kind == 5 and len(data) >= 12:  # header counts and flags rewrite
            field = rng.randrange(6)
            struct.pack_into(">H", data, 2 * field, rng.choice((0, 1, 2, 0xFFFF, rng.randrange(65536))))
        elif kind == 6:  # random bytes altogether
            data = bytearray(rng.randrange(256) for _ in range(rng.randrange(64)))
        elif kind == 7 and len(data) > 13:  # delete a run
            i = rng.randrange(12, len(data))
            del data[i : i + rng.randrange(1, 8)]
        elif kind == 8 and len(data) > 12:  # insert a compression pointer somewhere
            i = rng.randrange(12, len(data))
            data[i:i] = struct.pack(">H", 0xC000 | rng.randrange(0, 64))
    return bytes(data)


def upstream_reply(rng: random.Random, fwd: Forward) -> bytes | None:
    """An upstream answer for `fwd`, built by hand (the fuzzed names are beyond dnslib)."""
    roll = rng.random()
    if roll < 0.15:
        return None
    rcode, an, ns, body = 0, 0, 0, b""
    if roll < 0.5:
        target = wire.text_to_wire(rng.choice(["ads.test", "cdn.example", "adult.test", "ok.ads.test"]))
        body = (wire.rr(wire.T_CNAME, rng.randrange(0, 600), target)
                + wire.rr(wire.T_A, rng.randrange(0, 600), bytes([192, 0, 2, 1]), owner=target))
        an = 2
    elif roll < 0.6:
        rcode, ns = 3, 1
        zone = wire.text_to_wire("test")
        body = wire.rr(wire.T_SOA, 300, codec.soa_rdata(zone, 60), owner=zone)
    elif roll < 0.65:
        rcode = rng.choice([2, 5])
    flags = wire.F_QR | wire.F_RD | wire.F_RA | rcode | (wire.F_TC if rng.random() < 0.02 else 0)
    data = bytearray(wire.header(rng.randrange(65536), flags, 1, an, ns, 1) + fwd.qname
                     + struct.pack(">HH", fwd.qtype, fwd.qclass) + body + wire.opt_record(1232, fwd.do))
    if roll > 0.8:  # a mutated answer
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(12, len(data) + 1):]
    return bytes(data)


CLIENTS = ["192.168.1.2", "192.168.1.50", "127.0.0.1", "::1", "::ffff:192.168.1.7", "fd00::1%eth0", "8.8.8.8",
           "2001:db8::1"]


def check_reply(query: bytes, out: bytes, tcp: bool) -> None:
    assert len(out) >= 12
    assert out[:2] == query[:2]
    assert out[2] & 0x80  # QR
    if not tcp:
        try:
            q = wire.parse_query(query)
        except wire.WireError:
            if notify.opcode(query) == notify.OPCODE_NOTIFY:  # RFC 1996: the question is echoed
                assert (out[2] >> 3) & 0xF == notify.OPCODE_NOTIFY and len(out) <= len(query)
            else:
                assert len(out) == 12  # header-only FORMERR/NOTIMP
            return
        assert len(out) <= q.max_udp()


def test_fuzz_the_packet_path():
    rng = random.Random(SEED)
    eng = engine()
    pool = seeds()
    now = 1000.0
    ran = replies = forwarded = upstream_calls = 0
    pending: list[Forward] = []
    started = time.monotonic()
    for i in range(N_QUERIES):
        data = mutate(rng, pool) if rng.random() < 0.9 else rng.choice(pool)
        tcp = rng.random() < 0.1
        ip = rng.choice(CLIENTS)
        actions = eng.on_query(data, ip, ("peer", i), now, tcp=tcp,
                               local_addr=rng.choice([None, "192.168.1.1", "fd00::53", "0.0.0.0"]))
        ran += 1
        for a in actions:
            if isinstance(a, Send):
                replies += 1
                check_reply(data, a.wire, tcp)
            else:
                assert isinstance(a, Forward)
                forwarded += 1
                pending.append(a)
        # Answer some of what is in flight, out of order.
        while pending and (len(pending) > 64 or rng.random() < 0.5):
            fwd = pending.pop(rng.randrange(len(pending)))
            for a in eng.on_upstream(fwd, upstream_reply(rng, fwd), now):
                assert isinstance(a, Send) and len(a.wire) >= 12 and a.wire[2] & 0x80
            upstream_calls += 1
        now += rng.choice((0.0, 0.001, 0.01, 0.1, 1.0, 30.0, 400.0)) if i % 7 == 0 else 0.0
    for fwd in pending:
        eng.on_upstream(fwd, None, now)
    elapsed = time.monotonic() - started
    assert ran == N_QUERIES
    assert replies > 50_000 and forwarded > 1000 and upstream_calls > 1000
    assert eng.upstream.queries == {} and eng.upstream.waiting == 0
    assert len(eng.cache) <= 500
    assert elapsed < 60.0, elapsed


def test_fuzz_pure_random_packets():
    rng = random.Random(SEED + 1)
    eng = engine()
    count = 0
    for _ in range(20_000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        if len(data) > 2 and rng.random() < 0.5:
            data = data[:2] + bytes([data[2] & 0x07]) + data[3:]  # QR=0, opcode 0: gets past the first checks
        for a in eng.on_query(data, "192.168.1.2", None, float(count)):
            if isinstance(a, Send):
                check_reply(data, a.wire, False)
        count += 1
    assert count == 20_000


SUFFIXES = [b"\x03ads\x04test\x00", b"\x09localhost\x00", b"\x07in-addr\x04arpa\x00", b"\x03ip6\x04arpa\x00",
            b"\x08resolver\x04arpa\x00", b"\x00", b"\x09dnsfilter\x03lan\x00", b"\x07example\x03com\x00"]


def test_fuzz_well_formed_queries_with_odd_names():
    """Structure-aware: valid framing, names of arbitrary bytes under interesting suffixes, any
    type/class/flags and random OPT fields, so that every query reaches local, policy and cache."""
    rng = random.Random(SEED + 2)
    eng = engine()
    now = 5000.0
    count = 0
    while count < 50_000:
        labels = [bytes(rng.randrange(256) for _ in range(rng.choice((1, 1, 2, 3, 10, 63))))
                  for _ in range(rng.randrange(0, 5))]
        name = b"".join(bytes((len(lab),)) + lab for lab in labels) + rng.choice(SUFFIXES)
        if len(name) > 255:
            continue
        qtype = rng.choice((1, 28, 12, 6, 65, 255, 252, rng.randrange(65536)))
        qclass = rng.choice((1, 1, 255, 3, rng.randrange(65536)))
        ar = rng.random() < 0.7
        data = (wire.header(rng.randrange(65536), rng.randrange(65536) & ~0xF800, 1, 0, 0, int(ar)) + name
                + struct.pack(">HH", qtype, qclass))
        if ar:
            ttl = rng.choice((0, 0x8000, rng.randrange(2**32)))
            data += b"\x00" + struct.pack(">HHIH", 41, rng.randrange(65536), ttl, 0)
        tcp = rng.random() < 0.1
        for a in eng.on_query(data, rng.choice(CLIENTS), None, now, tcp=tcp,
                              local_addr=rng.choice((None, "192.168.1.1", "fd00::1"))):
            if isinstance(a, Send):
                check_reply(data, a.wire, tcp)
            else:
                for b in eng.on_upstream(a, upstream_reply(rng, a), now):
                    assert isinstance(b, Send) and b.wire[2] & 0x80
        now += 0.5
        count += 1
    assert count == 50_000
    assert eng.stats.outcomes["resolved"] > 1000 and eng.stats.outcomes["blocked"] > 1000
    assert eng.stats.outcomes["local"] > 1000
