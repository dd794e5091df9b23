"""A fuzz run of the packet path: 120k mutated and random packets through Engine.on_query
(and the answers through on_upstream). Seeded and count-bounded; the engine must never raise."""

from __future__ import annotations

import random

import dnslib

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core import wire
from dnsfilter.core.engine import Forward, Send
from dnsfilter.core.feedset import B_SUB, FeedSet, blake_hash, build
from dnsfilter.core.matcher import Matcher

N = 120_000


def seeds() -> list[bytes]:
    out = [wire.build_query(7, wire.text_to_wire(n), t, do=do)
           for n in ("www.example.com", "ads.example.test", "localhost", "1.1.168.192.in-addr.arpa", "a.b.c.d.e.f")
           for t in (1, 28, 12, 65) for do in (False, True)]
    out.append(dnslib.DNSRecord.question("x.test", "TXT").pack())
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b = b[: rng.randrange(len(b) + 1)]
    elif kind == 2:
        b[rng.randrange(len(b) + 1) : rng.randrange(len(b) + 1)] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 20)))
    elif kind == 3 and len(b) > 12:
        b[rng.randrange(12, len(b))] = rng.choice([0xC0, 0x3F, 0x40, 0xFF, 0x00])
    elif kind == 4:
        b = bytearray(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    else:
        b[2:4] = rng.getrandbits(16).to_bytes(2, "big")
    return bytes(b)


def test_fuzz_packet_path_never_raises():
    lst = FeedSet.from_buffer(b"".join(build([(blake_hash(b"ads.example.test"), B_SUB)])))
    cfg = from_dict({"feeds": [{"name": "ads", "url": "/x", "category": "ads"}], "dns": {"ratelimit_qps": 0}})
    eng = build_engine(cfg, Matcher({"ads": lst}))
    rng = random.Random(1128)
    base = seeds()
    sent = forwarded = 0
    for i in range(N):
        data = mutate(rng, rng.choice(base))
        ip = rng.choice(["127.0.0.1", "192.168.1.7", "8.8.8.8", "::1", "fe80::1%eth0"])
        actions = eng.on_query(data, ip, None, 1000.0 + i / 1000, tcp=rng.random() < 0.1)
        for a in actions:
            if isinstance(a, Send):
                sent += 1
                assert len(a.wire) >= 12
            elif isinstance(a, Forward):
                forwarded += 1
                # the upstream answers with garbage, a mutated answer, or nothing at all
                reply = rng.choice([None, mutate(rng, data), b"\x81\x80" + data[2:]])
                eng.on_upstream(a, reply, 1000.0 + i / 1000)
    assert sent > N // 4 and forwarded > 100
    assert eng.waiting == 0 or eng.waiting <= eng.opt.max_inflight
