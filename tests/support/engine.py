"""Drive dnsfilter.core.engine without sockets: an engine built from a config dict and
in-memory feed sets, wire queries in, hand-built upstream answers (dnslib) fed back through
on_upstream. `now` is a plain float."""

from __future__ import annotations

import struct

import dnslib

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.dns import wire
from dnsfilter.core.engine import Engine, Forward, Send
from dnsfilter.core.fastpath import restamp
from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key
from dnsfilter.core.policy.matcher import Matcher

CLIENT = "192.168.1.2"


def compiled(*names: str) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in names)))


def make(dns: dict | None = None, **over) -> Engine:
    cfg = {"dns": {"allowed_clients": ["192.168.0.0/16", "127.0.0.0/8", "::1/128", "fd00::/8"], **(dns or {})},
           "feeds": [{"name": "ads", "url": "/a", "category": "ads"},
                     {"name": "adult", "url": "/b", "category": "adult"},
                     {"name": "gov", "url": "/c", "category": "authority"}],
           "filter": {"deny": ["denied.test"]}}
    cfg.update(over)
    m = Matcher({"ads": compiled("ads.test", "tracker.test"), "adult": compiled("adult.test"),
                 "gov": compiled("banned.test")})
    return build_engine(from_dict(cfg), m)


def q(name: str = "www.example.com", qtype: int | str = 1, *, qid: int = 7, edns: bool = True, do: bool = False,
      cd: bool = False, ad: bool = False, payload: int = 1232, qclass: int = 1, version: int = 0) -> bytes:
    qt = getattr(dnslib.QTYPE, qtype) if isinstance(qtype, str) else qtype
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=qid, rd=1, cd=int(cd), ad=int(ad)),
                         q=dnslib.DNSQuestion(name, qt, qclass))
    if edns:
        r.add_ar(dnslib.EDNS0(udp_len=payload, flags="do" if do else "", version=version))
    return bytes(r.pack())


def ask(eng: Engine, data: bytes, now: float = 0.0, ip: str = CLIENT, to: object = "c", **kw):
    return eng.on_query(data, ip, to, now, **kw)


def sends(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def forwards(actions) -> list[Forward]:
    return [a for a in actions if isinstance(a, Forward)]


def reply_of(actions) -> dnslib.DNSRecord:
    s = sends(actions)
    assert len(s) == 1, actions
    return dnslib.DNSRecord.parse(s[0].wire)


def ede(r: dnslib.DNSRecord) -> tuple[int, str] | None:
    for rr in r.ar:
        if rr.rtype == 41:
            for opt in rr.rdata:
                if opt.code == 15:
                    return struct.unpack(">H", opt.data[:2])[0], opt.data[2:].decode()
    return None


def opt(r: dnslib.DNSRecord):
    found = [rr for rr in r.ar if rr.rtype == 41]
    return found[0] if found else None


def upstream(fwd: Forward, *zone: str, rcode: int = 0, auth: tuple[str, ...] = (), tc: bool = False,
             ad: bool = False) -> bytes:
    """The answer an upstream gives to the query the shell sends for `fwd`."""
    query = wire.build_query(0x5151, fwd.qname, fwd.qtype, fwd.qclass, do=fwd.do, cd=fwd.cd)
    r = dnslib.DNSRecord.parse(query).reply()
    r.header.rcode = rcode
    r.header.tc = int(tc)
    r.header.ad = int(ad)
    for line in zone:
        r.add_answer(*dnslib.RR.fromZone(line))
    for line in auth:
        r.add_auth(*dnslib.RR.fromZone(line))
    return bytes(r.pack())


def resolve(eng: Engine, data: bytes, now: float, *zone: str, **kw) -> dnslib.DNSRecord:
    """Query, check it is forwarded, answer it from `zone`, return the client's reply."""
    acts = ask(eng, data, now)
    [fwd] = forwards(acts)
    return reply_of(eng.on_upstream(fwd, upstream(fwd, *zone, **kw), now))


def hot_loop(eng: Engine, data: bytes, ip: str = CLIENT, now: float = 0.0) -> bytes | None:
    """What the UDP hot loop (shell/server.py) sends for `data` from `ip` at once: a fast-table
    replay, or a first sight's blocked answer (None: an allowed name going on to the cache or
    upstream, or on_query's turn). The loop's steps, without the sockets and the rate limit."""
    slot = eng.fast.clients.get(ip)
    if slot is None:
        return None
    key = data[2:]
    e = slot.table.get(key)
    if e is None:
        first = eng.first_sight(slot, key, now)
        e = first if isinstance(first, tuple) else None
    elif e[1] <= now:
        e = restamp(e, now)
    return None if e is None else data[:2] + e[0]
