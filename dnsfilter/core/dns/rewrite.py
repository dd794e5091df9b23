"""Rewritten answers (safe search): `www.google.kz CNAME forcesafesearch.google.com` followed
by the target's own records, as resolved upstream and cached under the target's name.

The target's cached records were compressed against the target's question, so they are
re-encoded without compression before they follow the client's (different) question.
"""

from __future__ import annotations

import struct

from dnsfilter.core.cache import Entry
from dnsfilter.core.dns import codec, wire
from dnsfilter.core.dns.scrub import expand_rdata
from dnsfilter.core.dns.wire import Query


def expanded_answers(target: bytes, qtype: int, qclass: int, e: Entry, now: float) -> tuple[bytes, int]:
    """The answer-section records of a cached entry, uncompressed, TTLs counted down."""
    body = e.render(now)
    packet = (wire.header(0, wire.F_QR, 1, *e.counts) + target + struct.pack(">HH", qtype, qclass) + body)
    r = wire.parse_response(packet)
    out = []
    for rec in r.records:
        if rec.section != 1:
            continue
        owner, _ = wire.read_name(packet, rec.name_off)
        rdata = expand_rdata(packet, rec)
        out.append(wire.rr(rec.rtype, rec.ttl, rdata, owner=wire.labels_to_wire(owner), rclass=rec.rclass))
    return b"".join(out), len(out)


def cname_reply(q: Query, target: bytes, e: Entry, now: float, max_size: int, ttl: int = 300) -> bytes:
    """The client's question answered by a CNAME to `target` plus the target's answers. An
    upstream failure for the target (an rcode other than NOERROR) is passed on."""
    records, n = expanded_answers(target, q.qtype, q.qclass, e, now)
    cname = wire.rr(wire.T_CNAME, min(ttl, e.ttl or ttl), target)
    return codec.reply(q, e.rcode, cname + records, (1 + n, 0, 0), max_size=max_size)
