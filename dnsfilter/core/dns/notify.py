"""NOTIFY (RFC 1996) for the feeds followed by zone transfer: a pure decision.

A primary that changed a zone sends NOTIFY (opcode 4) to its secondaries. The daemon accepts
one only for the zone of a configured xfr:// feed, only from that feed's primary, and, when the
feed has a TSIG key, only signed with that key; then its sync starts at once (the shell does
that). Anything else is refused, counted, and triggers nothing.

The query path never pays for this: `wire.parse_query` refuses every opcode but QUERY, and the
engine looks at the opcode only on that error path. The TSIG check itself needs HMAC over the
message as RFC 8945 defines it, and the signed answer a signed NOTIFY deserves: the shell
supplies it (`Verifier`, dnspython, imported the first time a signed NOTIFY arrives).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import F_AA, F_QR, WireError

OPCODE_NOTIFY = 4
RCODE_NOTAUTH = 9
_HDR = struct.Struct(">HHHHHH")
T_TSIG = 250


@dataclass(frozen=True, slots=True)
class NotifyZone:
    feed: str
    primary: str  # the only address a NOTIFY for the zone is accepted from
    key: str | None = None  # the TSIG key's name (lower case, no final dot), when the feed has one


@dataclass(frozen=True, slots=True)
class Notify:
    """A NOTIFY as read from the wire."""

    id: int
    flags: int
    zone: bytes  # lower-cased wire name
    question: bytes  # as sent
    key: str | None  # the name of the TSIG key it is signed with, if any


@dataclass(frozen=True, slots=True)
class NotifyDecision:
    result: str  # accepted | unknown_zone | wrong_source | bad_tsig
    reply: bytes  # what to send back
    feed: str | None = None  # the feed to sync now (accepted only)


# (NOTIFY message, the zone's entry) -> the signed NOERROR answer, or None when the message's
# TSIG does not verify with the zone's key
Verifier = Callable[[bytes, NotifyZone], bytes | None]


def opcode(buf: bytes) -> int:
    return (buf[2] >> 3) & 0xF if len(buf) >= 3 else -1


def read_notify(buf: bytes) -> Notify:
    """Read a NOTIFY request. Raises WireError for what is not one."""
    if len(buf) < 12:
        raise WireError("shorter than a header", None)
    qid, flags, qd, _an, _ns, ar = _HDR.unpack_from(buf)
    if flags & F_QR or opcode(buf) != OPCODE_NOTIFY:
        raise WireError("not a NOTIFY request", None)
    if qd != 1:
        raise WireError(f"QDCOUNT is {qd}")
    labels, off = wire.read_name(buf, 12)
    if off + 4 > len(buf):
        raise WireError("question runs past the end")
    if struct.unpack_from(">H", buf, off)[0] != wire.T_SOA:
        raise WireError("a NOTIFY is about a zone's SOA")
    question = buf[12 : off + 4]
    return Notify(qid, flags, wire.labels_to_wire([x.lower() for x in labels]), question,
                  _tsig_key(buf) if ar else None)


def _tsig_key(buf: bytes) -> str | None:
    """The key name of the TSIG record that ends a message (RFC 8945: the last additional
    record), or None. A malformed message reads as unsigned: it is then refused."""
    try:
        r = wire.parse_response(bytes([buf[0], buf[1], buf[2] | 0x80]) + buf[3:])  # walk it as a message
    except WireError:
        return None
    if not r.records or r.records[-1].rtype != T_TSIG or r.records[-1].section != 3:
        return None
    labels, _ = wire.read_name(buf, r.records[-1].name_off)
    return b".".join(x.lower() for x in labels).decode("ascii", "replace")


def reply(n: Notify, rcode: int) -> bytes:
    """RFC 1996 4.7: the same ID and opcode, QR set, the question echoed."""
    flags = F_QR | F_AA | (OPCODE_NOTIFY << 11) | (n.flags & wire.F_RD) | rcode
    return _HDR.pack(n.id, flags, 1, 0, 0, 0) + n.question


class NotifyPolicy:
    """The zones of the configured xfr:// feeds, by wire name."""

    def __init__(self, zones: dict[bytes, NotifyZone], verifier: Verifier | None = None) -> None:
        self.zones = zones
        self.verifier = verifier  # set by the shell; without one a signed zone accepts nothing

    def decide(self, data: bytes, source: str) -> NotifyDecision:
        """What to do with NOTIFY `data` from address `source`. Raises WireError when the
        message cannot be read as a NOTIFY."""
        n = read_notify(data)
        zone = self.zones.get(n.zone)
        if zone is None:
            return NotifyDecision("unknown_zone", reply(n, wire.RCODE_REFUSED))
        if _plain(source) != zone.primary:
            return NotifyDecision("wrong_source", reply(n, wire.RCODE_REFUSED))
        if zone.key is None:
            return NotifyDecision("accepted", reply(n, wire.RCODE_NOERROR), zone.feed)
        if n.key != zone.key or self.verifier is None:
            return NotifyDecision("bad_tsig", reply(n, RCODE_NOTAUTH))
        signed = self.verifier(data, zone)
        if signed is None:
            return NotifyDecision("bad_tsig", reply(n, RCODE_NOTAUTH))
        return NotifyDecision("accepted", signed, zone.feed)


def _plain(address: str) -> str:
    """An IPv4-mapped IPv6 source (a dual-stack socket) as the IPv4 address it is."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address.partition("%")[0]
