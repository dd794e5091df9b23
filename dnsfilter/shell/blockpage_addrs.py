"""Where the block page is, per interface: the portal's addresses (`[portal] listen`, as bound
or as `lan:80` resolves now) matched with the DNS listeners' addresses by the interface that
holds them, and the interfaces' networks for queries that come through a wildcard listener or a
local forwarder. Recomputed by the daemon at start, on a reload and whenever a LAN address
comes or goes, in every worker (each answers DNS; only worker 0 serves the page).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from dnsfilter.config import Config
from dnsfilter.core.dns.blockpage import BlockPage, Pair
from dnsfilter.shell.lan.interfaces import IfAddr, listeners_for, read_addresses

log = logging.getLogger("dnsfilter.portal")


async def interface_addresses() -> list[IfAddr]:
    """The host's addresses with their interfaces; none without netlink (the portal's own
    addresses are used as they are then)."""
    try:
        from dnsfilter.shell.lan.netlink import RtNetlink

        nl = RtNetlink()
        try:
            return await read_addresses(nl)
        finally:
            nl.close()
    except Exception as e:
        log.debug("block page: interface addresses unavailable: %s", e)
        return []


def plan(cfg: Config, dns_hosts: Iterable[str], addrs: list[IfAddr]) -> BlockPage | None:
    """The block page's answers for this config, DNS listeners and interface addresses."""
    profiles = [p.name for p in cfg.profiles if p.block_page]
    if cfg.portal is None or not profiles:
        return None
    specs = [lst for lst in cfg.portal.listen if lst.interface]
    hosts = [lst.host for lst in cfg.portal.listen if not lst.interface]
    hosts += [lst.host for lst in listeners_for(specs, addrs)] if specs else []
    if_of = {a.address: a.ifname for a in addrs}
    by_if: dict[str, list[str | None]] = {}
    loose: list[str] = []  # portal addresses on no known interface (no netlink)
    for h in hosts:
        plain = h.partition("%")[0]
        ip = ipaddress.ip_address(plain)
        if ip.is_unspecified:  # the portal listens on every address of this family
            for a in addrs:
                if a.ip.version == ip.version:
                    _put(by_if, a.ifname, a.address)
            continue
        if plain in if_of:
            _put(by_if, if_of[plain], plain)
        else:
            loose.append(plain)
    pairs: dict[str, Pair] = {name: (v[0], v[1]) for name, v in by_if.items()}
    by_local: dict[str, Pair] = {}
    for h in dns_hosts:
        plain = h.partition("%")[0]
        if plain in if_of and if_of[plain] in pairs:
            by_local[plain] = pairs[if_of[plain]]
    for h in loose:  # without interfaces: a listener at the portal's own address answers with it
        pair = (h, None) if ":" not in h else (None, h)
        by_local.setdefault(h, pair)
    nets = [(f"{a.ip}/{a.prefixlen}", pairs[a.ifname]) for a in addrs
            if a.ifname in pairs and a.prefixlen and not (a.ip.version == 6 and a.ip.is_link_local)]
    return BlockPage(profiles, by_local, nets, cfg.dns.block_ttl)


def _put(by_if: dict[str, list[str | None]], ifname: str, address: str) -> None:
    """Keep one IPv4 and one IPv6 address per interface (not link-local: an answer cannot carry
    its zone); the first of each family wins."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.is_link_local:
        return
    slot = by_if.setdefault(ifname, [None, None])
    i = 0 if ip.version == 4 else 1
    if slot[i] is None:
        slot[i] = address
