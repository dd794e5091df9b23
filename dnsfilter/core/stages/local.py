"""Names the appliance answers itself, never forwarding them upstream.

- `localhost` and names below it (RFC 6761);
- the appliance's own name, with the address the query arrived on;
- private reverse zones (RFC 6303, RFC 7793): NXDOMAIN with the zone's SOA, so that PTR
  lookups for LAN addresses never leak to public resolvers;
- `resolver.arpa` (RFC 9462): NODATA — no designated encrypted resolver is offered;
- `use-application-dns.net`: NXDOMAIN, the canary that keeps Firefox on this resolver.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from dnsfilter.core.dns import codec, wire
from dnsfilter.core.dns.wire import Query
from dnsfilter.core.model import Outcome, Reason

LOCAL_TTL: Final = 300  # answers about ourselves may change with the LAN address
RFC6303_TTL: Final = 10800


def _rfc6303_zones() -> list[str]:
    zones = ["0.in-addr.arpa", "127.in-addr.arpa", "10.in-addr.arpa", "254.169.in-addr.arpa",
             "168.192.in-addr.arpa", "2.0.192.in-addr.arpa", "100.51.198.in-addr.arpa",
             "113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
             "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
             "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
             "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa",
             "8.b.d.0.1.0.0.2.ip6.arpa"]
    zones += [f"{i}.172.in-addr.arpa" for i in range(16, 32)]
    zones += [f"{i}.100.in-addr.arpa" for i in range(64, 128)]  # RFC 6598 shared space (RFC 7793)
    return zones


RFC6303_SET: Final = frozenset(wire.text_to_wire(z) for z in _rfc6303_zones())
LOCALHOST: Final = wire.text_to_wire("localhost")
RESOLVER_ARPA: Final = wire.text_to_wire("resolver.arpa")
CANARY: Final = wire.text_to_wire("use-application-dns.net")
LOOPBACK_PTR: Final = wire.text_to_wire("1.0.0.127.in-addr.arpa")
LOOPBACK6_PTR: Final = wire.text_to_wire("1." + "0." * 31 + "ip6.arpa")
# Every zone answer() serves ends with one of these bytes: one C call turns away the other
# names (nearly all of them) before the label-by-label checks.
_SUFFIXES: Final = (LOCALHOST, RESOLVER_ARPA, CANARY, b"\x04arpa\x00")
_LAST: Final = frozenset((LOCALHOST, b"\x04arpa\x00", b"\x03net\x00"))  # their last labels


def _under(qname: bytes, zone: bytes) -> bool:
    """True when qname is zone or below it, on a label boundary."""
    if not qname.endswith(zone):
        return False
    cut = len(qname) - len(zone)
    if cut == 0:
        return True
    i = 0
    while i < cut:  # walk labels so that a suffix inside a label never matches
        i += qname[i] + 1
    return i == cut


class LocalZones:
    def __init__(self, hostname: str) -> None:
        self.hostname = wire.text_to_wire(hostname)
        self.host_text = hostname

    def owns(self, qname: bytes, last: int = -1) -> bool:
        """Whether `answer` may answer this name (False for nearly every name, in one C call).
        `last`: the offset of the name's last label, when the caller has it (the UDP loop's
        first sights): most names stop at its set lookup, cheaper compiled than endswith."""
        if qname == self.hostname:
            return True
        if last >= 0 and qname[last:] not in _LAST:
            return False
        return qname.endswith(_SUFFIXES)

    def answer(self, q: Query, local_addr: str | None, max_size: int) -> tuple[bytes, Outcome, Reason] | None:
        n = q.qname
        if q.qclass not in (wire.C_IN, wire.C_ANY):  # class ANY must not leak local names either
            return None
        if not self.owns(n):
            return None
        if _under(n, LOCALHOST):
            return self._addresses(q, "127.0.0.1", "::1", max_size), Outcome.LOCAL, Reason("localhost")
        if n == self.hostname:
            v4 = v6 = None
            if local_addr:
                ip = ipaddress.ip_address(local_addr)
                if not ip.is_unspecified:
                    v4, v6 = (str(ip), None) if ip.version == 4 else (None, str(ip))
            return self._addresses(q, v4, v6, max_size), Outcome.LOCAL, Reason("the appliance's own name")
        if _under(n, RESOLVER_ARPA):
            return (codec.negative(q, wire.RCODE_NOERROR, None, 0, max_size), Outcome.LOCAL,
                    Reason("resolver.arpa: no designated resolver"))
        if _under(n, CANARY):
            return (codec.negative(q, wire.RCODE_NXDOMAIN, None, 0, max_size), Outcome.LOCAL,
                    Reason("use-application-dns.net canary: keep using this resolver"))
        if n.endswith(b"\x04arpa\x00"):
            return self._reverse(q, max_size)
        return None

    def _addresses(self, q: Query, v4: str | None, v6: str | None, max_size: int) -> bytes:
        record = b""
        if q.qtype == wire.T_A and v4:
            record = wire.rr(wire.T_A, LOCAL_TTL, ipaddress.IPv4Address(v4).packed)
        elif q.qtype == wire.T_AAAA and v6:
            record = wire.rr(wire.T_AAAA, LOCAL_TTL, ipaddress.IPv6Address(v6).packed)
        return codec.reply(q, wire.RCODE_NOERROR, record, (1 if record else 0, 0, 0), flags=wire.F_AA,
                           max_size=max_size)

    def _reverse(self, q: Query, max_size: int) -> tuple[bytes, Outcome, Reason] | None:
        n = q.qname
        zone = _enclosing(n, RFC6303_SET)
        if zone is not None:
            reason = Reason("private address: answered locally (RFC 6303)", rule=wire.wire_to_text(zone))
            if q.qtype == wire.T_PTR and n in (LOOPBACK_PTR, LOOPBACK6_PTR):
                rec = wire.rr(wire.T_PTR, RFC6303_TTL, LOCALHOST)
                return (codec.reply(q, wire.RCODE_NOERROR, rec, (1, 0, 0), flags=wire.F_AA, max_size=max_size),
                        Outcome.LOCAL, reason)
            if n == zone and q.qtype == wire.T_SOA:
                rec = wire.rr(wire.T_SOA, RFC6303_TTL, codec.soa_rdata(zone, RFC6303_TTL))
                return (codec.reply(q, wire.RCODE_NOERROR, rec, (1, 0, 0), flags=wire.F_AA, max_size=max_size),
                        Outcome.LOCAL, reason)
            rcode = wire.RCODE_NOERROR if n == zone else wire.RCODE_NXDOMAIN
            return codec.negative(q, rcode, zone, RFC6303_TTL, max_size), Outcome.LOCAL, reason
        return None


def _enclosing(name: bytes, zones: frozenset[bytes]) -> bytes | None:
    """The zone of `zones` that holds `name` (walking its suffixes on label boundaries)."""
    i = 0
    while name[i]:
        if name[i:] in zones:
            return name[i:]
        i += name[i] + 1
    return None
