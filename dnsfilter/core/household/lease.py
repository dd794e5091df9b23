"""One DHCP lease, as every lease file parser (leases.py, leases_isc.py) returns it, and the
clean-up of the values they read."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_HOSTNAME = 253


@dataclass(frozen=True, slots=True)
class Lease:
    mac: str | None  # normalised; for DHCPv6, the MAC inside a link-layer DUID when there is one
    ips: tuple[str, ...]  # canonical text
    hostname: str | None
    expires: float | None  # Unix time; None when infinite or not recorded
    duid: str | None  # DHCPv6 client DUID as colon-separated hex


def canonical_ip(text: str) -> str:
    """Canonical text of an address (raises ValueError)."""
    return str(ipaddress.ip_address(text))


def clean_hostname(text: str) -> str | None:
    """A hostname as recorded, or None for the servers' "no name" markers and for text that
    could not be shown safely (control characters, absurd length)."""
    if text in ("", "*", "-") or len(text) > MAX_HOSTNAME or not text.isprintable():
        return None
    return text
