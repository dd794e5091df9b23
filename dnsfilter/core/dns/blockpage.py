"""Blocked answers that lead to the block page: for a profile with `block_page = true`, A and
AAAA of a blocked name answer with the portal's address on the interface the query arrived on,
so a plain-HTTP visit reaches the appliance's block page, which says why (docs/portal.md).

Which address: the portal's address on the same interface as the DNS listener the query came
to (`by_local`, from the listener's address); a query that came through a wildcard listener or
a local forwarder (dnsmasq on 127.0.0.1) goes by the client's address, to the portal address
of the interface whose network holds it (`nets`); failing both, the only portal address there
is (`single`). No portal address for a family: AAAA (or A) is answered with no data, never `::`,
so the browser uses the other family and still reaches the page. HTTPS/SVCB and the other
types keep the ordinary block answer.

The answer depends on the interface: it may be prebuilt in the profile's fast-path table only
when every interface gives the same one (`fixed`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from dnsfilter.core.dns import codec, wire
from dnsfilter.core.dns.wire import Query

Pair = tuple[str | None, str | None]  # (IPv4, IPv6) of the portal on one interface
_Records = tuple[bytes | None, bytes | None]
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockPage:
    def __init__(self, profiles: Iterable[str], by_local: Mapping[str, Pair],
                 nets: Iterable[tuple[str, Pair]] = (), ttl: int = 10) -> None:
        self.profiles = frozenset(profiles)
        self.ttl = ttl
        self._by_local = {_plain(h): self._records(p) for h, p in by_local.items() if p != (None, None)}
        self._nets: list[tuple[_Net, _Records]] = sorted(
            ((ipaddress.ip_network(n, strict=False), self._records(p)) for n, p in nets if p != (None, None)),
            key=lambda t: -t[0].prefixlen)
        pairs = {r for r in self._by_local.values()} | {r for _n, r in self._nets}
        self.single: _Records | None = next(iter(pairs)) if len(pairs) == 1 else None
        self.fixed = self.single is not None  # one answer whatever the interface: the fast path may hold it

    def _records(self, pair: Pair) -> _Records:
        v4, v6 = pair
        return (wire.rr(wire.T_A, self.ttl, ipaddress.IPv4Address(v4).packed) if v4 else None,
                wire.rr(wire.T_AAAA, self.ttl, ipaddress.IPv6Address(v6).packed) if v6 else None)

    def __bool__(self) -> bool:
        return bool(self.profiles) and (bool(self._by_local) or bool(self._nets))

    def records(self, local: str | None, client: str | None) -> _Records | None:
        """The portal's A and AAAA records for a query that came to listener `local` from
        `client` (the device's address), or None when no portal address fits."""
        addr = _address(client)
        if local is not None:
            hit = self._by_local.get(local)
            # a loopback listener answers a LAN device only through a forwarder on this host
            # (dnsmasq): the page must be on the device's LAN, not on loopback
            if hit is not None and not (addr is not None and not addr.is_loopback and _is_loopback(local)):
                return hit
        if addr is not None:
            for net, recs in self._nets:
                if addr.version == net.version and addr in net:
                    return recs
        return self.single

    def build(self, q: Query, ede: tuple[int, str], max_size: int, recs: _Records) -> bytes | None:
        """The block answer pointing at the portal, or None for a type it does not cover."""
        if q.qtype == wire.T_A:
            rec = recs[0]
        elif q.qtype == wire.T_AAAA:
            rec = recs[1]
        else:
            return None
        if rec is None:  # no portal address of this family: no data, so the other family is used
            return codec.reply(q, wire.RCODE_NOERROR, ede=ede, max_size=max_size)
        return codec.reply(q, wire.RCODE_NOERROR, rec, (1, 0, 0), ede=ede, max_size=max_size)


def _plain(host: str) -> str:
    return host.partition("%")[0]


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text is None:
        return None
    try:
        addr = ipaddress.ip_address(_plain(text))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _is_loopback(host: str) -> bool:
    a = _address(host)
    return a is not None and a.is_loopback
