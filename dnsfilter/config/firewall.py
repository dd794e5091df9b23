"""`[firewall]`: forced DNS on a router (`dnsfilter firewall`, docs/forced-dns.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dnsfilter.config.values import N_, ConfigError, Section, check_ifname
from dnsfilter.config.values import networks as _networks

if TYPE_CHECKING:
    from dnsfilter.config.resolver import Dns

# Well-known public DoH resolvers: LAN clients talking HTTPS to them bypass the filter.
DOH_RESOLVERS = (
    "1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001",  # Cloudflare
    "8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844",  # Google
    "9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9",  # Quad9
    "94.140.14.14", "94.140.15.15", "2a10:50c0::ad1:ff", "2a10:50c0::ad2:ff",  # AdGuard
    "208.67.222.222", "208.67.220.220", "2620:119:35::35", "2620:119:53::53",  # OpenDNS
    "45.90.28.0/24", "45.90.30.0/24",  # NextDNS
)


@dataclass(frozen=True, slots=True)
class Firewall:
    """Forced DNS on a router (`dnsfilter firewall`): what LAN clients may not bypass."""
    interfaces: tuple[str, ...] = ("br-lan",)
    port: int = 0  # where port-53 traffic is redirected; 0: the port of dns.listen[0]
    block_dot: bool = True  # TCP and UDP 853 (RFC 7858, RFC 8094)
    block_doq: bool = True  # UDP 853 (RFC 9250)
    doh_addresses: tuple[str, ...] = DOH_RESOLVERS
    doh_list: str = ""  # file with one address or network a line, added to doh_addresses
    doh_feed: str = ""  # URL (or path) of such a list, fetched every doh_refresh seconds (docs/forced-dns.md)
    doh_refresh: int = 21600

    def redirect_port(self, dns: Dns) -> int:
        return self.port or dns.listen[0].port


def parse_firewall(s: Section) -> Firewall:
    base = Firewall()
    ifaces = s.strings("interfaces", base.interfaces)
    if not ifaces:
        raise ConfigError(s.key("interfaces"), N_("needs at least one LAN interface"))
    for i, name in enumerate(ifaces):
        check_ifname(name, f"{s.key('interfaces')}[{i}]")
    fw = Firewall(
        interfaces=ifaces,
        port=s.int_in("port", base.port, 0, 65535),
        block_dot=s.get("block_dot", bool, base.block_dot),
        block_doq=s.get("block_doq", bool, base.block_doq),
        doh_addresses=_networks(s.strings("doh_addresses", base.doh_addresses), s.key("doh_addresses")),
        doh_list=s.get("doh_list", str, base.doh_list),
        doh_feed=s.get("doh_feed", str, base.doh_feed),
        doh_refresh=s.int_in("doh_refresh", base.doh_refresh, 5, 7 * 86400),
    )
    s.done()
    return fw
