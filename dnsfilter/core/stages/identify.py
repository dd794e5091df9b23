"""Stage 1 — who is asking: access control, the client's profile and its rate limit."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

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
    device: str = ""  # what budgets and pauses count by: the MAC when known, else the address
    mac: str | None = None


class MacLookup(Protocol):
    """The shell's neighbour-table snapshot: a dict read per call, `version` bumped on change."""

    version: int

    def mac_of(self, ip: str) -> str | None: ...


_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv6 by type too: subnet_of needs the same version


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
                 default_profile: str, rate: float, burst: float, max_clients: int = 65536,
                 macs: Mapping[str, str] | None = None, neighbours: MacLookup | None = None,
                 trusted: Iterable[str] = ()) -> None:
        self.allowed = _nets(allowed)
        self.exempt = _nets(exempt)
        # Most specific device rule first: an ip beats the cidr that holds it.
        self.devices = sorted((DeviceRule(as_network(d.network), d.profile) for d in devices),
                              key=lambda d: -d.network.prefixlen)
        self.default_profile = default_profile
        self.rate, self.burst = rate, burst
        self.max_clients = max_clients
        self.macs = dict(macs or {})  # MAC -> profile, from [[devices]]
        self.neighbours = neighbours
        self.trusted = _nets(trusted)
        self._seen_version = neighbours.version if neighbours is not None else 0
        self._known: dict[str, ClientState | None] = {}

    def refresh(self) -> bool:
        """Forget every identity when the neighbour table changed (addresses may belong to
        other devices now); True if it did. Buckets restart full: one extra burst at most."""
        nb = self.neighbours
        if nb is not None and nb.version != self._seen_version:
            self._seen_version = nb.version
            self._known.clear()
            return True
        return False

    def client(self, ip: str, now: float) -> ClientState | None:
        """The client's state, or None when it may not use this resolver."""
        nb = self.neighbours
        if nb is not None and nb.version != self._seen_version:
            self.refresh()
        if ip in self._known:
            return self._known[ip]
        try:
            addr = _address(ip)
        except ValueError:
            return None
        state: ClientState | None = None
        if any(addr in n for n in self.allowed if n.version == addr.version):
            mac = nb.mac_of(str(addr)) if nb is not None else None
            profile = self._profile(addr, mac)
            limited = self.rate > 0 and not any(addr in n for n in self.exempt if n.version == addr.version)
            state = ClientState(ip, profile, TokenBucket(self.rate, self.burst, now) if limited else None,
                                mac or str(addr), mac)
        if len(self._known) >= self.max_clients:
            self._known.clear()
        self._known[ip] = state
        return state

    def is_trusted(self, ip: str) -> bool:
        """A forwarder (e.g. the router's dnsmasq) allowed to name the client behind it."""
        if not self.trusted:
            return False
        try:
            addr = _address(ip)
        except ValueError:
            return False
        return any(addr in n for n in self.trusted if n.version == addr.version)

    def behind(self, forwarder: ClientState, mac: str | None, ip: str | None) -> ClientState:
        """The client a trusted forwarder names (EDNS MAC option or ECS /32): its profile, with
        the forwarder's rate limit (the forwarder is what sends the packets)."""
        addr = None
        if ip is not None:
            try:
                addr = _address(ip)
            except ValueError:
                addr = None
        if mac is None and addr is None:
            return forwarder
        if mac is None and addr is not None and self.neighbours is not None:
            # ECS /32 only: the forwarder is on this router (dnsmasq --add-subnet), whose
            # neighbour table knows the client's MAC, so the device keeps its MAC profile
            mac = self.neighbours.mac_of(str(addr))
        profile = self._profile(addr, mac)
        return ClientState(forwarder.ip, profile, forwarder.bucket, mac or str(addr), mac)

    def _profile(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None, mac: str | None) -> str:
        if mac is not None:
            p = self.macs.get(mac)
            if p is not None:
                return p
        if addr is None:
            return self.default_profile
        return next((d.profile for d in self.devices
                     if d.network.version == addr.version and addr in d.network), self.default_profile)
