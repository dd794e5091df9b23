"""DHCP lease files → who a device is (MAC, addresses, hostname). Pure: text in, leases out.

Formats, as their servers write them:
- dnsmasq (OpenWrt `/tmp/dhcp.leases`): `EXPIRY MAC IP HOSTNAME CLIENTID` per DHCPv4 lease
  (`*` for none; a non-Ethernet MAC is prefixed by its type, `06-...`); then, with DHCPv6, a
  `duid SERVER-DUID` line followed by `EXPIRY [T]IAID IPV6 HOSTNAME CLIENT-DUID` lines.
- odhcpd state file and hosts files (OpenWrt `/tmp/hosts/odhcpd*`, `/tmp/odhcpd.leases`):
  `# IFACE DUID IAID HOSTNAME VALID_UNTIL ASSIGNED LENGTH ADDR/PLEN...` (DHCPv6) and
  `# IFACE MAC ipv4 HOSTNAME VALID_UNTIL HEXADDR 32 ADDR/32` (DHCPv4); hosts lines
  `ADDR<TAB>FQDN<TAB>NAME` or `ADDR<TAB>NAME`. VALID_UNTIL -1 means infinite.
- ISC dhcpd `dhcpd.leases` (see leases_isc.py).

A line that cannot be read is skipped and counted, never raised: a lease file is written by
another program, possibly while we read it.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass

from dnsfilter.core.household.lease import Lease, canonical_ip, clean_hostname
from dnsfilter.core.household.leases_isc import parse_isc
from dnsfilter.core.household.macaddr import mac_from_bytes, normalise_mac

FORMATS = ("dnsmasq", "odhcpd", "isc")
MAX_PROBLEMS = 5  # skipped lines quoted for the log; the rest are only counted


@dataclass(frozen=True, slots=True)
class LeaseParse:
    fmt: str  # one of FORMATS, or "unknown" when auto-detection found nothing it knows
    leases: tuple[Lease, ...]
    skipped: int  # lines (or ISC blocks) that could not be read
    problems: tuple[str, ...]  # the first few of them, "line N: why", for a log line


class _Problems:
    def __init__(self) -> None:
        self.count = 0
        self.samples: list[str] = []

    def add(self, lineno: int, why: str) -> None:
        self.count += 1
        if len(self.samples) < MAX_PROBLEMS:
            self.samples.append(f"line {lineno}: {why}")


def duid_hex(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def mac_of_duid(raw: bytes) -> str | None:
    """The Ethernet address inside a DUID-LLT (type 1) or DUID-LL (type 3), else None.
    For DUID-LLT it is the address of some interface of the device when the DUID was made:
    good enough to find a hostname, not proof of identity."""
    if len(raw) >= 4 and raw[2:4] == b"\x00\x01":  # hardware type 1: Ethernet
        if raw[:2] == b"\x00\x01" and len(raw) == 14:
            return mac_from_bytes(raw[8:14])
        if raw[:2] == b"\x00\x03" and len(raw) == 10:
            return mac_from_bytes(raw[4:10])
    return None


def _duid_from_text(text: str) -> bytes:
    """DUID bytes from `00:01:...` (dnsmasq) or `000100...` (odhcpd). Raises ValueError."""
    raw = bytes.fromhex(text.replace(":", ""))
    if not raw:
        raise ValueError("empty DUID")
    return raw


def _expiry(text: str, infinite: str) -> float | None:
    value = int(text)
    if text == infinite:
        return None
    if value < 0:
        raise ValueError(f"negative expiry {text}")
    return float(value)


# ------------------------------------------------------------------ dnsmasq


def _dnsmasq_v4(fields: list[str]) -> Lease:
    expiry, hw, ip, host = fields[0], fields[1], fields[2], fields[3]
    mac = None
    # "06-aa:bb:..." marks a non-Ethernet hardware type: keep the lease, not the address
    if len(hw) < 3 or hw[2] != "-" or hw.count("-") != 1:
        mac = normalise_mac(hw)
    addr = ipaddress.ip_address(ip)
    if addr.version != 4:
        raise ValueError("DHCPv4 lease with an IPv6 address")
    return Lease(mac, (str(addr),), clean_hostname(host), _expiry(expiry, "0"), None)


def _dnsmasq_v6(fields: list[str]) -> Lease:
    expiry, iaid, ip, host = fields[0], fields[1], fields[2], fields[3]
    if not iaid.removeprefix("T").isdigit():  # T marks a temporary address
        raise ValueError(f"bad IAID {iaid!r}")
    addr = ipaddress.ip_address(ip)
    if addr.version != 6:
        raise ValueError("DHCPv6 lease with an IPv4 address")
    duid = mac = None
    if len(fields) > 4 and fields[4] != "*":
        raw = _duid_from_text(fields[4])
        duid, mac = duid_hex(raw), mac_of_duid(raw)
    return Lease(mac, (str(addr),), clean_hostname(host), _expiry(expiry, "0"), duid)


def parse_dnsmasq(text: str) -> tuple[list[Lease], _Problems]:
    leases: list[Lease] = []
    problems = _Problems()
    in_v6 = False
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "duid":  # the server's DUID: DHCPv6 leases follow
            in_v6 = True
            continue
        if len(fields) not in (4, 5):
            problems.add(lineno, f"{len(fields)} fields, expected 5")
            continue
        try:
            leases.append(_dnsmasq_v6(fields) if in_v6 or ":" in fields[2] else _dnsmasq_v4(fields))
        except ValueError as e:
            problems.add(lineno, str(e))
    return leases, problems


# ------------------------------------------------------------------ odhcpd


def _odhcpd_hostname(text: str) -> str | None:
    # odhcpd marks a name that is not a valid DNS name with a literal "broken\x20" prefix;
    # the rest is still the name the device sent, worth showing.
    return clean_hostname(text.removeprefix("broken\\x20"))


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _odhcpd_state(fields: list[str]) -> Lease:
    # fields after "#": iface, duid|mac, iaid|"ipv4", hostname, valid_until, assigned, length,
    # addr/plen... The hostname of a "broken" name may hold spaces, so the fields after it
    # are counted from the end: the addresses are the trailing fields holding a "/".
    first_addr = len(fields)
    while first_addr > 0 and "/" in fields[first_addr - 1]:
        first_addr -= 1
    if first_addr < 7:
        raise ValueError("too few fields before the addresses")
    _iface, ident, iaid = fields[:3]
    host = " ".join(fields[3 : first_addr - 3])
    valid, assigned, length = fields[first_addr - 3 : first_addr]
    if not (_is_hex(assigned) and length.isdigit()):
        raise ValueError(f"bad assignment fields {assigned!r} {length!r}")
    ips = tuple(canonical_ip(a.split("/", 1)[0]) for a in fields[first_addr:])
    expires = _expiry(valid, "-1")
    if iaid == "ipv4":
        return Lease(normalise_mac(ident), ips, _odhcpd_hostname(host), expires, None)
    if not _is_hex(iaid):
        raise ValueError(f"bad IAID {iaid!r}")
    raw = _duid_from_text(ident)
    return Lease(mac_of_duid(raw), ips, _odhcpd_hostname(host), expires, duid_hex(raw))


def parse_odhcpd(text: str) -> tuple[list[Lease], _Problems]:
    leases: list[Lease] = []
    problems = _Problems()
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            if fields[0] == "#":
                if len(fields) < 8:
                    if len(fields) > 1:  # a stray comment in a hosts file is not a lease line
                        problems.add(lineno, f"{len(fields) - 1} fields, expected at least 7")
                    continue
                leases.append(_odhcpd_state(fields[1:]))
            elif fields[0].startswith("#"):
                continue
            elif len(fields) in (2, 3):  # hosts line: ADDR [FQDN] NAME
                leases.append(Lease(None, (canonical_ip(fields[0]),), clean_hostname(fields[-1]), None, None))
            else:
                problems.add(lineno, f"{len(fields)} fields in a hosts line")
        except ValueError as e:
            problems.add(lineno, str(e))
    return leases, problems


# ------------------------------------------------------------------ detection and entry point


def _looks_dnsmasq(fields: list[str]) -> bool:
    if fields[0] == "duid" and len(fields) == 2:
        return True
    return len(fields) in (4, 5) and fields[0].isdigit() and (":" in fields[1] or fields[1].lstrip("T").isdigit())


def _looks_odhcpd(fields: list[str]) -> bool:
    if fields[0] == "#":
        return len(fields) >= 8 and fields[5].lstrip("-").isdigit()
    if len(fields) in (2, 3):
        try:
            canonical_ip(fields[0])
        except ValueError:
            return False
        return True
    return False


def detect_format(text: str) -> str | None:
    """The format of a lease file from its first lines, or None when nothing is recognised
    (an empty file included)."""
    votes = {"dnsmasq": 0, "odhcpd": 0}
    seen = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        fields = stripped.split()
        if (fields[0] == "lease" and stripped.endswith("{")) or fields[0] in ("server-duid", "authoring-byte-order"):
            return "isc"
        if _looks_odhcpd(fields):
            votes["odhcpd"] += 1
        elif _looks_dnsmasq(fields):
            votes["dnsmasq"] += 1
        seen += 1
        if seen >= 20:
            break
    best = max(votes, key=lambda k: votes[k])
    return best if votes[best] else None


def parse_leases(text: str, fmt: str = "auto") -> LeaseParse:
    """Leases of a lease file in `fmt` (one of FORMATS, or "auto"). Raises ValueError only
    for an unknown `fmt` name; unreadable lines are counted in `skipped`."""
    if fmt == "auto":
        found = detect_format(text)
        if found is None:
            lines = sum(1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
            why = ("format not recognised",) if lines else ()
            return LeaseParse("unknown", (), lines, why)
        fmt = found
    if fmt == "dnsmasq":
        leases, problems = parse_dnsmasq(text)
    elif fmt == "odhcpd":
        leases, problems = parse_odhcpd(text)
    elif fmt == "isc":
        leases, count, samples = parse_isc(text)
        return LeaseParse(fmt, tuple(leases), count, tuple(samples[:MAX_PROBLEMS]))
    else:
        raise ValueError(f"unknown lease file format {fmt!r} (expected auto or one of {', '.join(FORMATS)})")
    return LeaseParse(fmt, tuple(leases), problems.count, tuple(problems.samples))


# ------------------------------------------------------------------ lookups


def _rank(lease: Lease) -> tuple[bool, float]:
    # a lease with a name beats one without; then the one that lasts longest
    return lease.hostname is not None, math.inf if lease.expires is None else lease.expires


@dataclass(frozen=True, slots=True)
class LeaseIndex:
    """Leases of one or more files, indexed for the lookups the daemon makes."""

    by_mac: dict[str, Lease]
    by_ip: dict[str, Lease]
    macs_by_ip: dict[str, tuple[str, ...]]  # most recent lease first

    @classmethod
    def build(cls, leases: Iterable[Lease], now: float | None = None) -> LeaseIndex:
        """Index `leases`, leaving out those that expired before `now` (when given)."""
        by_mac: dict[str, Lease] = {}
        by_ip: dict[str, Lease] = {}
        macs: dict[str, list[Lease]] = {}
        for lease in leases:
            if now is not None and lease.expires is not None and lease.expires < now:
                continue
            if lease.mac is not None:
                old = by_mac.get(lease.mac)
                if old is None or _rank(lease) >= _rank(old):
                    by_mac[lease.mac] = lease
            for ip in lease.ips:
                old = by_ip.get(ip)
                if old is None or _rank(lease) >= _rank(old):
                    by_ip[ip] = lease
                if lease.mac is not None:
                    macs.setdefault(ip, []).append(lease)
        macs_by_ip = {}
        for ip, found in macs.items():
            found.sort(key=lambda le: math.inf if le.expires is None else le.expires, reverse=True)
            macs_by_ip[ip] = tuple(dict.fromkeys(le.mac for le in found if le.mac is not None))
        return cls(by_mac, by_ip, macs_by_ip)

    def hostname_of(self, mac: str | None = None, ip: str | None = None) -> str | None:
        """The hostname of a device by its MAC, else by its address."""
        if mac is not None and (lease := self.by_mac.get(mac)) is not None and lease.hostname:
            return lease.hostname
        if ip is not None and (lease := self.by_ip.get(ip)) is not None:
            return lease.hostname
        return None

    def macs_of_ip(self, ip: str) -> tuple[str, ...]:
        return self.macs_by_ip.get(ip, ())


EMPTY_INDEX = LeaseIndex({}, {}, {})
