"""What a feed's compile tells its admin beyond the counts: the warnings `feeds sync`, `feeds
status` and the daemon's log show, for rules that cannot do what their author meant."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from feeds.table import FeedStats

NOT_APPLIED = "$dnsrewrite, $ctag, $client by name, IP-address rules, hosts lines with a real address"


def warnings(stats: FeedStats, allowed_clients: Iterable[str]) -> list[str]:
    """One line per problem, in plain words (they are shown as they are)."""
    out = []
    if stats.badfilter_unused:
        one = stats.badfilter_unused == 1
        out.append(f"{_n(stats.badfilter_unused, '$badfilter rule')} {'disables' if one else 'disable'} nothing: "
                   f"this feed holds no rule {'it names' if one else 'they name'} "
                   f"(line {_lines(stats.first_badfilter_unused_lines)})")
    if stats.client_nets and not _any_can_ask(stats.client_nets, allowed_clients):
        out.append(f"every rule of this feed is for clients that never ask: {', '.join(stats.client_nets[:5])}"
                   f"{' …' if len(stats.client_nets) > 5 else ''} lie outside dns.allowed_clients, so the feed "
                   "blocks nothing")
    if stats.not_applied:
        out.append(f"{_n(stats.not_applied, 'rule')} {'uses' if stats.not_applied == 1 else 'use'} AdGuard DNS "
                   f"features dnsfilter does not apply ({NOT_APPLIED}): skipped")
    return out


def _any_can_ask(nets: Iterable[str], allowed: Iterable[str]) -> bool:
    ok = [ipaddress.ip_network(a, strict=False) for a in allowed]
    for text in nets:
        net = ipaddress.ip_network(text, strict=False)
        if any(a.version == net.version and a.overlaps(net) for a in ok):  # type: ignore[arg-type]
            return True
    return False


def _n(count: int, what: str) -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def _lines(lines: list[int]) -> str:
    return ", ".join(map(str, lines[:5])) + (" …" if len(lines) > 5 else "")
