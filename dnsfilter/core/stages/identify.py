"""Stage 1 — who is asking: access control, the client's profile and its rate limit."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from dnsfilter.core.ratelimit import TokenBucket

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class DeviceRule:
    network: Network
    profile: str


@dataclass(slots=True)
class ClientState:
    ip: str
    profile: str
    bucket: TokenBucket | None


_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def as_network(value: str | Network) -> Network:
    """A network, with IPv4-mapped IPv6 ones (::ffff:a.b.c.d/120) written as IPv4, as the
    client addresses they must match are."""
    net = value if not isinstance(value, str) else ipaddress.ip_network(value, strict=False)
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        v4 = ipaddress.IPv4Address(int(net.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network(f"{v4}/{net.prefixlen - 96}")
    return net


def _nets(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(as_network(v) for v in values)


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class Identify:
    def __init__(self, allowed: Iterable[str], exempt: Iterable[str], devices: Iterable[DeviceRule],
                 default_profile: str, rate: float, burst: float, max_clients: int = 65536) -> None:
        self.allowed = _nets(allowed)
        self.exempt = _nets(exempt)
        # Most specific device rule first: an ip beats the cidr that holds it.
        self.devices = sorted((DeviceRule(as_network(d.network), d.profile) for d in devices),
                              key=lambda d: -d.network.prefixlen)
        self.default_profile = default_profile
        self.rate, self.burst = rate, burst
        self.max_clients = max_clients
        self._known: dict[str, ClientState | None] = {}

    def client(self, ip: str, now: float) -> ClientState | None:
        """The client's state, or None when it may not use this resolver."""
        if ip in self._known:
            return self._known[ip]
        try:
            addr = _address(ip)
        except ValueError:
            return None
        state: ClientState | None = None
        if any(addr in n for n in self.allowed if n.version == addr.version):
            profile = next((d.profile for d in self.devices
                            if d.network.version == addr.version and addr in d.network), self.default_profile)
            limited = self.rate > 0 and not any(addr in n for n in self.exempt if n.version == addr.version)
            state = ClientState(ip, profile, TokenBucket(self.rate, self.burst, now) if limited else None)
        if len(self._known) >= self.max_clients:
            self._known.clear()
        self._known[ip] = state
        return state
