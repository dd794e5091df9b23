"""MAC addresses: normal form, the randomised (locally administered) flag, the vendor from a
small bundled OUI table, and the client hints a trusted forwarder puts in EDNS options.

Pure: the OUI table is package data read once on first use, like a constant."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from dataclasses import dataclass
from importlib import resources

from dnsfilter.core.dns.wire import OPT_ECS

OPT_DNSMASQ_MAC = 65001  # dnsmasq --add-mac: the requestor's MAC, 6 raw bytes
# dnsmasq --add-mac=base64 and --add-mac=text use Nominum's device-id option instead (seen on
# the wire from dnsmasq 2.90: 8 base64 characters, or "aa:bb:cc:dd:ee:ff")
OPT_NOMINUM_DEVICE = 65073

_HEX12 = re.compile(r"[0-9a-f]{12}")
_SEPARATED = re.compile(r"[0-9a-f]{1,2}([:-])[0-9a-f]{1,2}(\1[0-9a-f]{1,2}){4}")
_DOTTED = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")
_OPT_HEADER = struct.Struct(">HH")


def normalise_mac(text: str) -> str:
    """`aa:bb:cc:dd:ee:ff` from `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`, `aabbccddeeff` or
    `a:b:c:d:e:f` (glibc's ether_ntoa, which odhcpd writes, drops leading zeros).
    Raises ValueError for anything else."""
    s = text.strip().lower()
    if _HEX12.fullmatch(s):
        digits = s
    elif _DOTTED.fullmatch(s):
        digits = s.replace(".", "")
    elif _SEPARATED.fullmatch(s):
        digits = "".join(part.zfill(2) for part in re.split("[:-]", s))
    else:
        raise ValueError(f"not a MAC address: {text!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def mac_from_bytes(raw: bytes) -> str:
    if len(raw) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(raw)}")
    return ":".join(f"{b:02x}" for b in raw)


def is_random(mac: str) -> bool:
    """True for a locally administered address (bit 1 of the first octet): phones and laptops
    use these as per-network private addresses, so the MAC says little about the device."""
    return bool(int(mac[:2], 16) & 0x02)


def is_multicast(mac: str) -> bool:
    return bool(int(mac[:2], 16) & 0x01)


@dataclass(frozen=True, slots=True)
class OuiTable:
    vendors: dict[str, str]  # "aabbcc" -> vendor name

    @classmethod
    def parse(cls, text: str) -> OuiTable:
        """Lines of `AABBCC<whitespace>Vendor name`; `#` starts a comment. Bad lines are
        skipped: the table only decorates the device list."""
        vendors: dict[str, str] = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split(None, 1)
            prefix = fields[0].replace(":", "").replace("-", "").lower()
            if len(fields) == 2 and len(prefix) == 6 and all(c in "0123456789abcdef" for c in prefix):
                vendors[prefix] = fields[1].strip()
        return cls(vendors)

    def vendor(self, mac: str) -> str | None:
        """The vendor of a normalised MAC; None when unknown or randomised (a private address
        has no vendor, whatever its first bytes happen to be)."""
        if is_random(mac) or is_multicast(mac):
            return None
        return self.vendors.get(mac[:8].replace(":", ""))


_table: OuiTable | None = None


def oui_table() -> OuiTable:
    global _table
    if _table is None:
        text = (resources.files("dnsfilter") / "data" / "oui.txt").read_text(encoding="utf-8")
        _table = OuiTable.parse(text)
    return _table


def vendor(mac: str) -> str | None:
    """Vendor of a MAC address (any accepted spelling) from the bundled table, or None."""
    try:
        return oui_table().vendor(normalise_mac(mac))
    except ValueError:
        return None


def _iter_options(options: bytes) -> list[tuple[int, bytes]]:
    """The (code, data) pairs of OPT RDATA; stops at the first truncated option."""
    out = []
    off, n = 0, len(options)
    while off + 4 <= n:
        code, length = _OPT_HEADER.unpack_from(options, off)
        if off + 4 + length > n:
            break
        out.append((code, options[off + 4 : off + 4 + length]))
        off += 4 + length
    return out


def _dnsmasq_mac(data: bytes) -> str | None:
    """dnsmasq --add-mac sends 6 raw bytes (option 65001); --add-mac=base64 and --add-mac=text
    send text (option 65073). Either form is read from either option."""
    try:
        if len(data) == 6:
            return mac_from_bytes(data)
        text = data.decode("ascii")
        if len(text) == 8:
            return mac_from_bytes(base64.b64decode(text, validate=True))
        return normalise_mac(text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None


def _ecs_address(data: bytes) -> str | None:
    """The address of an ECS option (RFC 7871) only when it names one host (/32 or /128)."""
    if len(data) < 4:
        return None
    family, source, _scope = struct.unpack_from(">HBB", data)
    addr = data[4:]
    if family == 1 and source == 32 and len(addr) == 4:
        return str(ipaddress.IPv4Address(addr))
    if family == 2 and source == 128 and len(addr) == 16:
        return str(ipaddress.IPv6Address(addr))
    return None


def client_hints(opt_rdata: bytes) -> tuple[str | None, str | None]:
    """(MAC, address) of the device behind a forwarder, from the OPT record's options (a
    parsed Query's `q.edns.options`): dnsmasq's add-mac option and an ECS option for a
    single host. Either is None when absent or malformed. Only call this for trusted
    forwarders: anyone can put these options in a query."""
    mac = addr = None
    for code, data in _iter_options(opt_rdata):
        if code in (OPT_DNSMASQ_MAC, OPT_NOMINUM_DEVICE) and mac is None:
            mac = _dnsmasq_mac(data)
        elif code == OPT_ECS and addr is None:
            addr = _ecs_address(data)
    return mac, addr
