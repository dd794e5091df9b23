"""Reply builders: every answer the appliance writes itself goes through here.

Replies echo the client's question bytes exactly (0x20 case kept), copy RD and CD, set RA,
carry an OPT record (payload 1232, DO echoed) only when the query had one, add an RFC 8914
EDE option when there is a reason to give, and are truncated with TC=1 when they do not
fit the client's payload.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import F_AA, F_AD, F_CD, F_QR, F_RA, F_RD, F_TC, Query
from dnsfilter.core.model import PolicyAction

OUR_PAYLOAD: Final = 1232
_HDR: Final = struct.Struct(">HHHHHH")
_TAIL: Final = struct.Struct(">HHHHH")  # a header without its ID
_ECHOED: Final = F_RD | F_CD  # the query flags a reply echoes


def reply(q: Query, rcode: int, body: bytes = b"", counts: tuple[int, int, int] = (0, 0, 0), *,
          flags: int = 0, ede: tuple[int, str] | None = None, max_size: int = 65535) -> bytes:
    """A complete reply to `q`. `body` holds the records after the question, `counts` their
    numbers per section (answer, authority, additional without OPT)."""
    hflags = F_QR | F_RA | (q.flags & (F_RD | F_CD)) | flags | (rcode & 0xF)
    opt = b"" if q.edns is None else _opt(q.edns.do, ede, rcode >> 4)
    an, ns, ar = counts
    total = 12 + len(q.question) + len(body) + len(opt)
    if total > max_size:
        # Truncated: the question (and OPT) only, so the client retries over TCP.
        return _HDR.pack(q.id, hflags | F_TC, 1, 0, 0, 1 if opt else 0) + q.question + opt
    return _HDR.pack(q.id, hflags, 1, an, ns, ar + (1 if opt else 0)) + q.question + body + opt


_OPTS: Final[dict[tuple[bool, tuple[int, str] | None, int], bytes]] = {}


def _opt(do: bool, ede: tuple[int, str] | None, ext_rcode: int) -> bytes:
    """Our OPT record, memoised: the same few (DO, EDE) pairs recur for every blocked name."""
    key = (do, ede, ext_rcode)
    opt = _OPTS.get(key)
    if opt is None:
        if len(_OPTS) > 4096:
            _OPTS.clear()
        options = wire.ede_option(ede[0], ede[1]) if ede else b""
        opt = _OPTS[key] = wire.opt_record(OUR_PAYLOAD, do, options, ext_rcode)
    return opt


def error_from_header(buf: bytes, rcode: int) -> bytes | None:
    """FORMERR/NOTIMP for a packet whose question could not be read: the header only, with
    its ID, opcode and RD echoed. None when not even a header is there."""
    if len(buf) < 12:
        return None
    qid, flags = struct.unpack_from(">HH", buf)
    if flags & F_QR:
        return None
    out_flags = F_QR | (flags & (wire.OPCODE_MASK | F_RD)) | (rcode & 0xF)
    return _HDR.pack(qid, out_flags, 0, 0, 0, 0)


def badvers(q: Query) -> bytes:
    """RFC 6891: a query with an EDNS version above 0 gets BADVERS and our version 0."""
    return reply(q, wire.RCODE_BADVERS)


# ---------------------------------------------------------------- blocked answers


class BlockAnswer:
    """How blocked names are answered: `null` (0.0.0.0 / :: / NODATA), `nxdomain`, `refused`,
    or fixed addresses (`ip`). The records are prebuilt once per config."""

    def __init__(self, kind: str, ipv4: str | None = None, ipv6: str | None = None, ttl: int = 10) -> None:
        self.kind = kind
        self.ttl = ttl
        if kind == "null":
            ipv4, ipv6 = "0.0.0.0", "::"
        # tail's parts: by EDE text, then by shape (flags, type, code, OPT, DO) as one int.
        # Two lookups by a str (its hash cached) and a small int cost a third of one by a tuple
        # of five, hashed and compared item by item.
        self._parts: dict[str, dict[int, tuple[bytes, bytes]]] = {}
        self._count = 0
        self.a = wire.rr(wire.T_A, ttl, ipaddress.IPv4Address(ipv4).packed) if ipv4 else None
        self.aaaa = wire.rr(wire.T_AAAA, ttl, ipaddress.IPv6Address(ipv6).packed) if ipv6 else None

    def build(self, q: Query, ede: tuple[int, str], max_size: int) -> bytes:
        if self.kind == "nxdomain":
            return reply(q, wire.RCODE_NXDOMAIN, ede=ede, max_size=max_size)
        if self.kind == "refused":
            return reply(q, wire.RCODE_REFUSED, ede=ede, max_size=max_size)
        record = self.a if q.qtype == wire.T_A else self.aaaa if q.qtype == wire.T_AAAA else None
        if record is None:  # NODATA: e.g. HTTPS/SVCB/MX of a blocked name
            return reply(q, wire.RCODE_NOERROR, ede=ede, max_size=max_size)
        return reply(q, wire.RCODE_NOERROR, record, (1, 0, 0), ede=ede, max_size=max_size)

    def tail(self, flags: int, question: bytes, qtype: int, opt: bool, do: bool, code: int, text: str) -> bytes:
        """What `build` answers a plain query (core/dns/question.py) without its 2 ID bytes,
        from the query's own parts: its flags, its question as sent and whether it had an OPT
        record; the EDE is (code, text). Never truncated: a name of 255 octets, the record and
        the longest EDE text still fit the 512 bytes of a query without EDNS. What comes before
        and after the question is the same for every name of a feed: written once per shape,
        kept here."""
        shapes = self._parts.get(text)
        if shapes is None:
            shapes = self._parts[text] = {}
        # flags & _ECHOED < 2**9, code and qtype < 2**16: a machine int
        shape = (flags & _ECHOED) << 34 | code << 18 | qtype << 2 | (2 if opt else 0) | (1 if do else 0)
        parts = shapes.get(shape)
        if parts is None:
            if self._count >= 4096:  # bounded: EDE texts of rules and CNAME blocks vary, and types
                self._parts.clear()
                self._count = 0
                shapes = self._parts[text] = {}
            parts = shapes[shape] = self._tail_parts(flags, qtype, opt, do, (code, text))
            self._count += 1
        return parts[0] + question + parts[1]

    def _tail_parts(self, flags: int, qtype: int, opt: bool, do: bool, ede: tuple[int, str]) -> tuple[bytes, bytes]:
        if self.kind == "nxdomain":
            rcode, record = wire.RCODE_NXDOMAIN, None
        elif self.kind == "refused":
            rcode, record = wire.RCODE_REFUSED, None
        else:
            rcode = wire.RCODE_NOERROR
            record = self.a if qtype == wire.T_A else self.aaaa if qtype == wire.T_AAAA else None
        hflags = F_QR | F_RA | (flags & _ECHOED) | rcode
        head = _TAIL.pack(hflags, 1, 0 if record is None else 1, 0, 1 if opt else 0)
        return head, (record or b"") + (_opt(do, ede, 0) if opt else b"")


def action_reply(q: Query, action: PolicyAction, ede: tuple[int, str], max_size: int, ttl: int) -> bytes | None:
    """The answer a policy zone's action gives (None: "drop", no answer at all). Local data
    answers the records of the asked type (all of them for ANY), or its CNAME (the engine
    resolves a CNAME's target itself when it can: see Engine), or NODATA."""
    kind = action.kind
    if kind == "nxdomain":
        return reply(q, wire.RCODE_NXDOMAIN, ede=ede, max_size=max_size)
    if kind == "nodata":
        return reply(q, wire.RCODE_NOERROR, ede=ede, max_size=max_size)
    if kind == "tcp-only":  # truncated and empty: the client asks again over TCP
        return reply(q, wire.RCODE_NOERROR, flags=F_TC, ede=ede, max_size=max_size)
    if kind != "local":
        return None
    records = [wire.rr(t, ttl, data) for t, data in action.records if t == q.qtype or q.qtype == wire.T_ANY]
    if not records and action.cname is not None:
        records = [wire.rr(wire.T_CNAME, ttl, action.cname)]
    return reply(q, wire.RCODE_NOERROR, b"".join(records), (len(records), 0, 0), ede=ede, max_size=max_size)


def soa_rdata(zone: bytes, minimum: int) -> bytes:
    """A synthetic SOA for the appliance's own zones (RFC 6303 style values)."""
    return (zone + b"\x06nobody\x07invalid\x00"
            + struct.pack(">IIIII", 1, 604800, 86400, 2419200, minimum))


def negative(q: Query, rcode: int, zone: bytes | None, ttl: int, max_size: int,
             ede: tuple[int, str] | None = None, flags: int = F_AA) -> bytes:
    """NXDOMAIN or NODATA, with an SOA of `zone` in the authority section when given."""
    if zone is None:
        return reply(q, rcode, flags=flags, ede=ede, max_size=max_size)
    soa = wire.rr(wire.T_SOA, ttl, soa_rdata(zone, ttl), owner=zone)
    return reply(q, rcode, soa, (0, 1, 0), flags=flags, ede=ede, max_size=max_size)


KEEP_FLAGS: Final = F_AA | F_AD
